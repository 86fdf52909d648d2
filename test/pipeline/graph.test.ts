/** Topology and flow control: fan-in, fan-out, shared receivers, backpressure, drops by reason, retry, health. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPipeline, defineProcessor, registerComponent, silentLogger, type Pipeline,
} from '../../src/index.js';
import { map } from 'rxjs';
import { Collector, eventBatch, until } from '../helpers.js';

const a = new Collector();
const b = new Collector();
const slow = new Collector();
const failing = new Collector();
registerComponent(a.factory('graph_a'));
registerComponent(b.factory('graph_b'));
registerComponent(slow.factory('graph_slow'));
registerComponent(failing.factory('graph_failing'));

let mutated = 0;
registerComponent(defineProcessor<Record<string, never>>({
  type: 'graph_tagger',
  kind: 'processor',
  description: 'tags every event in place (a mutating processor)',
  mutatesData: true,
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: () => ({
    operator: map((batch) => {
      for (const e of batch.events) {
        e.attributes['tagged'] = true;
        mutated++;
      }
      return batch;
    }),
  }),
}));

const quiet = { telemetry: { metrics: { level: 'none' } } };

describe('pipeline graph', () => {
  it('fans in several receivers, fans out to several exporters, and shares one receiver between pipelines', async () => {
    const before = { a: a.items, b: b.items };
    const pipeline = createPipeline({
      receivers: { push: {}, 'push/second': {} },
      processors: { graph_tagger: {} },
      exporters: { graph_a: {}, graph_b: {} },
      service: {
        ...quiet,
        pipelines: {
          tagged: { receivers: ['push', 'push/second'], processors: ['graph_tagger'], exporters: ['graph_a'] },
          plain: { receivers: ['push'], exporters: ['graph_a', 'graph_b'] },
        },
      },
    }, { logger: silentLogger });
    await pipeline.start();
    await pipeline.push(eventBatch(10));
    await pipeline.push(eventBatch(5), 'push/second');
    await pipeline.shutdown();
    // push feeds both pipelines (10 + 10 into graph_a), push/second only the tagged one (5).
    assert.equal(a.items - before.a, 25);
    assert.equal(b.items - before.b, 10);
    // The mutating pipeline got its own copy: what the plain pipeline exported is untagged.
    const plainEvents = b.events.slice(-10);
    assert.ok(plainEvents.every((e) => e.attributes['tagged'] === undefined));
    assert.equal(a.events.slice(-25).filter((e) => e.attributes['tagged'] === true).length, 15);
    assert.equal(mutated, 15);
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items', { receiver: 'push' }), 10);
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items', { receiver: 'push/second' }), 5);
    assert.equal(await pipeline.metrics.sum('scope_processor_incoming_items', { processor: 'graph_tagger', pipeline: 'tagged' }), 15);
  });

  it('pushes back above the high-water mark and drops the newest only when a queue is really full', async () => {
    let release!: () => void;
    slow.gate = new Promise((r) => (release = r));
    const pipeline: Pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { graph_slow: { sending_queue: { queue_size: 100 } } },
      service: { ...quiet, pipelines: { p: { receivers: ['push'], exporters: ['graph_slow'] } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const before = slow.items;
    // 60 items: above the high-water mark (50), so the next push waits instead of being lost.
    assert.equal((await pipeline.push(eventBatch(60))).status, 'accepted');
    let secondDone = false;
    const second = pipeline.push(eventBatch(30)).then((r) => {
      secondDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(secondDone, false, 'push() waits while the exporter queue is above its high-water mark');
    release();
    assert.equal((await second).status, 'accepted');
    await pipeline.shutdown();
    slow.gate = undefined;
    assert.equal(slow.items - before, 90);
    assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items'), 0);
  });

  it('retries retryable failures, turns /healthz unhealthy when failures persist, and counts the loss', async () => {
    failing.failWith = { retryable: true, message: 'backend down' };
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: {
        graph_failing: { retry_on_failure: { initial_interval: '5ms', max_interval: '10ms', max_elapsed_time: '300ms' } },
      },
      service: {
        telemetry: { metrics: { endpoint: '127.0.0.1:0' } },
        pipelines: { p: { receivers: ['push'], exporters: ['graph_failing'] } },
      },
    }, { logger: silentLogger });
    await pipeline.start();
    const address = pipeline.telemetryAddress;
    assert.ok(address);
    const healthz = `http://127.0.0.1:${address.port}/healthz`;
    assert.equal((await fetch(healthz)).status, 200);
    await pipeline.push(eventBatch(7));
    await until(async () => (await fetch(healthz)).status === 503, 5000, 'unhealthy');
    const body = (await (await fetch(healthz)).json()) as { status: string; components: Record<string, string> };
    assert.equal(body.status, 'unhealthy');
    assert.match(body.components['exporter:graph_failing'], /backend down/);
    await until(async () => (await pipeline.metrics.sum('scope_exporter_send_failed_items', { reason: 'export_error' })) === 7, 5000, 'the batch to be given up');

    failing.failWith = undefined;
    await pipeline.push(eventBatch(3));
    await until(async () => (await fetch(healthz)).status === 200, 5000, 'healthy again');
    const metricsText = await (await fetch(`http://127.0.0.1:${address.port}/metrics`)).text();
    assert.match(metricsText, /scope_exporter_send_failed_items_total\{exporter="graph_failing",reason="export_error"[^}]*\} 7/);
    assert.match(metricsText, /scope_process_memory_rss_bytes/);
    assert.match(metricsText, /scope_process_event_loop_lag_seconds/);
    await pipeline.shutdown();
    assert.equal(await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: 'graph_failing' }), 3);
  });

  it('does not retry non-retryable failures', async () => {
    failing.failWith = { retryable: false, message: 'bad request' };
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { graph_failing: { retry_on_failure: { initial_interval: '1h' } } },
      service: { ...quiet, pipelines: { p: { receivers: ['push'], exporters: ['graph_failing'] } } },
    }, { logger: silentLogger });
    await pipeline.start();
    await pipeline.push(eventBatch(4));
    const { drained } = await pipeline.shutdown();
    failing.failWith = undefined;
    assert.equal(drained, true);
    assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items', { reason: 'export_error' }), 4);
  });

  it('counts queued items it must drop at the shutdown deadline', async () => {
    slow.gate = new Promise(() => undefined); // never released
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { graph_slow: {} },
      service: { ...quiet, shutdown_timeout: '200ms', pipelines: { p: { receivers: ['push'], exporters: ['graph_slow'] } } },
    }, { logger: silentLogger });
    await pipeline.start();
    await pipeline.push(eventBatch(6));
    await pipeline.push(eventBatch(4));
    const { drained } = await pipeline.shutdown();
    slow.gate = undefined;
    assert.equal(drained, false);
    // The batch in flight (6) is abandoned by the deadline; the queued one (4) is dropped with reason shutdown.
    assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items', { reason: 'shutdown' }), 4);
  });
});
