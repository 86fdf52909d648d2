/** The otlp exporters' retry decisions, per the OTLP spec, and RetryInfo honoured end to end. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { classifyFailure, exportBatch } from '../../src/otel/export.js';
import { otlpTypes } from '../../src/otel/proto.js';
import { Collector, event, freePort, until } from '../helpers.js';

function grpcError(code: number, retryDelayMs?: number): Error & { code: number; metadata: Metadata } {
  const metadata = new Metadata();
  if (retryDelayMs !== undefined) {
    const { status, retryInfo } = otlpTypes();
    const value = retryInfo.encode(retryInfo.fromObject({ retryDelay: { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1e6 } })).finish();
    metadata.set('grpc-status-details-bin', Buffer.from(status.encode(status.fromObject({ code, details: [{ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value }] })).finish()));
  }
  return Object.assign(new Error(`grpc ${code}`), { code, metadata });
}

describe('otlp exporter retry decisions', () => {
  it('follows the OTLP spec for gRPC codes and HTTP statuses', () => {
    assert.deepEqual(classifyFailure(grpcError(14)), { retryable: true }); // UNAVAILABLE
    assert.deepEqual(classifyFailure(grpcError(4)), { retryable: true }); // DEADLINE_EXCEEDED
    assert.deepEqual(classifyFailure(grpcError(3)), { retryable: false }); // INVALID_ARGUMENT
    assert.deepEqual(classifyFailure(grpcError(16)), { retryable: false }); // UNAUTHENTICATED
    assert.deepEqual(classifyFailure(grpcError(8)), { retryable: false }, 'RESOURCE_EXHAUSTED without RetryInfo');
    assert.deepEqual(classifyFailure(grpcError(8, 1500)), { retryable: true, retryAfterMs: 1500 });
    assert.deepEqual(classifyFailure(Object.assign(new Error('bad'), { code: 400 })), { retryable: false });
    assert.deepEqual(classifyFailure(Object.assign(new Error('busy'), { code: 503 })), { retryable: true });
    assert.deepEqual(classifyFailure(Object.assign(new Error('slow down'), { code: 429 })), { retryable: true });
    assert.deepEqual(classifyFailure(new Error('ECONNREFUSED')), { retryable: true });
  });

  it('retries RESOURCE_EXHAUSTED with RetryInfo from a pushing-back scope-pipeline, and delivers exactly once', async () => {
    const sink = new Collector();
    registerComponent(sink.factory('retry_sink'));
    let release!: () => void;
    sink.gate = new Promise((r) => (release = r));
    const port = await freePort();
    const B = createPipeline({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { retry_sink: { sending_queue: { queue_size: 2 } } },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['retry_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    const A = createPipeline({
      receivers: { push: {} },
      exporters: { otlp: { endpoint: `127.0.0.1:${port}`, retry_on_failure: { initial_interval: '50ms' }, sending_queue: { num_consumers: 2 } } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['otlp'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await B.start();
    await A.start();
    try {
      await A.push({ events: [event({ id: 'r1' }), event({ id: 'r2' })], spans: [], metrics: [] });
      await A.push({ events: [event({ id: 'r3' }), event({ id: 'r4' })], spans: [], metrics: [] });
      await until(async () => (await B.metrics.sum('scope_receiver_refused_requests', { reason: 'queue_full' })) > 0, 10_000, 'B to push back');
      release();
      await until(() => sink.events.length === 4, 15_000, 'all four events at B');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(sink.events.map((e) => e.attributes['scope.event.id']).sort(), ['r1', 'r2', 'r3', 'r4']);
    } finally {
      sink.gate = undefined;
      await A.shutdown();
      await B.shutdown();
    }
    assert.equal(await A.metrics.sum('scope_exporter_send_failed_items'), 0);
    assert.equal(await A.metrics.sum('scope_exporter_sent_items'), 4);
  });
});

describe('otlp exporter partial delivery', () => {
  it('resumes a retried batch after the part that was already delivered', async () => {
    // Stand-ins for the SDK exporters: this checks our resume bookkeeping, not a wire protocol.
    const calls = { spans: 0, logs: 0 };
    let logsFail = true;
    const ok = { code: 0 };
    const exporters = {
      spans: { export: (_s: unknown, done: (r: { code: number }) => void) => { calls.spans++; done(ok); }, shutdown: async () => undefined },
      logs: {
        export: (_l: unknown, done: (r: { code: number; error?: Error }) => void) => {
          calls.logs++;
          done(logsFail ? { code: 1, error: Object.assign(new Error('unavailable'), { code: 503 }) } : ok);
        },
        shutdown: async () => undefined,
      },
      metrics: { export: (_m: unknown, done: (r: { code: number }) => void) => done(ok), shutdown: async () => undefined, forceFlush: async () => undefined },
      delivered: new WeakMap(),
    };
    const batch = {
      events: [event()],
      spans: [{
        traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 's', spanKind: 'internal' as const,
        startTimeUnixNano: 1n, endTimeUnixNano: 2n, attributes: {}, events: [], links: [], status: { code: 'unset' as const }, resource: {},
      }],
      metrics: [],
    };
    const first = await exportBatch(batch, exporters as never);
    assert.equal(first.ok, false);
    assert.equal(first.ok === false && first.retryable, true);
    logsFail = false;
    const second = await exportBatch(batch, exporters as never);
    assert.equal(second.ok, true);
    assert.deepEqual(calls, { spans: 1, logs: 2 }, 'the spans went out once');
  });
});
