/**
 * Property test of the ETF decoder against a real Erlang node: gen_terms.erl
 * writes thousands of random and hand-picked terms, each as
 * `term_to_binary(T, Opts)` plus `io_lib:format("~0tp", [T])` (on a node
 * started with `+pc unicode`), and every one must decode and render to
 * exactly the node's text.
 *
 * The expected text is `~0tp`, not `~w`, because that is what renderTerm now
 * writes (printable charlists and binaries as text, see src/beam/render.ts).
 * The decoder is held as strictly as before: `~0tp` prints every value in
 * full (no depth limit, one line), so any decoded difference — a wrong
 * integer, a charlist read as a binary, a lost bit, a misordered map — still
 * changes the text. Rendering itself is tested further, against Elixir too,
 * in test/beam/render_property.test.ts.
 *
 * Deliberately fails (does not skip) when `erl`/`erlc` are missing: in CI the
 * BEAM tests must run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeTerm, renderTerm } from '../../../src/beam/etf.js';

/** Must match options() in gen_terms.erl: record K is encoded with OPTIONS[K % 6]. */
const OPTIONS = [
  '[]',
  '[compressed]',
  '[{minor_version,0}]',
  '[{minor_version,1}]',
  '[{minor_version,2}]',
  '[{compressed,9},{minor_version,2}]',
];
const SEEDS = [1, 20240607];
const RANDOM_TERMS = 4000;
const ERL_TIMEOUT_MS = 60_000;

/** test/beam/etf/gen_terms.erl, found from either the source or the compiled (build/) location. */
function generatorSource(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'test', 'beam', 'etf', 'gen_terms.erl');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('cannot find test/beam/etf/gen_terms.erl above ' + fileURLToPath(import.meta.url));
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: ERL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      assert.fail(`\`${cmd}\` is not installed or not on PATH: the BEAM tests need Erlang/OTP (erl, erlc) and must not be skipped`);
    }
    assert.fail(`${cmd} ${args.join(' ')} failed: ${r.error.message}`);
  }
  if (r.status !== 0) {
    assert.fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout;
}

interface Record {
  index: number;
  encoded: Uint8Array;
  expected: string;
}

