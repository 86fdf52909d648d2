/**
 * Property test of renderTerm against the real runtimes: render_terms.exs
 * (run by `elixir --erl "+pc unicode"`, calling the compiled gen_terms.erl)
 * writes thousands of random and hand-picked terms, each as
 * `term_to_binary(T)` plus `io_lib:format("~0tp", [T])` and
 * `inspect(T, limit: :infinity, printable_limit: :infinity, width: :infinity)`,
 * and every one must decode and render to exactly those texts:
 * renderTerm(T) (Erlang syntax) and renderTerm(T, ∞, { syntax: 'elixir' }).
 *
 * `width: :infinity` is inspect's one-line form (the default width, 80,
 * breaks long terms over lines; renderTerm never does). Two things the
 * encoding cannot carry are compared in our documented form instead:
 * - pids, ports and refs of another node: the runtime prints a per-node
 *   index (`<5586.98.0>`), renderTerm the node's name (`<cli@host.98.0>`);
 *   such terms must agree once both are replaced by a placeholder, so our
 *   text has the node name exactly where the runtime has a non-zero index;
 * - local funs in Elixir syntax: inspect adds the defining function's name
 *   (`#Function<0.123/1 in :gen_terms.local_fun/1>`), which the ETF lacks;
 *   the expected text is compared with that `.name/arity` part removed.
 *
 * Deliberately fails (does not skip) when `erl`/`erlc`/`elixir` are missing:
 * in CI the BEAM tests must run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeTerm } from '../../src/beam/etf.js';
import { pidText, renderTerm, type RenderOptions } from '../../src/beam/render.js';
import { IDENT_RANGES } from '../../src/beam/render_elixir.js';
import { ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term } from '../../src/beam/terms.js';

const SEEDS = [7, 20240607];
const RANDOM_TERMS = 2500;
const TIMEOUT_MS = 60_000;
const LOCAL = 'nonode@nohost';
/** The other nodes render_terms.exs makes pids, ports and refs of. */
const REMOTE_NODES = ['cli@host', 'other@10.0.0.7'];

/** test/beam/etf/<name>, found from either the source or the compiled (build/) location. */
function etfFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'test', 'beam', 'etf', name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find test/beam/etf/${name} above ${fileURLToPath(import.meta.url)}`);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      assert.fail(`\`${cmd}\` is not installed or not on PATH: the rendering tests need Erlang/OTP (erl, erlc) and Elixir and must not be skipped`);
    }
    assert.fail(`${cmd} ${args.join(' ')} failed: ${r.error.message}`);
  }
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

interface Sample {
  index: number;
  encoded: Uint8Array;
  erlang: string;
  elixir: string;
}

function readSamples(file: string): Sample[] {
  const data = readFileSync(file);
  const out: Sample[] = [];
  let pos = 0;
  const field = (): Buffer => {
    assert.ok(pos + 4 <= data.length, `record ${out.length}: truncated`);
    const len = data.readUInt32BE(pos);
    const b = data.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
    assert.ok(pos <= data.length, `record ${out.length}: runs past the end of the file`);
    return b;
  };
  while (pos < data.length) {
    const encoded = new Uint8Array(field());
    out.push({ index: out.length, encoded, erlang: field().toString('utf8'), elixir: field().toString('utf8') });
  }
  return out;
}

/** Visits every subterm (iteratively: gen_terms nests 100 deep). */
function some(t: Term, pred: (t: Term) => boolean): boolean {
  const stack: Term[] = [t];
  while (stack.length > 0) {
    const x = stack.pop() as Term;
    if (pred(x)) return true;
    if (Array.isArray(x)) stack.push(...x);
    else if (x instanceof ErlTuple) stack.push(...x.elements);
    else if (x instanceof ErlImproperList) stack.push(...x.elements, x.tail);
    else if (x instanceof ErlMap) for (const [k, v] of x.entries) stack.push(k, v);
  }
  return false;
}

const isRemote = (x: Term): boolean => (x instanceof ErlPid || x instanceof ErlPort || x instanceof ErlRef) && x.node !== LOCAL;

