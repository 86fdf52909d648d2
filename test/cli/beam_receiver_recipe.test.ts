/**
 * beam-receiver/README.md's loading recipe, run as written, in an installed
 * copy of the package (npm pack's own files in a project's node_modules, the
 * dependencies beside it): `npx scope-pipeline beam-path` compiles ScopeBeam
 * and prints what the README shows; each printed form loads it for real — the
 * `code:add_pathsa/1` line typed into a plain `erl` shell (which needs
 * Elixir's own ebins too), the `Code.prepend_path/1` line in an `elixir`
 * node, and the README's `erl $(…)` and `iex $(…)` commands — and
 * `ScopeBeam.Tracer.start/1` runs in each. With the package's directory not
 * writable (another user), the same command builds into ~/.cache. Without
 * Elixir on PATH it says so. No erl or elixir: the tests fail, never skip.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { installPacked, recipeLines, typeInto, type Typed } from '../readme_recipes.js';

const README = 'beam-receiver/README.md';
const BEAM_PATH = recipeLines(README, 'beam-path');
const OUTPUT = recipeLines(README, 'beam-path-output');
const START = recipeLines(README, 'beam-path-start');

let work = '';
/** A project with scope-pipeline installed from `npm pack`'s tarball. */
let project = '';
let pkg = '';
const running: Typed[] = [];

before(() => {
  work = mkdtempSync(join(tmpdir(), 'scope-beam-path-'));
  chmodSync(work, 0o755); // another user runs the command in it below
  ({ project, pkg } = installPacked(work));
});

after(async () => {
  for (const r of running) await r.kill();
  rmSync(work, { recursive: true, force: true });
});

