/**
 * The otlp receiver's gRPC protocol with the OpenTelemetry JS SDK's gRPC
 * exporters, and a raw grpc-js client for the error answers the spec asks for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createPipeline, registerComponent, silentLogger, type Pipeline } from '../../src/index.js';
import { otlpTypes } from '../../src/otel/proto.js';
import { Collector, freePort, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('otlp_grpc_sink'));
const resource = resourceFromAttributes({ 'service.name': 'shop' });
let pipeline: Pipeline;
let url = '';

before(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  pipeline = createPipeline({
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: { otlp_grpc_sink: {} },
    service: { pipelines: { p: { receivers: ['otlp'], exporters: ['otlp_grpc_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
});
after(async () => {
  await pipeline.shutdown();
});

/** A raw unary call to an OTLP Export method with arbitrary bytes. */
function rawExport(target: string, path: string, body: Buffer, metadata = new grpc.Metadata()): Promise<{ error?: grpc.ServiceError; response?: Buffer }> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, metadata, (error, response) => {
      client.close();
      resolve(error ? { error } : { response: response as Buffer });
    });
  });
}

describe('otlp receiver over gRPC', () => {
  it('receives spans, logs and metrics from the SDK gRPC exporters intact', async () => {
    const memory = new InMemorySpanExporter();
    const tracing = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url })), new SimpleSpanProcessor(memory)] });
    const span = tracing.getTracer('grpc-test', '1.0').startSpan('GET /users/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/users/:id', n: 3, ok: true, r: 0.25, tags: ['a'] } });
    span.addEvent('cache miss', { key: 'u1' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    span.end();
    await tracing.forceFlush();
    const [sent] = memory.getFinishedSpans();
    await tracing.shutdown();

    const logging = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url }) })] });
    logging.getLogger('grpc-logs').emit({ severityNumber: SeverityNumber.WARN, body: { k: [1, 'two'] }, attributes: { a: 'b' } });
    await logging.forceFlush();
    await logging.shutdown();

    const metrics = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url }), exportIntervalMillis: 60_000 })] });
    metrics.getMeter('grpc-metrics').createCounter('calls').add(2, { route: '/users/:id' });
    await metrics.forceFlush();
    await metrics.shutdown();

    await until(() => sink.batches.some((b) => b.spans.length > 0) && sink.events.length > 0 && sink.batches.some((b) => b.metrics.length > 0), 10_000, 'all three signals');
    const got = sink.batches.flatMap((b) => b.spans).find((s) => s.spanId === sent.spanContext().spanId);
    assert.ok(got);
    assert.equal(got.traceId, sent.spanContext().traceId);
    assert.equal(got.spanKind, 'server');
    assert.deepEqual(got.attributes, { 'http.route': '/users/:id', n: 3, ok: true, r: 0.25, tags: ['a'] });
    assert.deepEqual(got.events.map((e) => [e.name, e.attributes]), [['cache miss', { key: 'u1' }]]);
    assert.deepEqual(got.status, { code: 'error', message: 'boom' });
    assert.equal(got.resource['service.name'], 'shop');
    const log = sink.events.find((e) => e.type === 'otel.log');
    assert.deepEqual(log?.body, { k: [1, 'two'] });
    assert.equal(log?.attributes['log.severity_number'], SeverityNumber.WARN);
    const calls = sink.batches.flatMap((b) => b.metrics).find((m) => m.name === 'calls');
    assert.equal(calls?.value, 2);
    assert.equal(calls?.type, 'sum');
  });

  it('answers INVALID_ARGUMENT to an undecodable request and keeps serving', async () => {
    const target = url.replace('http://', '');
    const bad = await rawExport(target, '/opentelemetry.proto.collector.trace.v1.TraceService/Export', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
    assert.equal(bad.error?.code, grpc.status.INVALID_ARGUMENT);
    const type = otlpTypes().request.traces;
    const good = await rawExport(target, '/opentelemetry.proto.collector.trace.v1.TraceService/Export', Buffer.from(type.encode(type.fromObject({ resourceSpans: [] })).finish()));
    assert.equal(good.error, undefined);
  });

  it('answers RESOURCE_EXHAUSTED with RetryInfo while the pipeline pushes back, and UNAUTHENTICATED without the token', async () => {
    const slow = new Collector();
    registerComponent(slow.factory('otlp_grpc_slow'));
    let release!: () => void;
    slow.gate = new Promise((r) => (release = r));
    const port = await freePort();
    const p = createPipeline({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}`, auth: { bearer_token: 's3cret' } } } } },
      exporters: { otlp_grpc_slow: { sending_queue: { queue_size: 2 } } },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['otlp_grpc_slow'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      const type = otlpTypes().request.traces;
      const request = Buffer.from(type.encode(type.fromObject({
        resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2), name: 'a' }, { traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 3), name: 'b' }] }] }],
      })).finish());
      const path = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
      const noToken = await rawExport(`127.0.0.1:${port}`, path, request);
      assert.equal(noToken.error?.code, grpc.status.UNAUTHENTICATED);
      const auth = new grpc.Metadata();
      auth.set('authorization', 'Bearer s3cret');
      assert.equal((await rawExport(`127.0.0.1:${port}`, path, request, auth)).error, undefined);
      const pushed = await rawExport(`127.0.0.1:${port}`, path, request, auth);
      assert.equal(pushed.error?.code, grpc.status.RESOURCE_EXHAUSTED);
      const details = pushed.error?.metadata.get('grpc-status-details-bin')[0] as Buffer;
      const { status, retryInfo } = otlpTypes();
      const decoded = status.toObject(status.decode(details)) as { details: Array<{ typeUrl: string; value: Uint8Array }> };
      assert.equal(decoded.details[0].typeUrl, 'type.googleapis.com/google.rpc.RetryInfo');
      const info = retryInfo.toObject(retryInfo.decode(decoded.details[0].value), { longs: Number }) as { retryDelay: { seconds?: number; nanos?: number } };
      assert.ok((info.retryDelay.seconds ?? 0) * 1000 + (info.retryDelay.nanos ?? 0) / 1e6 > 0);
      release();
      await until(() => slow.items === 2, 5000, 'the accepted batch');
    } finally {
      slow.gate = undefined;
      await p.shutdown();
    }
  });
});
