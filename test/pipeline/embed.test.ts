/** A Node developer embedding the library: a programmatic receiver and a custom exporter registered from outside. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPipeline, defineExporter, registerComponent, ScopeError, silentLogger,
  type Batch, type ExportResult,
} from '../../src/index.js';
import { event, eventBatch } from '../helpers.js';

describe('embedding the library', () => {
  it('runs push receiver -> batch -> a custom exporter registered from outside', async () => {
    const received: Batch[] = [];
    registerComponent(defineExporter<{ prefix: string }>({
      type: 'embed_test_sink',
      kind: 'exporter',
      description: 'collects batches in memory',
      configSchema: {
        type: 'object', additionalProperties: false,
        properties: { prefix: { type: 'string', default: 'got' } },
      },
      create: (config) => ({
        export: async (batch): Promise<ExportResult> => {
          assert.equal(config.prefix, 'mine');
          received.push(batch);
          return { ok: true };
        },
        shutdown: async () => undefined,
      }),
    }));

    const pipeline = createPipeline({
      receivers: { push: {} },
      processors: { batch: { send_batch_size: 100, timeout: '50ms' } },
      exporters: { embed_test_sink: { prefix: 'mine' } },
      service: {
        pipelines: { app: { receivers: ['push'], processors: ['batch'], exporters: ['embed_test_sink'] } },
        telemetry: { metrics: { level: 'none' } },
      },
    }, { logger: silentLogger });
    await pipeline.start();
    for (let i = 0; i < 10; i++) {
      const result = await pipeline.push(eventBatch(25));
      assert.equal(result.status, 'accepted');
    }
    const { drained } = await pipeline.shutdown();
    assert.equal(drained, true);
    assert.equal(received.reduce((n, b) => n + b.events.length, 0), 250);
    assert.ok(received.every((b) => b.events.length <= 100), 'batches are capped by send_batch_size merging');
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items', { receiver: 'push' }), 250);
    assert.equal(await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: 'embed_test_sink' }), 250);
  });

  it('rejects invalid events one by one with the schema path, and counts them', async () => {
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { debug: { path: '/dev/null' } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['debug'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const bad = event({ attributes: { 'beam.message': 'x' } }); // message.send without beam.peer_pid
    const result = await pipeline.push({ events: [event(), bad, event({ type: 'no.such_type' })], spans: [], metrics: [] });
    assert.equal(result.status, 'accepted');
    assert.ok(result.status === 'accepted');
    assert.equal(result.acceptedItems, 1);
    assert.equal(result.rejectedItems, 2);
    assert.match(result.rejections[0], /message_flow\.v1 \/attributes\/beam\.peer_pid: is required/);
    assert.match(result.rejections[1], /unknown event type "no\.such_type"/);
    await pipeline.shutdown();
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { receiver: 'push', reason: 'invalid_event' }), 2);
  });

  it('names the problem when push() has no push receiver, and when config is wrong', async () => {
    const pipeline = createPipeline({
      receivers: { jsonl: { path: '/dev/null' } },
      exporters: { debug: { path: '/dev/null' } },
      service: { pipelines: { p: { receivers: ['jsonl'], exporters: ['debug'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    await assert.rejects(pipeline.push(eventBatch(1)), (e: unknown) => e instanceof ScopeError && e.code === 'PUSH_TARGET');
    await pipeline.shutdown();
    assert.throws(
      () => createPipeline({ exporters: {}, service: { pipelines: { p: { receivers: ['push'], exporters: ['x'] } } } }),
      (e: unknown) => e instanceof ScopeError && e.code === 'CONFIG_INVALID' && e.problems.length === 2,
    );
  });

  it('shuts down safely without start and when called twice', async () => {
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { debug: { path: '/dev/null' } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['debug'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    const [a, b] = await Promise.all([pipeline.shutdown(), pipeline.shutdown()]);
    assert.deepEqual(a, { drained: true });
    assert.equal(a, b);
    await assert.rejects(pipeline.start(), (e: unknown) => e instanceof ScopeError && e.code === 'PIPELINE_STATE');
  });
});