/** Runs one README command in the project and returns what it printed, failing on a non-zero exit. */
function sh(command: string, argv: string[] = [], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(argv[0] ?? 'sh', [...argv.slice(1), ...(argv.length ? ['sh'] : []), '-c', command], { cwd: project, env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `\`${command}\` exited ${String(r.status)}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The forms the command printed: the line after each `# …` heading. */
function forms(text: string): { erlFlags: string; elixirFlags: string; erlShell: string; elixirShell: string } {
  const after = (heading: RegExp): string => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => heading.test(l));
    assert.ok(i >= 0 && lines[i + 1], `no ${String(heading)} in:\n${text}`);
    return lines[i + 1];
  };
  return {
    erlFlags: after(/^# Start a plain Erlang node/),
    elixirFlags: after(/^# Start an Elixir node/),
    erlShell: after(/^# In a running Erlang shell/),
    elixirShell: after(/^# In a running Elixir node/),
  };
}

/** The README's sample output, `…` standing for any text, appears in `text` line by line, in order. */
function assertLooksLikeSample(text: string): void {
  const lines = text.split('\n');
  let at = 0;
  for (const sample of OUTPUT) {
    const re = new RegExp(`^${sample.split('…').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+')}$`);
    const found = lines.findIndex((l, i) => i >= at && re.test(l));
    assert.ok(found >= 0, `the README's sample line\n  ${sample}\nis not in the output (from line ${at}):\n${text}`);
    at = found + 1;
  }
}

/** Erlang typed into a shell: ScopeBeam.Tracer starts (on a free port) and stops; Elixir's runtime does the work. */
const ERLANG_CHECK = `{ok, #{port := TracerPort}} = 'Elixir.ScopeBeam.Tracer':start([{port, 0}, {max_duration, 5000}]), io:format("tracer_started ~w~n", [TracerPort]), ok = 'Elixir.ScopeBeam.Tracer':stop(), io:format("tracer_stopped~n").\n`;
const ELIXIR_CHECK = '{:ok, %{port: port}} = ScopeBeam.Tracer.start(port: 0, max_duration: 5000); IO.puts("tracer_started #{port}"); :ok = ScopeBeam.Tracer.stop(); IO.puts("tracer_stopped")';

async function checkErlShell(node: Typed, pasteFirst?: string): Promise<void> {
  running.push(node);
  if (pasteFirst !== undefined) {
    node.type(`${pasteFirst}\n`);
    await node.waitFor(/\bok\b/);
  }
  node.type(`{module, 'Elixir.ScopeBeam'} = code:ensure_loaded('Elixir.ScopeBeam'), io:format("scope_beam_loaded~n").\n`);
  await node.waitFor(/scope_beam_loaded/);
  node.type(ERLANG_CHECK);
  await node.waitFor(/tracer_started \d+/);
  await node.waitFor(/tracer_stopped/);
  node.type('halt().\n');
  assert.equal(await node.exited, 0, node.output());
}

describe("beam-receiver/README.md's loading recipe, as written", () => {
  let printed = '';

  it('marks a one-line build command, a sample of its output and the start commands', () => {
    assert.deepEqual(BEAM_PATH, ['npx scope-pipeline beam-path']);
    assert.ok(OUTPUT.length >= 8, OUTPUT.join('\n'));
    assert.deepEqual(START.map((l) => l.split(' ')[0]), ['erl', 'iex']);
  });

  it('the installed package ships the sources, and the command builds them in its directory when it is writable', () => {
    for (const f of ['beam-receiver/mix.exs', 'beam-receiver/lib/scope_beam.ex', 'beam-receiver/lib/scope_beam/tracer.ex', 'build/src/beam_receiver_path.js']) {
      assert.ok(existsSync(join(pkg, f)), `${f} is in the package`);
    }
    assert.ok(!existsSync(join(pkg, 'beam-receiver/_build')), 'no build shipped');
    printed = sh(BEAM_PATH[0]);
    assertLooksLikeSample(printed);
    const ebin = join(realpathSync(pkg), 'beam-receiver/_build/prod/lib/scope_beam/ebin');
    const f = forms(printed);
    assert.equal(f.elixirShell, `Code.prepend_path(${JSON.stringify(ebin)})`);
    assert.equal(f.elixirFlags, `-pa ${ebin}`);
    assert.match(f.erlFlags, new RegExp(`^-pa ${ebin} /\\S+/elixir/ebin /\\S+/logger/ebin$`));
    assert.ok(existsSync(join(ebin, 'Elixir.ScopeBeam.Tracer.beam')) && existsSync(join(ebin, 'scope_beam.app')));
    // Again: nothing to compile, the same answer.
    assert.equal(sh(BEAM_PATH[0]), printed);
  });

  it("the printed code:add_pathsa/1 line, typed into a plain erl shell, loads ScopeBeam with Elixir's runtime", async () => {
    const { erlShell } = forms(printed);
    assert.match(erlShell, /^code:add_pathsa\(\["\/[^"]+", "\/[^"]+\/elixir\/ebin", "\/[^"]+\/logger\/ebin"\]\)\.$/);
    await checkErlShell(typeInto('erl', { cwd: work }), erlShell);
  });

  it('the printed -pa flags start a plain erl node with ScopeBeam loaded', () => {
    const { erlFlags } = forms(printed);
    const r = spawnSync('sh', ['-c', `erl -noshell ${erlFlags} -eval "{module, _} = code:ensure_loaded('Elixir.ScopeBeam'), halt()."`], { cwd: work, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('the printed Code.prepend_path/1 line loads it into an elixir node', () => {
    const { elixirShell, elixirFlags } = forms(printed);
    for (const args of [['-e', `${elixirShell}; ${ELIXIR_CHECK}`], [...elixirFlags.split(' '), '-e', ELIXIR_CHECK]]) {
      const r = spawnSync('elixir', args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /tracer_started \d+\ntracer_stopped\n/);
    }
  });

  it("the README's erl $(…) and iex $(…) commands start nodes that run ScopeBeam.Tracer", async () => {
    const [erl, iex] = START;
    await checkErlShell(typeInto(erl, { cwd: project }));
    const node = typeInto(iex, { cwd: project });
    running.push(node);
    await node.waitFor(/iex\(1\)>/);
    node.type(`${ELIXIR_CHECK}\n`);
    await node.waitFor(/tracer_started \d+/);
    await node.waitFor(/tracer_stopped/);
    node.type('System.halt()\n');
    assert.equal(await node.exited, 0, node.output());
  });

  it('with the package directory not writable, the same command builds into ~/.cache/scope-pipeline and prints those paths', async () => {
    const home = join(work, 'home');
    mkdirSync(home);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.XDG_CACHE_HOME;
    let argv: string[] = [];
    if (process.getuid?.() === 0) {
      // root writes anywhere: run it as another user, as a global install is used.
      const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
      chownSync(home, nobody, nobody);
      argv = ['setpriv', `--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups'];
    } else {
      execFileSync('chmod', ['-R', 'a-w', join(pkg, 'beam-receiver')]);
    }
    let text: string;
    try {
      text = sh(BEAM_PATH[0], argv, env);
    } finally {
      if (argv.length === 0) execFileSync('chmod', ['-R', 'u+w', join(pkg, 'beam-receiver')]);
    }
    assertLooksLikeSample(text.replaceAll(/\/\.cache\/scope-pipeline\/beam-receiver-[^/]+\//g, '/beam-receiver/_build/prod/'));
    const { elixirShell, erlShell } = forms(text);
    const [, ebin] = /^Code\.prepend_path\("(.+)"\)$/.exec(elixirShell) ?? [];
    assert.match(ebin, new RegExp(`^${home}/\\.cache/scope-pipeline/beam-receiver-\\d+\\.\\d+\\.\\d+-[0-9a-f]{12}/lib/scope_beam/ebin$`));
    assert.ok(existsSync(join(ebin, 'Elixir.ScopeBeam.beam')));
    await checkErlShell(typeInto('erl', { cwd: work }), erlShell);
  });

  it('without Elixir on PATH it says what to install, exit 1, no stack trace', () => {
    const empty = join(work, 'no-elixir');
    mkdirSync(empty);
    const r = spawnSync(process.execPath, [join(pkg, 'build/src/cli.js'), 'beam-path'], { cwd: project, env: { ...process.env, PATH: empty }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^scope-pipeline: beam-path compiles beam-receiver with Elixir's mix, which is not on PATH: install Elixir 1\.14\+/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
