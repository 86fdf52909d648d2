/** The scope-pipeline command as users run it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { closeSync, constants, createWriteStream, openSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { parse } from 'yaml';
import { eventToJson } from '../../src/index.js';
import { CLI, ROOT, event, startDaemon, tempDir, until } from '../helpers.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scope-pipeline command', () => {
  it('validates the shipped configs', () => {
    const r = cli(['validate', '--config', 'config/jaeger.yaml']);
    assert.equal(r.code, 0, r.stderr);
    for (const extra of [[], ['--config', 'config/development.yaml'], ['--config', 'config/production.yaml']]) {
      const r = cli(['validate', '--config', 'config/pipeline.yaml', ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /valid/);
    }
  });

  it('reports every error of a bad config with its path and exits 1, without a stack trace', (t) => {
    const file = join(tempDir(t), 'bad.yaml');
    writeFileSync(file, `
receivers:
  jsonl: { path: in.jsonl }
processors:
  batch: { timeout: soon }
  bacth: {}
exporters:
  debug: { format: yaml }
service:
  pipelines:
    p: { receivers: [jsonl], processors: [batch], exporters: [debug, otlp] }
`);
    const r = cli(['validate', '--config', file]);
    assert.equal(r.code, 1);
    const lines = r.stderr.split('\n');
    const expected = [
      'processors.batch.timeout: must match duration like 200ms, 5s or 1m30s',
      'processors.bacth: unknown processor type "bacth" (known: anomaly, batch, correlation, filter, memory_limiter',
      'exporters.debug.format: must be one of text, json',
      'service.pipelines.p.exporters[1]: exporter "otlp" is not declared under exporters',
    ];
    for (const e of expected) assert.ok(lines.some((l) => l.includes(e)), `missing "${e}" in:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('says which file cannot be read or parsed', (t) => {
    const dir = tempDir(t);
    const missing = cli(['validate', '--config', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read config file .*nope\.yaml: ENOENT/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'receivers: [unclosed\n');
    const parsed = cli(['validate', '--config', broken]);
    assert.equal(parsed.code, 1);
    assert.match(parsed.stderr, /broken\.yaml/);
  });

  it('lists the built-in components', () => {
    const r = cli(['components']);
    assert.equal(r.code, 0);
    for (const [kind, type] of [['receiver', 'jsonl'], ['receiver', 'push'], ['processor', 'batch'], ['processor', 'filter'], ['processor', 'memory_limiter'], ['exporter', 'debug']]) {
      assert.match(r.stdout, new RegExp(`^${kind}\\s+${type}\\s+\\S+\\s+\\S.+$`, 'm'));
    }
  });

  it('prints the resolved config: files merged, env expanded, defaults applied', (t) => {
    const file = join(tempDir(t), 'override.yaml');
    writeFileSync(file, 'processors:\n  batch:\n    timeout: ${env:BATCH_TIMEOUT:-1s}\n');
    const r = cli(['print-config', '--config', 'config/pipeline.yaml', '--config', file], { BATCH_TIMEOUT: '750ms', SCOPE_CAPTURE: 'x.jsonl' });
    assert.equal(r.code, 0, r.stderr);
    const printed = parse(r.stdout) as { processors: { batch: { timeout: string; send_batch_max_size: number } }; receivers: Record<string, { path: string }>; service: { shutdown_timeout: string } };
    assert.equal(printed.processors.batch.timeout, '750ms');
    assert.equal(printed.processors.batch.send_batch_max_size, 0);
    assert.equal(printed.receivers['jsonl/demo'].path, 'x.jsonl');
    assert.equal(printed.service.shutdown_timeout, '10s');
  });

  it('answers --help and --version, and refuses unknown commands and options', () => {
    const help = cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--config FILE/);
    const version = cli(['--version']);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    assert.equal(cli(['frobnicate']).code, 1);
    assert.equal(cli(['--frobnicate']).code, 1);
    assert.equal(cli(['--log-level', 'loud', 'components']).code, 1);
  });

  it('works as the installed bin through npx', () => {
    const out = execFileSync('npx', ['--no-install', 'scope-pipeline', '--version'], { cwd: ROOT, encoding: 'utf8' });
    assert.match(out.trim(), /^\d+\.\d+\.\d+/);
  });

  it('runs the embedded default config with no --config, and drains on SIGINT', async (t) => {
    const archive = tempDir(t);
    const daemon = startDaemon([], { SCOPE_METRICS_ENDPOINT: '127.0.0.1:0', SCOPE_TELEMETRY_ENDPOINT: '127.0.0.1:0', SCOPE_ARCHIVE: archive });
    // The default capture path is relative to the repository root.
    daemon.child.kill('SIGKILL');
    await daemon.exited();
    const fromRoot = startDaemonIn(ROOT, { SCOPE_ARCHIVE: archive });
    await until(() => fromRoot.stdout().includes('CRASH'), 10_000, 'the demo\'s crash to be printed');
    fromRoot.child.kill('SIGINT');
    assert.equal((await fromRoot.exited()).code, 0, fromRoot.stderr());
    // The console as a person reads it (debug verbosity basic): the crash as a block with the command that tells
    // its story, the trace roots, and the raw events counted in one summary line (written at the end at the latest).
    const out = fromRoot.stdout();
    const crash = out.split('\n').filter((l) => l.includes('CRASH') || l.startsWith('    '));
    assert.match(crash[0], /^\d{4}-\d{2}-\d{2} [\d:.]+  CRASH  <0\.95\.0> \(cart_42\) on shop@localhost$/);
    assert.ok(crash.some((l) => /^ {4}poison +\{'\$gen_call',\{<0\.80\.0>,.*remove_item.* from <0\.80\.0>$/.test(l)), crash.join('\n'));
    assert.ok(crash.some((l) => l === '    story      scope-pipeline inspect crash <0.95.0>'), crash.join('\n'));
    assert.match(out, /  span  DELETE \/cart\/items\/:sku  [\d.]+ ms  shop  trace [0-9a-f]{8}  ERROR/);
    assert.match(out, /^ {25}… since \d{2}:\d{2}:\d{2}: \d+ events, \d+ inner spans, 2 metric points \(message\.send/m);
    assert.doesNotMatch(out, /event process\.exit|metric beam\.run_queue/, 'raw items only with verbosity normal or detailed');
    for (const line of out.split('\n')) assert.ok([...line].length <= 100, `over 100 columns: ${line}`);
  });

  it('queries the archive the default pipeline wrote to ./data/archive', async (t) => {
    const dir = tempDir(t);
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const daemon = startDaemonIn(dir, { SCOPE_CAPTURE: join(ROOT, 'examples/demo-capture.jsonl') });
    t.after(() => daemon.child.kill('SIGKILL'));
    await until(() => daemon.stdout().includes('CRASH'), 10_000, 'the demo capture to be printed');
    daemon.child.kill('SIGINT');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr());
    const query = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, 'query', '--archive', './data/archive', ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const table = query(['select name, count(*) from spans group by 1 order by 1']);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.split('\n').filter((l) => /\| 1$/.test(l)).map((l) => l.split('|')[0].trim()),
      // The capture's own spans, and those the correlation processor made from its BEAM events.
      ['DELETE /cart/items/:sku', 'POST /cart/items', 'cart_42 handle_call add_item', 'cart_42 handle_call remove_item', 'process handle_info']);
    assert.match(table.stdout, /Shop\.Cart\.handle_call\/3 +\| 3/);
    assert.match(table.stdout, /\(6 rows\)/);
    const crash = query(['--format', 'json', "select pid, json_extract_string(attributes, '$.\"scope.crash.root_cause\"') as root from events where type = 'process.crash'"]);
    assert.equal(crash.code, 0, crash.stderr);
    assert.deepEqual(JSON.parse(crash.stdout), [{ pid: '<0.95.0>', root: 'true' }]);
    // The capture is replayed as if recorded at the start (rebase_time), every item keeping its offset.
    const json = query(['--format', 'json', "select type, epoch_ns(time)::VARCHAR as ns, pid from events where type in ('process.spawn', 'process.exit') order by time"]);
    assert.equal(json.code, 0, json.stderr);
    const [spawn, exit] = JSON.parse(json.stdout) as Array<{ type: string; ns: string; pid: string }>;
    assert.deepEqual([spawn.type, exit.type, exit.pid], ['process.spawn', 'process.exit', '<0.95.0>']);
    assert.equal(BigInt(exit.ns) - BigInt(spawn.ns), BigInt(captureTime('process.exit')) - BigInt(captureTime('process.spawn')));
    assert.ok(BigInt(spawn.ns) >= startedNs && BigInt(spawn.ns) <= BigInt(Date.now()) * 1_000_000n, `${spawn.ns} is the replay's start`);
    const csv = query(['--format', 'csv', 'select name, value from metrics order by name']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(csv.stdout, 'name,value\nbeam.process.message_queue_len,12\nbeam.run_queue,3\n');
    // SQL that opens with a comment is the statement, not an option.
    const commented = query(['--format', 'csv', "-- the crash\nselect pid from events where type = 'process.crash'"]);
    assert.equal(commented.stdout, 'pid\n<0.95.0>\n', commented.stderr);
    const bad = query(['select nope from spans']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /scope-pipeline: .*"nope" not found/);
    const missing = spawnSync(process.execPath, [CLI, 'query', '--archive', join(dir, 'nowhere'), 'select 1'], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no archive at .*nowhere/);

    // A second start keeps the first run's demo: its partitions are not older than the events' retention (24 h).
    const again = startDaemonIn(dir, { SCOPE_CAPTURE: join(ROOT, 'examples/demo-capture.jsonl') });
    t.after(() => again.child.kill('SIGKILL'));
    await until(() => again.stdout().includes('CRASH'), 10_000, 'the demo capture printed again');
    again.child.kill('SIGINT');
    assert.equal((await again.exited()).code, 0, again.stderr());
    const both = query(['--format', 'json', "select count(*)::INTEGER as n from events where type = 'process.crash'"]);
    assert.deepEqual(JSON.parse(both.stdout), [{ n: 2 }]);
  });

  it('queries an archive with tables that have no files yet as empty views', (t) => {
    const dir = tempDir(t);
    const r = cli(['query', '--archive', dir, '--format', 'json', 'select (select count(*) from spans) s, (select count(*) from events) e, (select count(*) from metrics) m']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ s: '0', e: '0', m: '0' }]);
    const columns = cli(['query', '--archive', dir, '--format', 'csv', "select column_name from (describe spans) where column_name in ('trace_id', 'start_time', 'events')"]);
    assert.equal(columns.stdout, 'column_name\ntrace_id\nstart_time\nevents\n');
  });

  it('exits at once on a second signal when draining is stuck', async (t) => {
    const dir = tempDir(t);
    const input = join(dir, 'in.jsonl');
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    // Hold the read end open but never read: once the pipe's buffer fills, the exporter's writes wait forever.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    t.after(() => closeSync(reader));
    const stream = createWriteStream(input);
    for (let i = 0; i < 5000; i++) stream.write(eventToJson(event()) + '\n');
    stream.end();
    await once(stream, 'finish');
    const config = join(dir, 'p.yaml');
    writeFileSync(config, `
receivers: { jsonl: { path: ${input} } }
exporters: { debug: { path: ${fifo}, format: json } }
service:
  shutdown_timeout: 1h
  pipelines: { p: { receivers: [jsonl], exporters: [debug] } }
  telemetry: { metrics: { level: none } }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    await until(() => daemon.stderr().includes('pipeline started'), 10_000, 'start');
    await new Promise((r) => setTimeout(r, 300));
    daemon.child.kill('SIGTERM');
    await until(() => daemon.stderr().includes('draining'), 5000, 'draining');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(daemon.child.exitCode, null, 'still draining');
    daemon.child.kill('SIGTERM');
    const { signal } = await daemon.exited();
    // A drained exit would end with code 0 and no signal: the re-raised signal is the proof it did not wait.
    assert.equal(signal, 'SIGTERM', 'ended by the re-raised signal, not by a drained exit');
  });
});

/** The time of the demo capture's first event of a type, as recorded. */
function captureTime(type: string): string {
  const line = readFileSync(join(ROOT, 'examples/demo-capture.jsonl'), 'utf8').split('\n').find((l) => l.includes(`"type":"${type}"`));
  return (JSON.parse(line ?? '{}') as { time: string }).time;
}

function startDaemonIn(cwd: string, env: NodeJS.ProcessEnv = {}) {
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    return startDaemon([], { SCOPE_METRICS_ENDPOINT: '127.0.0.1:0', SCOPE_TRACE_PORT: '127.0.0.1:1', SCOPE_TELEMETRY_ENDPOINT: '127.0.0.1:0', ...env });
  } finally {
    process.chdir(previous);
  }
}
