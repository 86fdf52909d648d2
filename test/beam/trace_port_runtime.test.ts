/**
 * The runtime trace tags from a real erl node: scheduling, garbage collection,
 * ports and seq_trace (DESIGN.md fixes their event types).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, eventSchemas, registerComponent, silentLogger } from '../../src/index.js';
import { Collector, until } from '../helpers.js';
import { compileErlang, freePort, startErl } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('runtime_sink'));

describe('beam_trace_port runtime events from a real erl node', () => {
  it('maps in/out, gc, port open/closed and seq_trace send/receive/print', async () => {
    const code = compileErlang('runtime_workload');
    const port = await freePort();
    const node = startErl(code, 'runtime_workload', 'main', [String(port)]);
    try {
      await node.line('port ');
      const pipeline = createPipeline({
        receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}` } },
        exporters: { runtime_sink: {} },
        service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['runtime_sink'] } }, telemetry: { metrics: { level: 'none' } } },
      }, { logger: silentLogger });
      await pipeline.start();
      await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'connect');
      node.send('go\n');
      await node.line('done');
      const worker = await node.line('pid worker ');
      const echo = await node.line('pid echo ');
      const portId = await node.line('port_id ');
      await until(() => sink.events.some((e) => e.type === 'seq_trace.print'), 10_000, 'the seq_trace print');
      await new Promise((r) => setTimeout(r, 200));
      await pipeline.shutdown();
      const events = sink.events;
      for (const e of events) assert.equal(eventSchemas.validate(e), null, `${e.type} must satisfy its schema`);
      const types = new Set(events.map((e) => e.type));
      for (const t of ['scheduler.in', 'scheduler.out', 'gc.major_start', 'gc.major_end', 'port.open', 'port.closed', 'seq_trace.send', 'seq_trace.receive', 'seq_trace.print']) {
        assert.ok(types.has(t), `${t} in ${[...types].join(', ')}`);
      }
      // Scheduled in and out where it waits: in its receive in worker/0.
      const scheduled = events.filter((e) => e.type.startsWith('scheduler.') && e.pid === worker).map((e) => e.attributes['beam.mfa']);
      assert.ok(scheduled.includes('runtime_workload:worker/0'), scheduled.join(', '));
      const gc = events.find((e) => e.type === 'gc.major_start' && e.pid === worker);
      assert.equal(typeof gc?.attributes['beam.gc.heap_size'], 'number');
      const opened = events.find((e) => e.type === 'port.open');
      assert.equal(opened?.pid, portId);
      assert.equal(opened?.attributes['beam.peer_pid'], worker);
      assert.equal(opened?.attributes['beam.driver'], 'true'); // the spawned command's name
      assert.equal(events.find((e) => e.type === 'port.closed')?.pid, portId);
      const send = events.find((e) => e.type === 'seq_trace.send' && e.pid === worker);
      assert.equal(send?.attributes['beam.seq_trace.label'], '17');
      assert.equal(send?.attributes['beam.peer_pid'], echo);
      assert.equal(send?.attributes['beam.message'], `{echo,${worker},hello}`);
      const received = events.find((e) => e.type === 'seq_trace.receive' && e.pid === echo);
      assert.equal(received?.attributes['beam.peer_pid'], worker);
      const print = events.find((e) => e.type === 'seq_trace.print');
      assert.equal(print?.pid, worker);
      assert.equal(print?.attributes['beam.message'], 'checkpoint');
      assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items'), 0);
    } finally {
      await node.stop();
    }
  });
});