function readRecords(file: string): Record[] {
  const data = readFileSync(file);
  const out: Record[] = [];
  let pos = 0;
  while (pos < data.length) {
    assert.ok(pos + 4 <= data.length, `record ${out.length}: truncated length`);
    const encLen = data.readUInt32BE(pos);
    pos += 4;
    const encoded = new Uint8Array(data.subarray(pos, pos + encLen));
    pos += encLen;
    const expLen = data.readUInt32BE(pos);
    pos += 4;
    const expected = data.subarray(pos, pos + expLen).toString('utf8');
    pos += expLen;
    assert.ok(pos <= data.length, `record ${out.length}: runs past the end of the file`);
    out.push({ index: out.length, encoded, expected });
  }
  return out;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length} chars)`;
}

function hex(b: Uint8Array, max = 400): string {
  const h = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max)).toString('hex');
  return b.length <= max ? h : `${h}… (${b.length} bytes)`;
}

/** Where two renderings first differ, with some context: long terms are unreadable otherwise. */
function firstDifference(expected: string, actual: string): string {
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  const from = Math.max(0, i - 40);
  return `at char ${i}: expected …${JSON.stringify(expected.slice(from, i + 40))}… actual …${JSON.stringify(actual.slice(from, i + 40))}…`;
}

/** Tags right after the version byte that the records must include, so every encoder path is exercised. */
const REQUIRED_TOP_TAGS: Array<[number, string]> = [
  [80, 'compressed'], [97, 'SMALL_INTEGER_EXT'], [98, 'INTEGER_EXT'], [70, 'NEW_FLOAT_EXT'], [99, 'FLOAT_EXT'],
  [100, 'ATOM_EXT'], [118, 'ATOM_UTF8_EXT'], [119, 'SMALL_ATOM_UTF8_EXT'], [104, 'SMALL_TUPLE_EXT'],
  [105, 'LARGE_TUPLE_EXT'], [106, 'NIL_EXT'], [107, 'STRING_EXT'], [108, 'LIST_EXT'], [109, 'BINARY_EXT'],
  [77, 'BIT_BINARY_EXT'], [110, 'SMALL_BIG_EXT'], [111, 'LARGE_BIG_EXT'], [116, 'MAP_EXT'], [88, 'NEW_PID_EXT'],
  [89, 'NEW_PORT_EXT'], [90, 'NEWER_REFERENCE_EXT'], [112, 'NEW_FUN_EXT'], [113, 'EXPORT_EXT'],
];

test('decodeTerm + renderTerm agree with io_lib:format("~0tp") on random and edge-case terms', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'etf-prop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  run('erlc', ['-o', dir, generatorSource()]);

  let total = 0;
  const perOption = new Array<number>(OPTIONS.length).fill(0);
  const topTags = new Set<number>();

  for (const seed of SEEDS) {
    await t.test(`seed ${seed}`, () => {
      const out = join(dir, `terms-${seed}.bin`);
      const stdout = run('erl', ['+pc', 'unicode', '-noshell', '-pa', dir, '-run', 'gen_terms', 'main', String(seed), String(RANDOM_TERMS), out]);
      const records = readRecords(out);
      const summary = /records=(\d+)/.exec(stdout);
      assert.ok(summary, `gen_terms printed no summary: ${stdout}`);
      assert.equal(records.length, Number(summary[1]), 'records read vs records written');

      // Each edge case is written once per option: group failures by the expected text so
      // the report shows distinct terms, each with the options it failed under.
      const failures = new Map<string, { first: string; options: Set<string> }>();
      let failed = 0;
      for (const r of records) {
        const option = OPTIONS[r.index % OPTIONS.length];
        perOption[r.index % OPTIONS.length]++;
        topTags.add(r.encoded[1]);
        let actual: string;
        try {
          actual = renderTerm(decodeTerm(r.encoded));
        } catch (error) {
          const e = error as Error;
          actual = `<threw ${e?.name}: ${e?.message}>`;
        }
        if (actual !== r.expected) {
          failed++;
          const seen = failures.get(r.expected);
          if (seen) seen.options.add(option);
          else if (failures.size < 10) {
            failures.set(r.expected, {
              options: new Set([option]),
              first:
                `#${r.index}\n` +
                `  expected: ${clip(r.expected, 300)}\n` +
                `  actual:   ${clip(actual, 300)}\n` +
                `  ${firstDifference(r.expected, actual)}\n` +
                `  hex: ${hex(r.encoded)}`,
            });
          }
        }
      }
      total += records.length;
      const report = [...failures.values()].map((f) => `${f.first}\n  failed with opts: ${[...f.options].join(' ')}`);
      assert.equal(
        failed,
        0,
        `seed ${seed}: ${failed} of ${records.length} terms render differently; first ${report.length} distinct:\n${report.join('\n')}`,
      );
    });
  }

  await t.test('coverage: term count, encoder options, encodings', () => {
    assert.ok(total >= 3000, `only ${total} terms checked`);
    for (let i = 0; i < OPTIONS.length; i++) {
      assert.ok(perOption[i] >= 500, `encoder option ${OPTIONS[i]} covered by only ${perOption[i]} terms`);
    }
    const missing = REQUIRED_TOP_TAGS.filter(([tag]) => !topTags.has(tag)).map(([tag, name]) => `${name} (${tag})`);
    assert.deepEqual(missing, [], 'encodings not produced by the generator');
    t.diagnostic(`${total} terms checked; per option: ${OPTIONS.map((o, i) => `${o}=${perOption[i]}`).join(' ')}`);
  });
});
