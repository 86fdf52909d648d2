/**
 * `npm start` as a person runs it (issue 19 item 3): Ctrl-C in a terminal
 * signals the whole foreground process group — npm, and the pipeline under it,
 * which npm also forwards the signal to. The pipeline drains once and npm
 * exits 0 (not 130), with no listener-leak warnings, and a start with the
 * build current does not compile again (item 9).
 *
 * It runs in a copy of the tree (timestamps kept, node_modules linked): were
 * `npm start` ever to rebuild, it must not rewrite build/ under the tests
 * running beside it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, tempDir, until } from '../helpers.js';

/** The working tree as a clone has it after `npm ci` and a build, in `dir`, with mtimes kept. */
function copyTree(dir: string): void {
  const skipped = new Set(['.git', 'node_modules', 'beam-receiver/_build', 'beam-receiver/deps']);
  cpSync(ROOT, dir, { recursive: true, preserveTimestamps: true, filter: (from) => !skipped.has(relative(ROOT, from)) });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
}

describe('npm start', () => {
  it('drains on Ctrl-C (SIGINT to the process group) and npm exits 0, without rebuilding a current build', async (t) => {
    const archive = tempDir(t);
    const tree = tempDir(t);
    copyTree(tree);
    const built = statSync(join(tree, 'build/src/cli.js')).mtimeMs;
    // Its own process group, as a terminal's foreground job: a signal to -pid reaches npm, sh and node as Ctrl-C does.
    const child = spawn('npm', ['start'], {
      cwd: tree, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SCOPE_ARCHIVE: archive, SCOPE_METRICS_ENDPOINT: '127.0.0.1:0', SCOPE_TRACE_PORT: '127.0.0.1:0', SCOPE_TELEMETRY_ENDPOINT: '127.0.0.1:0' },
    });
    const group = child.pid as number;
    t.after(() => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await until(() => out.includes('pipeline started'), 30_000, `the pipeline to start:\n${out}`);
    await until(() => out.includes('CRASH'), 15_000, `the demo's crash printed:\n${out}`);
    process.kill(-group, 'SIGINT');
    const [code, signal] = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, out.slice(-3000));
    assert.match(out, /draining/);
    assert.doesNotMatch(out, /second signal/, 'the forwarded copy of the same Ctrl-C is not a second request');
    assert.doesNotMatch(out, /MaxListenersExceededWarning|Warning:/);
    // The test run built everything before it started: npm start found the build current and left it.
    assert.equal(statSync(join(tree, 'build/src/cli.js')).mtimeMs, built, 'npm start rebuilt a current build');
  });
});
