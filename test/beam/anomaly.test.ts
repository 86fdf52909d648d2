/**
 * The anomaly processor on a real Elixir node's process samples: a GenServer
 * whose mailbox grows (a slow consumer) is flagged within 3 sampler intervals
 * of the growth showing; one that is busy but keeps up is not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createPipeline, registerComponent, silentLogger, type MetricPoint, type ScopeEvent } from '../../src/index.js';
import { Collector, freePort, ROOT, until } from '../helpers.js';
import { BEAM_TEST_SOURCES } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('anomaly_sink'));
const BEAM_RECEIVER = join(ROOT, 'beam-receiver');
let ebin = '';
before(() => {
  // prod, like the forwarder test: never the _build directory another test file compiles into.
  execFileSync('mix', ['compile'], { cwd: BEAM_RECEIVER, env: { ...process.env, MIX_ENV: 'prod', HEX_OFFLINE: '1' }, stdio: 'pipe' });
  ebin = join(BEAM_RECEIVER, '_build', 'prod', 'lib', 'scope_beam', 'ebin');
});

const children: Array<ReturnType<typeof spawn>> = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});


describe('anomaly processor on a real node\'s process samples', () => {
  it('flags the slow consumer\'s growing mailbox within 3 sampler intervals, never the busy worker that keeps up', async (t) => {
    const port = await freePort();
    const pipeline = createPipeline({
      receivers: { beam_telemetry: { endpoint: `127.0.0.1:${port}` } },
      processors: { anomaly: {} },
      exporters: { anomaly_sink: {} },
      service: { pipelines: { p: { receivers: ['beam_telemetry'], processors: ['anomaly'], exporters: ['anomaly_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    t.after(() => pipeline.shutdown());
    const first = sink.batches.length;
    const node = spawn('elixir', ['-pa', ebin, join(BEAM_TEST_SOURCES, 'anomaly_mailbox.exs'), String(port)], { stdio: 'pipe' });
    children.push(node);
    let out = '';
    node.stdout.on('data', (d: Buffer) => (out += d.toString()));
    node.stderr.on('data', (d: Buffer) => (out += d.toString()));

    const detections = (): ScopeEvent[] => sink.batches.slice(first).flatMap((b) => b.events).filter((e) => e.type === 'anomaly.detected');
    const samples = (name: string): MetricPoint[] => sink.batches.slice(first).flatMap((b) => b.metrics)
      .filter((m) => m.name === 'beam.process.message_queue_len' && m.attributes['beam.registered_name'] === name);
    await until(() => detections().some((d) => String(d.attributes['anomaly.key']).endsWith('|slow_consumer')), 20_000, `the slow consumer flagged (node: ${out})`);
    const flagged = detections().find((d) => String(d.attributes['anomaly.key']).endsWith('|slow_consumer')) as ScopeEvent;
    assert.equal(flagged.attributes['anomaly.kind'], 'mailbox_growth');
    assert.match(String(flagged.pid), /^<\d+\.\d+\.\d+>$/);

    // Counted in sampler intervals (samples), not wall time, so a loaded machine's scheduling jitter does not
    // matter: from the first sample showing growth (10+ messages more than the one before) to the flagging one.
    const slow = samples('slow_consumer');
    const firstGrowth = slow.findIndex((m, i) => i > 0 && m.value >= slow[i - 1].value + 10);
    const flaggedAt = slow.findIndex((m) => m.timeUnixNano === flagged.time);
    assert.ok(firstGrowth > 0 && flaggedAt >= firstGrowth, `samples ${slow.map((m) => m.value).join(',')}`);
    assert.ok(flaggedAt - firstGrowth <= 3, `flagged ${flaggedAt - firstGrowth} sampler intervals after the growth showed (${slow.map((m) => m.value).join(',')})`);

    // The busy worker is sampled (it is among the busiest by reductions) and keeps up: never flagged.
    await until(() => samples('busy_worker').length >= 10, 15_000, 'ten samples of the busy worker');
    assert.ok(samples('busy_worker').every((m) => m.value < 100), 'the busy worker keeps up');
    assert.equal(detections().filter((d) => String(d.attributes['anomaly.key']).includes('busy_worker')).length, 0);
  });
});