/** The runtime's remote identifiers (a non-zero node index) and ours (a node name) both become `<R.`. */
function theirsNormalized(text: string): string {
  return text.replace(/(#Ref|#Port|#PID|#Reference|[[{,|( ]|^)<[1-9]\d*\.(?=\d)/g, '$1<R.');
}

function oursNormalized(text: string): string {
  for (const node of REMOTE_NODES) text = text.split(`<${node}.`).join('<R.');
  return text;
}

/** inspect's `#Function<I.U/A in Mod.fun/arity>` without the name the ETF does not carry. */
function withoutFunNames(text: string): string {
  return text.replace(/#Function<(\d+\.\d+\/\d+) in (:gen_terms|RenderTerms\.Gen)\.[^>]*>/g, '#Function<$1 in $2>');
}

function clip(s: string, max = 300): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length} chars)`;
}

function firstDifference(expected: string, actual: string): string {
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  const from = Math.max(0, i - 40);
  return `at char ${i}: expected …${JSON.stringify(expected.slice(from, i + 40))}… actual …${JSON.stringify(actual.slice(from, i + 40))}…`;
}

function attempt(f: () => string): string {
  try {
    return f();
  } catch (error) {
    return `<threw ${(error as Error)?.name}: ${(error as Error)?.message}>`;
  }
}

test('renderTerm agrees with io_lib ~0tp (erl +pc unicode) and Elixir inspect/2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'render-prop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  run('erlc', ['-o', dir, etfFile('gen_terms.erl')]);

  await t.test("the identifier table matches the installed Elixir's tokenizer", () => {
    const table = run('elixir', [etfFile('ident_ranges.exs')]).trim();
    assert.equal(IDENT_RANGES, table, 'regenerate IDENT_RANGES in src/beam/render_elixir.ts with test/beam/etf/ident_ranges.exs');
  });

  const counts = { total: 0, remote: 0, localFuns: 0, erlangText: 0, elixirText: 0, charlists: 0, structs: 0 };
  for (const seed of SEEDS) {
    await t.test(`seed ${seed}`, () => {
      const out = join(dir, `terms-${seed}.bin`);
      const stdout = run('elixir', ['--erl', '+pc unicode', '-pa', dir, etfFile('render_terms.exs'), String(seed), String(RANDOM_TERMS), out]);
      const summary = /version=(\d+)\.(\d+)\S* records=(\d+)/.exec(stdout);
      assert.ok(summary, `render_terms.exs printed no summary: ${stdout}`);
      const samples = readSamples(out);
      assert.equal(samples.length, Number(summary[3]), 'records read vs records written');
      // Elixir 1.15 writes charlists as ~c"…", earlier versions as '…'.
      const sigil = Number(summary[1]) > 1 || Number(summary[2]) >= 15;
      const erlOpts: RenderOptions = { localNode: LOCAL };
      const exOpts: RenderOptions = { syntax: 'elixir', localNode: LOCAL, elixirCharlists: sigil ? 'sigil' : 'quotes' };

      const failures = new Map<string, string>();
      let failed = 0;
      const fail = (s: Sample, syntax: string, expected: string, actual: string): void => {
        failed++;
        const key = `${syntax}:${expected}`;
        if (failures.size < 12 && !failures.has(key)) {
          failures.set(key, `#${s.index} (${syntax})\n  expected: ${clip(expected)}\n  actual:   ${clip(actual)}\n  ${firstDifference(expected, actual)}`);
        }
      };
      for (const s of samples) {
        let term: Term;
        try {
          term = decodeTerm(s.encoded);
        } catch (error) {
          fail(s, 'decode', s.erlang, `<threw ${(error as Error).message}>`);
          continue;
        }
        const erl = attempt(() => renderTerm(term, undefined, erlOpts));
        const ex = attempt(() => renderTerm(term, undefined, exOpts));
        const expectedEx = withoutFunNames(s.elixir);
        if (expectedEx !== s.elixir) counts.localFuns++;
        if (s.erlang.includes('<<"')) counts.erlangText++;
        if (/(^|[[{ ])"/.test(s.elixir)) counts.elixirText++;
        if (/(^|[[{ ])(~c"|')/.test(s.elixir)) counts.charlists++;
        if (/%[A-Z]/.test(s.elixir)) counts.structs++;
        if (some(term, isRemote)) {
          counts.remote++;
          if (oursNormalized(erl) !== theirsNormalized(s.erlang)) fail(s, 'erlang, remote ids', theirsNormalized(s.erlang), oursNormalized(erl));
          if (oursNormalized(ex) !== theirsNormalized(expectedEx)) fail(s, 'elixir, remote ids', theirsNormalized(expectedEx), oursNormalized(ex));
          if (erl === renderTerm(term)) fail(s, 'erlang, remote ids unlike local ones', '(differs from all-local)', erl);
        } else {
          if (erl !== s.erlang) fail(s, 'erlang', s.erlang, erl);
          if (ex !== expectedEx) fail(s, 'elixir', expectedEx, ex);
          const plain = attempt(() => renderTerm(term));
          if (plain !== s.erlang) fail(s, 'erlang, no options', s.erlang, plain);
        }
      }
      counts.total += samples.length;
      assert.equal(failed, 0, `seed ${seed}: ${failed} renderings of ${samples.length} terms differ; first ${failures.size} distinct:\n${[...failures.values()].join('\n')}`);
    });
  }

  await t.test('coverage', () => {
    assert.ok(counts.total >= 5000, `only ${counts.total} terms checked`);
    assert.ok(counts.remote >= 200, `only ${counts.remote} terms with remote pids/ports/refs`);
    assert.ok(counts.localFuns >= 50, `only ${counts.localFuns} terms with local funs compared in Elixir syntax`);
    assert.ok(counts.erlangText >= 100 && counts.elixirText >= 100, `text binaries: ${counts.erlangText} erlang, ${counts.elixirText} elixir`);
    assert.ok(counts.charlists >= 20 && counts.structs >= 5, `charlists ${counts.charlists}, structs ${counts.structs}`);
    t.diagnostic(`checked ${JSON.stringify(counts)}`);
  });
});

test('remote pids, ports and refs carry their node name; local ones keep 0', () => {
  const remotePid = new ErlPid('cli@host', 98, 0, 1);
  const localPid = new ErlPid(LOCAL, 98, 0, 1);
  const port = new ErlPort('cli@host', 7, 1);
  const ref = new ErlRef('cli@host', 1, [3, 2, 1]);
  const term = new ErlTuple([remotePid, localPid, port, ref]);
  assert.equal(renderTerm(term, undefined, { localNode: LOCAL }), '{<cli@host.98.0>,<0.98.0>,#Port<cli@host.7>,#Ref<cli@host.1.2.3>}');
  assert.equal(
    renderTerm(term, undefined, { localNode: LOCAL, syntax: 'elixir' }),
    '{#PID<cli@host.98.0>, #PID<0.98.0>, #Port<cli@host.7>, #Reference<cli@host.1.2.3>}',
  );
  // No localNode: every identifier is local (the old behaviour).
  assert.equal(renderTerm(term), '{<0.98.0>,<0.98.0>,#Port<0.7>,#Ref<0.1.2.3>}');
  assert.equal(pidText(remotePid, LOCAL), '<cli@host.98.0>');
  assert.equal(pidText(localPid, LOCAL), '<0.98.0>');
  assert.equal(pidText(remotePid), '<0.98.0>');
  assert.equal(pidText(port, LOCAL), '#Port<cli@host.7>');
  assert.equal(pidText(new ErlPort(LOCAL, 7, 1), LOCAL), '#Port<0.7>');
});

test('local funs in Elixir syntax: #Function<Index.Uniq/Arity in Module>', () => {
  const fun = new ErlFun('Elixir.Shop.Cart', 1, 3, 3, 12345678, new ErlPid(LOCAL, 90, 0, 1), []);
  assert.equal(renderTerm(fun, undefined, { syntax: 'elixir' }), '#Function<3.12345678/1 in Shop.Cart>');
  assert.equal(renderTerm(new ErlFun('gen_terms', 0, 0, 0, 42, new ErlPid(LOCAL, 90, 0, 1), []), undefined, { syntax: 'elixir' }), '#Function<0.42/0 in :gen_terms>');
});
