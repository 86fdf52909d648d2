/**
 * Zero-code attach end to end: ScopeBeam.Tracer (beam-receiver/) in a real
 * Elixir node opens the IP trace port and writes scope_clock frames; the
 * beam_trace_port receiver turns monotonic trace timestamps into Unix time
 * with the node's own clock offset.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createPipeline, registerComponent, type Logger, type LogFields } from '../../src/index.js';
import { Collector, ROOT, until } from '../helpers.js';
import { BEAM_TEST_SOURCES } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('scope_beam_sink'));
const BEAM_RECEIVER = join(ROOT, 'beam-receiver');
let ebin = '';

before(() => {
  execFileSync('mix', ['compile'], { cwd: BEAM_RECEIVER, env: { ...process.env, MIX_ENV: 'dev', HEX_OFFLINE: '1' }, stdio: 'pipe' });
  ebin = join(BEAM_RECEIVER, '_build', 'dev', 'lib', 'scope_beam', 'ebin');
});

function recordingLogger(lines: string[]): Logger {
  const log = (level: string) => (message: string, fields?: LogFields) => void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return logger;
}

describe('ScopeBeam.Tracer with the beam_trace_port receiver', () => {
  it('delivers a traced Elixir process\'s messages with clock-synced Unix times', async () => {
    const node = spawn('elixir', ['-pa', ebin, join(BEAM_TEST_SOURCES, 'scope_beam_attach.exs')], { stdio: 'pipe' });
    let out = '';
    let err = '';
    node.stdout.on('data', (d: Buffer) => (out += d.toString()));
    node.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const line = async (prefix: string): Promise<string> => {
      let found = '';
      await until(() => {
        found = out.split('\n').find((l) => l.startsWith(prefix)) ?? '';
        if (!found && node.exitCode !== null) throw new Error(`elixir exited: ${out}\n${err}`);
        return found !== '';
      }, 30_000, `"${prefix}" from elixir (${out} ${err})`);
      return found.slice(prefix.length).trim();
    };
    const logs: string[] = [];
    try {
      const port = Number(await line('port '));
      const pipeline = createPipeline({
        receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}` } },
        exporters: { scope_beam_sink: {} },
        service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['scope_beam_sink'] } }, telemetry: { metrics: { level: 'none' } } },
      }, { logger: recordingLogger(logs) });
      await pipeline.start();
      await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'connect');
      node.stdin.write('go\n');
      await line('done');
      const worker = await line('pid worker ');
      const peer = await line('pid peer ');
      const before = BigInt(await line('time before '));
      const after = BigInt(await line('time after '));
      await until(() => sink.events.filter((e) => e.pid === worker).length >= 2, 10_000, 'the worker\'s events');
      // The tracer's snapshot names the worker, alive before tracing began; then its trace.
      const snapshot = sink.events.find((e) => e.pid === worker && e.type === 'process.snapshot');
      assert.ok(snapshot, 'a process.snapshot for the worker');
      assert.match(String(snapshot.attributes['beam.current_function']), /:/);
      assert.equal(typeof snapshot.attributes['beam.message_queue_len'], 'number');
      const seq = sink.events.filter((e) => e.pid === worker && e.type !== 'process.snapshot')
        .map((e) => `${e.type} ${String(e.attributes['beam.message'] ?? e.attributes['beam.peer_pid'])}`);
      assert.deepEqual(seq.slice(0, 4), [
        'message.receive go',
        `process.spawn ${peer}`,
        `message.send {hello,${worker}}`,
        'message.receive hi',
      ]);
      const hello = sink.events.find((e) => e.pid === worker && e.type === 'message.send' && e.attributes['beam.message'] === `{hello,${worker}}`);
      assert.ok(hello);
      assert.equal(hello.attributes['beam.peer_pid'], peer);
      const ms = 1_000_000n;
      assert.ok(hello.time >= before - ms && hello.time <= after + ms, `${hello.time} not within ${before}..${after}`);
      assert.deepEqual(logs.filter((l) => l.includes('estimated')), [], 'the scope_clock frames set the offset: nothing estimated');
      await pipeline.shutdown();
      node.stdin.write('stop\n');
    } finally {
      await new Promise((r) => setTimeout(r, 200));
      node.kill('SIGKILL');
    }
  });
});
