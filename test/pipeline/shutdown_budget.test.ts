/**
 * Shutdown with a budget per stage: a receiver that cannot stop (a client
 * holding a socket open) must not eat the exporters' drain time. Everything
 * accepted before shutdown is delivered, drained is true, and it all happens
 * within shutdown_timeout.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, defineReceiver, registerComponent, silentLogger, type ReceiverContext } from '../../src/index.js';
import { Collector, eventBatch } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('budget_sink'));
let stuckContext: ReceiverContext | undefined;
registerComponent(defineReceiver<Record<string, never>>({
  type: 'stuck_receiver', kind: 'receiver', description: 'a receiver whose shutdown never finishes (test only)', configSchema: { type: 'object', properties: {} },
  create: (_config, ctx) => ({
    start: async () => {
      stuckContext = ctx;
    },
    shutdown: () => new Promise<void>(() => undefined),
  }),
}));

it('a receiver that never stops: the exporters still drain everything within shutdown_timeout; late intake is refused, not lost', async () => {
  const pipeline = createPipeline({
    receivers: { push: {}, stuck_receiver: {} },
    processors: { batch: { send_batch_size: 100_000, timeout: '10s' } },
    exporters: { budget_sink: {} },
    service: {
      pipelines: { p: { receivers: ['push', 'stuck_receiver'], processors: ['batch'], exporters: ['budget_sink'] } },
      shutdown_timeout: '2s', telemetry: { metrics: { level: 'none' } },
    },
  }, { logger: silentLogger });
  await pipeline.start();
  // Held by the batch processor (its timeout is far away) until shutdown flushes it.
  for (let i = 0; i < 10; i++) assert.equal((await pipeline.push(eventBatch(100))).status, 'accepted');
  let release!: () => void;
  sink.gate = new Promise<void>((r) => (release = r));
  setTimeout(() => release(), 900); // the exporter is slow: it needs most of its budget
  const started = Date.now();
  const shutdown = pipeline.shutdown();
  // After the receivers' quarter of the budget (500 ms), their consumers are closed even though one never stopped.
  await new Promise((r) => setTimeout(r, 700));
  const late = stuckContext?.consumer.consume(eventBatch(5));
  const result = await shutdown;
  const took = Date.now() - started;
  assert.equal(result.drained, true);
  assert.equal(sink.items, 1000, 'every event accepted before shutdown delivered');
  assert.ok(took < 2_500, `took ${took} ms for a 2 s shutdown_timeout`);
  assert.ok(late !== undefined && late.status === 'refused', `what the stuck receiver takes after its stage is refused, not acknowledged: ${JSON.stringify(late)}`);
});
