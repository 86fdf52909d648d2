/**
 * Losing nothing silently under load: a real node emits trace messages as fast
 * as it can while the pipeline pushes back (a stalled exporter). The receiver
 * stops reading, the node's trace driver drops what it cannot queue and says so
 * in Op 1 frames; afterwards every trace message is either delivered or counted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { compileBeam } from '../../bench/capture.js';
import { Collector, until } from '../helpers.js';
import { freePort } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('backpressure_sink'));

describe('beam_trace_port under backpressure', () => {
  it('accounts for every trace message: delivered or counted as dropped by the driver', async () => {
    const code = compileBeam('loadgen');
    const port = await freePort();
    const node = spawn('erl', ['-noshell', '-pa', code, '-run', 'loadgen', 'main', String(port), '240000', '2000'], { stdio: 'pipe' });
    let out = '';
    node.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => out.includes('port '), 15_000, 'the trace port');
      let release!: () => void;
      sink.gate = new Promise((r) => (release = r));
      const pipeline = createPipeline({
        receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}`, max_batch_items: 2048 } },
        exporters: { backpressure_sink: { sending_queue: { queue_size: 4096 } } },
        service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['backpressure_sink'] } }, telemetry: { metrics: { level: 'none' } } },
      }, { logger: silentLogger });
      await pipeline.start();
      await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'connect');
      node.stdin.write('go\n');
      await until(() => /done \d+ \d+/.test(out), 60_000, 'the load to finish');
      const emitted = Number(/done (\d+) \d+/.exec(out)?.[1]);
      release();
      sink.gate = undefined;
      // Drain: the receiver resumes reading and the driver sends what it queued and its drop counts.
      let seen = -1;
      await until(async () => {
        const frames = await pipeline.metrics.sum('scope_beam_trace_port_frames');
        const stable = frames === seen;
        seen = frames;
        return stable;
      }, 60_000, 'the stream to settle');
      const dropped = await pipeline.metrics.sum('scope_beam_trace_dropped_messages');
      const termFrames = await pipeline.metrics.sum('scope_beam_trace_port_frames');
      const traceEvents = sink.events.filter((e) => e.type !== 'trace.dropped').length;
      const dropEvents = sink.events.filter((e) => e.type === 'trace.dropped');
      await pipeline.shutdown();

      assert.ok(dropped > 0, 'the stalled pipeline made the driver drop');
      assert.equal(dropEvents.reduce((n, e) => n + Number(e.attributes['beam.dropped_count']), 0), dropped);
      // One term frame is the scope_clock frame; every other one became an event.
      assert.equal(traceEvents, termFrames - 1);
      assert.equal(traceEvents + dropped, emitted, `delivered ${traceEvents} + dropped ${dropped} = emitted ${emitted}`);
      assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items'), 0);
    } finally {
      node.stdin.end('stop\n');
      setTimeout(() => node.kill('SIGKILL'), 2000).unref();
    }
  });
});
