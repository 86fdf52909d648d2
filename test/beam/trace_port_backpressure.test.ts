/**
 * Losing nothing silently under load: a real node emits trace messages as fast
 * as it can while the pipeline pushes back (a stalled exporter). The receiver
 * reads ahead up to `read_ahead`, then stops reading; the node's trace driver
 * drops what it cannot queue and says so in Op 1 frames; afterwards every
 * trace message is either delivered or counted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { registerComponent } from '../../src/index.js';
import { compileBeam } from '../../bench/capture.js';
import { Collector, sampleMax, until } from '../helpers.js';
import { freePort, tracePortPipeline } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('backpressure_sink'));

interface Outcome { emitted: number; dropped: number; delivered: number; termFrames: number; dropCounted: number; maxAhead: number; refused: number; endAhead: number }

/**
 * A real node emits `messages` trace messages as fast as it can while the
 * sink holds every export (the pipeline pushes back), then the sink lets go
 * and the stream settles. The read-ahead gauge is sampled throughout.
 */
async function stalledRun(messages: number, receiver: Record<string, unknown>, shutdownWhileStalled = false): Promise<Outcome> {
  const code = compileBeam('loadgen');
  const port = await freePort();
  const node = spawn('erl', ['-noshell', '-pa', code, '-run', 'loadgen', 'main', String(port), String(messages), '2000'], { stdio: 'pipe' });
  let out = '';
  node.stdout.on('data', (d: Buffer) => (out += d.toString()));
  sink.batches.length = 0;
  try {
    await until(() => out.includes('port '), 15_000, 'the trace port');
    let release!: () => void;
    sink.gate = new Promise((r) => (release = r));
    const pipeline = await tracePortPipeline(port, { max_batch_items: 2048, ...receiver }, 'backpressure_sink', { sending_queue: { queue_size: 4096 } });
    const ahead = sampleMax(() => pipeline.metrics.sum('scope_beam_trace_read_ahead_bytes'));
    node.stdin.write('go\n');
    await until(() => /done \d+ \d+/.test(out), 60_000, 'the load to finish');
    const emitted = Number(/done (\d+) \d+/.exec(out)?.[1]);
    if (shutdownWhileStalled) {
      // Stopped with a backlog read ahead: what was read is decoded and handed on, or refused and counted, never lost unsaid.
      await until(async () => (await pipeline.metrics.sum('scope_beam_trace_read_ahead_bytes')) > 1_000_000, 10_000, 'a backlog read ahead');
      const stopped = pipeline.shutdown();
      release();
      sink.gate = undefined;
      await stopped;
      const maxAhead = await ahead.stop();
      const delivered = sink.events.filter((e) => e.type !== 'trace.dropped').length;
      return {
        emitted, delivered, maxAhead,
        dropped: await pipeline.metrics.sum('scope_beam_trace_dropped_messages'),
        termFrames: await pipeline.metrics.sum('scope_beam_trace_port_frames'),
        dropCounted: sink.events.filter((e) => e.type === 'trace.dropped').reduce((n, e) => n + Number(e.attributes['beam.dropped_count']), 0),
        refused: await pipeline.metrics.sum('scope_receiver_refused_items'),
        endAhead: await pipeline.metrics.sum('scope_beam_trace_read_ahead_bytes'),
      };
    }
    release();
    sink.gate = undefined;
    // Drain: the receiver decodes what it read ahead, reads on, and the driver sends what it queued and its drop counts.
    const delivered = (): number => sink.events.filter((e) => e.type !== 'trace.dropped').length;
    await until(async () => delivered() + (await pipeline.metrics.sum('scope_beam_trace_dropped_messages')) >= emitted, 60_000,
      `every message delivered or counted (${delivered()} delivered so far of ${emitted})`);
    const maxAhead = await ahead.stop();
    const outcome = {
      emitted, delivered: delivered(), maxAhead,
      dropped: await pipeline.metrics.sum('scope_beam_trace_dropped_messages'),
      termFrames: await pipeline.metrics.sum('scope_beam_trace_port_frames'),
      dropCounted: sink.events.filter((e) => e.type === 'trace.dropped').reduce((n, e) => n + Number(e.attributes['beam.dropped_count']), 0),
      refused: await pipeline.metrics.sum('scope_receiver_refused_items'),
      endAhead: await pipeline.metrics.sum('scope_beam_trace_read_ahead_bytes'),
    };
    await pipeline.shutdown();
    return outcome;
  } finally {
    node.stdin.end('stop\n');
    setTimeout(() => node.kill('SIGKILL'), 2000).unref();
  }
}

/** Every trace message is delivered or counted in the driver's drop frames (one term frame is the scope_clock frame). */
function assertAccounted(o: Outcome): void {
  assert.equal(o.dropCounted, o.dropped);
  assert.equal(o.delivered, o.termFrames - 1);
  assert.equal(o.delivered + o.dropped, o.emitted, `delivered ${o.delivered} + dropped ${o.dropped} = emitted ${o.emitted}`);
  assert.equal(o.refused, 0);
  assert.equal(o.endAhead, 0, 'nothing left undecoded');
}

describe('beam_trace_port under backpressure', () => {
  it('without read-ahead: stops reading, and the driver drops and counts what it cannot queue', async () => {
    const o = await stalledRun(240_000, { read_ahead: 0 });
    assert.ok(o.dropped > 0, 'the stalled pipeline made the driver drop');
    assert.equal(o.maxAhead, 0);
    assertAccounted(o);
  });

  it('with the default read-ahead: reads the whole burst while the pipeline stalls, and delivers every message once it moves', async (t) => {
    const o = await stalledRun(240_000, {});
    t.diagnostic(`${o.emitted} emitted, ${o.delivered} delivered, ${o.dropped} dropped; read ahead up to ${(o.maxAhead / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(o.maxAhead > 1_000_000, `read ahead while stalled (${o.maxAhead} bytes)`);
    assert.equal(o.dropped, 0, 'the driver dropped nothing');
    assertAccounted(o);
  });

  it('with a small read-ahead: reads up to it, then the driver drops and counts', async () => {
    const o = await stalledRun(240_000, { read_ahead: '256KiB' });
    assert.ok(o.dropped > 0, 'past the read-ahead the driver dropped');
    // At most the limit and the chunk that crossed it (a socket read is at most 64 KiB).
    assert.ok(o.maxAhead > 0 && o.maxAhead <= 256 * 1024 + 65_536, `read ahead ${o.maxAhead} bytes`);
    assertAccounted(o);
  });

  it('shut down with a backlog read ahead: every message read is delivered or refused and counted', async (t) => {
    const o = await stalledRun(240_000, {}, true);
    t.diagnostic(`${o.emitted} emitted: ${o.delivered} delivered, ${o.refused} refused at shutdown, ${o.dropped} dropped; read ahead up to ${(o.maxAhead / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(o.endAhead, 0, 'nothing left undecoded');
    // Every term frame read (one is the scope_clock frame) became a delivered event or a refused one.
    assert.equal(o.delivered + o.refused, o.termFrames - 1);
    // What the node emitted after the receiver stopped reading is neither read nor dropped by the driver: it went with the connection.
    assert.ok(o.delivered + o.refused + o.dropped <= o.emitted);
    assert.ok(o.delivered > 0);
  });
});
