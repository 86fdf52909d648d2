/**
 * `inspect crash latest --daemon URL`: the daemon (a child process) replays
 * a recorded BEAM capture (examples/demo-capture.jsonl: a cart process
 * crashing on a message it has no clause for) through correlation; the
 * parquet exporter would roll its file only after an hour, so the archive has
 * no file, and the crash is explained from the inspector extension's live
 * window alone. Also: its token, and the window's bounds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, freePort, promValue, ROOT, startDaemon, tempDir, until } from '../helpers.js';
import { LiveWindow } from '../../src/extensions/inspector/window.js';
import { eventBatch } from '../helpers.js';
import type { CrashStory } from '../../src/inspect/types.js';

const TOKEN = 'a-token-of-at-least-16-characters';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const parquetFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet')) : []);

describe('inspect --daemon: the live window', () => {
  it('explains a crash from the daemon\'s memory before any Parquet file exists, with the token', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const port = await freePort();
    const config = join(dir, 'p.yaml');
    writeFileSync(config, `
receivers:
  jsonl/demo: { path: ${join(ROOT, 'examples/demo-capture.jsonl')} }
processors:
  correlation: {}
  privacy: {}
exporters:
  parquet: { path: ${archive}, max_file_age: 1h }
extensions:
  inspector: { endpoint: 127.0.0.1:${port}, auth: { bearer_token: ${TOKEN} } }
service:
  extensions: [inspector]
  pipelines: { p: { receivers: [jsonl/demo], processors: [correlation, privacy], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    const metrics = await daemon.metricsUrl();
    await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_correlation_crashes_total') > 0, 15_000, 'the crash correlated');
    const correlatedAt = Date.now();
    const url = `http://127.0.0.1:${port}`;

    const r = cli(['inspect', 'crash', 'latest', '--daemon', url, '--archive', archive, '--format', 'json'], { SCOPE_INSPECTOR_TOKEN: TOKEN });
    const answeredMs = Date.now() - correlatedAt;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parquetFiles(archive), [], 'no file rolled: the answer came from the live window');
    const story = JSON.parse(r.stdout) as CrashStory;
    console.log(`# crash correlated → explained over --daemon in ${answeredMs} ms (no Parquet file yet)`);
    assert.equal(story.crash.pid, '<0.95.0>');
    assert.equal(story.crash.registeredName, 'cart_42');
    assert.equal(story.crash.rootCause, true);
    assert.equal(story.poison?.sender, '<0.80.0>');
    assert.match(story.poison?.message ?? '', /remove_item/);
    // The sender's span was still open when the window was read: its id is known, the span comes when it ends.
    assert.match(story.poison?.senderSpanId ?? '', /^[0-9a-f]{16}$/);
    assert.ok(story.trace && story.trace.spans > 0);

    const list = cli(['inspect', 'crashes', '--daemon', url, '--token', TOKEN, '--archive', archive]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /<0\.95\.0>\s+cart_42\s+\{function_clause/);

    const wrong = cli(['inspect', 'crashes', '--daemon', url, '--token', 'x'.repeat(33), '--archive', archive]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /wants its inspector token/);
    const raw = await fetch(`${url}/v1/window?since=0`);
    assert.equal(raw.status, 401);
    const nowhere = cli(['inspect', 'crashes', '--daemon', `http://127.0.0.1:${await freePort()}`, '--archive', archive]);
    assert.equal(nowhere.status, 1);
    assert.match(nowhere.stderr, /cannot reach the daemon's live window at .* \(ECONNREFUSED\)/);

    // After SIGTERM the file exists, and the archive alone gives the same story.
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr().slice(-2000));
    assert.ok(parquetFiles(archive).length > 0);
    const fromArchive = cli(['inspect', 'crash', 'latest', '--archive', archive, '--format', 'json']);
    assert.equal(fromArchive.status, 0, fromArchive.stderr);
    const archived = JSON.parse(fromArchive.stdout) as CrashStory;
    assert.deepEqual(archived.crash, story.crash);
    assert.deepEqual(archived.restarts, story.restarts);
    assert.equal(archived.poison?.senderSpan?.spanId, story.poison?.senderSpanId, 'the sender\'s span, ended at shutdown, is the one named');
    assert.equal(archived.poison?.senderSpan?.pid, '<0.80.0>');
  });

  it('lets the oldest go past its age and its size, counted by reason', () => {
    const evicted = { age: 0, max_size: 0 };
    const byAge = new LiveWindow(1_000, Number.POSITIVE_INFINITY, (n, reason) => (evicted[reason] += n));
    byAge.add(eventBatch(10), 0);
    byAge.add(eventBatch(10), 800);
    assert.equal(byAge.size, 20);
    byAge.evict(1_600);
    assert.deepEqual([byAge.size, evicted.age], [10, 10], 'the first ten aged out');
    byAge.evict(2_600);
    assert.deepEqual([byAge.size, byAge.bytes, evicted.age, evicted.max_size], [0, 0, 20, 0]);

    const five = new LiveWindow(60_000, Number.POSITIVE_INFINITY, () => undefined);
    five.add(eventBatch(5), 0);
    const bySize = new LiveWindow(60_000, five.bytes, (n, reason) => (evicted[reason] += n));
    bySize.add(eventBatch(10), 0);
    assert.ok(bySize.bytes <= five.bytes);
    assert.ok(bySize.size >= 4 && bySize.size <= 5, String(bySize.size));
    assert.equal(evicted.max_size, 10 - bySize.size);
    assert.deepEqual([...bySize.lines(0n)].length, bySize.size);
  });
});
