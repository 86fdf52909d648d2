/**
 * beam_trace_port in front of a disk sending queue: the socket is read on
 * only once what it gave is on disk (a kill -9 then loses nothing the
 * receiver read), and the node's driver queues meanwhile and counts what it
 * had to drop. A real node emits 100 000 trace messages as fast as it can;
 * afterwards every one is delivered through the disk or counted as dropped
 * by the driver, and none is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { registerComponent } from '../../src/index.js';
import { compileBeam } from '../../bench/capture.js';
import { Collector, sampleMax, tempDir, until } from '../helpers.js';
import { freePort, tracePortPipeline } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('trace_disk_sink'));

describe('beam_trace_port with a disk sending queue', () => {
  it('reads on only once each read is on disk: every trace message delivered through the disk or counted by the driver', async (t) => {
    const code = compileBeam('loadgen');
    const port = await freePort();
    const queue = join(tempDir(t), 'queue');
    const node = spawn('erl', ['-noshell', '-pa', code, '-run', 'loadgen', 'main', String(port), '100000', '2000'], { stdio: 'pipe' });
    let out = '';
    node.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => out.includes('port '), 15_000, 'the trace port');
      const pipeline = await tracePortPipeline(port, {}, 'trace_disk_sink', { sending_queue: { storage: 'disk', path: queue, fsync: 'always' } });
      // Behind a disk queue nothing is read ahead of what is on disk: the read-ahead gauge stays at 0 throughout.
      const ahead = sampleMax(() => pipeline.metrics.sum('scope_beam_trace_read_ahead_bytes'));
      node.stdin.write('go\n');
      await until(() => /done \d+ \d+/.test(out), 60_000, 'the load to finish');
      const emitted = Number(/done (\d+) \d+/.exec(out)?.[1]);
      // Settled when everything emitted is accounted for: a pause in the frames proves nothing (on a loaded machine
      // the receiver waits on fsyncs for longer than a poll, while the driver still holds messages and its drop count).
      const delivered = (): number => sink.events.filter((e) => e.type !== 'trace.dropped').length;
      await until(async () => delivered() + (await pipeline.metrics.sum('scope_beam_trace_dropped_messages')) >= emitted, 90_000,
        `every message delivered or counted (${delivered()} delivered so far of ${emitted})`);
      const maxAhead = await ahead.stop();
      const segments = readdirSync(join(queue, 'trace_disk_sink')).filter((n) => n.endsWith('.seg'));
      await pipeline.shutdown();
      const dropped = await pipeline.metrics.sum('scope_beam_trace_dropped_messages');
      const termFrames = await pipeline.metrics.sum('scope_beam_trace_port_frames');
      const traceEvents = sink.events.filter((e) => e.type !== 'trace.dropped').length;
      console.log(`# ${emitted} emitted: ${traceEvents} delivered through the disk queue, ${dropped} dropped by the driver while the receiver waited for fsyncs`);
      assert.ok(segments.length > 0, 'the events went through the segment log');
      assert.equal(maxAhead, 0, 'nothing read ahead of the disk');
      assert.equal(traceEvents, termFrames - 1, 'every frame read became a delivered event (one is the scope_clock frame)');
      assert.equal(traceEvents + dropped, emitted, `delivered ${traceEvents} + dropped ${dropped} = emitted ${emitted}`);
      assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items'), 0);
      assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items'), 0);
    } finally {
      node.stdin.end('stop\n');
      setTimeout(() => node.kill('SIGKILL'), 2000).unref();
    }
  });
});
