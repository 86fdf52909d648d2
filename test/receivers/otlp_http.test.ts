/**
 * The otlp receiver's HTTP protocol driven by the real OpenTelemetry JS SDK and
 * its OTLP/HTTP exporters (protobuf and JSON): everything the SDK sends must
 * arrive intact.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as LogsJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as TracesJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createPipeline, registerComponent, silentLogger, type Pipeline } from '../../src/index.js';
import { Collector, freePort, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('otlp_sink'));
let pipeline: Pipeline;
let base = '';

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  pipeline = createPipeline({
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}`, max_request_body_size: '1MiB' } } } },
    exporters: { otlp_sink: {} },
    service: { pipelines: { p: { receivers: ['otlp'], exporters: ['otlp_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
});
after(async () => {
  await pipeline.shutdown();
});

const resource = resourceFromAttributes({ 'service.name': 'shop', 'service.version': '1.2.3' });

function hrToNanos(t: [number, number]): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

async function sendSpans(exporter: TracesJson | TracesProto): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter), new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('checkout', '0.9.0');
  const parent = tracer.startSpan('POST /cart/items', { kind: SpanKind.SERVER, attributes: { 'http.route': '/cart/items', 'http.response.status_code': 500 } });
  const linked = tracer.startSpan('enqueue');
  linked.end();
  const ctx = trace.setSpan(context.active(), parent);
  const child = tracer.startSpan('Shop.Cart.handle_call/3', {
    kind: SpanKind.INTERNAL,
    links: [{ context: linked.spanContext(), attributes: { 'link.kind': 'queue' } }],
    attributes: { str: 'x', int: 42, double: 2.5, bool: true, strs: ['a', 'b'], ints: [1, 2, 3] },
  }, ctx);
  child.addEvent('exception', { 'exception.type': 'FunctionClauseError' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'no clause matching' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.OK });
  parent.end();
  await provider.forceFlush();
  const finished = memory.getFinishedSpans(); // shutdown() clears the in-memory exporter
  await provider.shutdown();
  return finished;
}

describe('otlp receiver over HTTP with the OpenTelemetry JS SDK', () => {
  for (const [label, make] of [
    ['http/protobuf', () => new TracesProto({ url: `${base}/v1/traces` })],
    ['http/json', () => new TracesJson({ url: `${base}/v1/traces` })],
    ['http/protobuf gzip', () => new TracesProto({ url: `${base}/v1/traces`, compression: 'gzip' as never })],
  ] as const) {
    it(`receives spans intact (${label})`, async () => {
      const before = sink.batches.flatMap((b) => b.spans).length;
      const sent = await sendSpans(make());
      await until(() => sink.batches.flatMap((b) => b.spans).length - before === sent.length, 10_000, 'the spans');
      const got = sink.batches.flatMap((b) => b.spans).slice(before);
      for (const s of sent) {
        const r = got.find((g) => g.spanId === s.spanContext().spanId);
        assert.ok(r, `span ${s.name}`);
        assert.equal(r.traceId, s.spanContext().traceId);
        assert.equal(r.parentSpanId, s.parentSpanContext?.spanId);
        assert.equal(r.name, s.name);
        assert.equal(r.startTimeUnixNano, hrToNanos(s.startTime));
        assert.equal(r.endTimeUnixNano, hrToNanos(s.endTime));
        assert.deepEqual(r.attributes, s.attributes);
        assert.deepEqual(r.resource, { ...resource.attributes, ...Object.fromEntries(Object.entries(r.resource).filter(([k]) => k.startsWith('telemetry.sdk'))) });
        assert.deepEqual(r.scope, { name: 'checkout', version: '0.9.0' });
        assert.deepEqual(r.events.map((e) => [e.name, e.timeUnixNano, e.attributes]), s.events.map((e) => [e.name, hrToNanos(e.time), e.attributes ?? {}]));
        assert.deepEqual(r.links.map((l) => [l.traceId, l.spanId, l.attributes]), s.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes ?? {}]));
        assert.equal(r.status.code, ['unset', 'ok', 'error'][s.status.code]);
        assert.equal(r.status.message, s.status.message);
      }
      assert.deepEqual(got.map((g) => g.spanKind).sort(), ['internal', 'internal', 'server']);
    });
  }

  for (const [label, make] of [
    ['http/protobuf', () => new LogsProto({ url: `${base}/v1/logs` })],
    ['http/json', () => new LogsJson({ url: `${base}/v1/logs` })],
  ] as const) {
    it(`receives log records as otel.log events, kvlist and bytes bodies included (${label})`, async () => {
      const before = sink.events.length;
      const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: make() })] });
      const logger = provider.getLogger('shop.logger', '1.0.0');
      logger.emit({
        severityNumber: SeverityNumber.ERROR,
        severityText: 'ERROR',
        body: { reason: 'function_clause', tries: 3, raw: new Uint8Array([1, 2, 255]), tags: ['a', 'b'] },
        attributes: { 'code.function': 'handle_call/3', count: 7, ratio: 0.5, ok: false },
        timestamp: [1764000000, 123456789],
      });
      await provider.forceFlush();
      await provider.shutdown();
      await until(() => sink.events.length > before, 10_000, 'the log record');
      const e = sink.events[sink.events.length - 1];
      assert.equal(e.type, 'otel.log');
      assert.equal(e.time, 1764000000123456789n);
      assert.equal(e.source.node, 'shop');
      assert.deepEqual(e.body, { reason: 'function_clause', tries: 3, raw: new Uint8Array([1, 2, 255]), tags: ['a', 'b'] });
      assert.equal(e.attributes['code.function'], 'handle_call/3');
      assert.equal(e.attributes.count, 7);
      assert.equal(e.attributes.ratio, 0.5);
      assert.equal(e.attributes.ok, false);
      assert.equal(e.attributes['log.severity_text'], 'ERROR');
      assert.equal(e.attributes['log.severity_number'], SeverityNumber.ERROR);
      assert.equal(e.resource?.['service.name'], 'shop');
    });
  }

  it('receives metrics: sums, gauges and histograms (http/protobuf)', async () => {
    const before = sink.batches.flatMap((b) => b.metrics).length;
    const reader = new PeriodicExportingMetricReader({ exporter: new MetricsProto({ url: `${base}/v1/metrics` }), exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const meter = provider.getMeter('shop.metrics');
    meter.createCounter('orders', { unit: '{order}' }).add(3, { region: 'eu' });
    meter.createHistogram('latency', { unit: 'ms' }).record(12, { route: '/cart' });
    meter.createObservableGauge('queue_len').addCallback((r) => r.observe(5));
    await provider.forceFlush();
    await provider.shutdown();
    await until(() => sink.batches.flatMap((b) => b.metrics).length - before >= 3, 10_000, 'the metrics');
    const got = sink.batches.flatMap((b) => b.metrics).slice(before);
    const orders = got.find((m) => m.name === 'orders');
    assert.equal(orders?.type, 'sum');
    assert.equal(orders?.value, 3);
    assert.equal(orders?.monotonic, true);
    assert.deepEqual(orders?.attributes, { region: 'eu' });
    const latency = got.find((m) => m.name === 'latency');
    assert.equal(latency?.type, 'histogram');
    assert.equal(latency?.histogram?.count, 1);
    assert.equal(latency?.histogram?.sum, 12);
    assert.equal(got.find((m) => m.name === 'queue_len')?.value, 5);
  });

  it('answers partial success for invalid spans, 400 for garbage, 415 for wrong types, 413 past the limit, and keeps serving', async () => {
    const goodSpan = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'ok', startTimeUnixNano: '1', endTimeUnixNano: '2' };
    // An all-zero trace id is well formed but invalid (OTLP): that span alone is rejected. A malformed one ('zz') refuses the request (otlp_limits.test).
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [goodSpan, { ...goodSpan, traceId: '0'.repeat(32), name: 'bad' }] }] }] };
    const partial = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(partial.status, 200);
    const answer = (await partial.json()) as { partialSuccess?: { rejectedSpans?: number | string; errorMessage?: string } };
    assert.equal(Number(answer.partialSuccess?.rejectedSpans), 1);
    assert.match(answer.partialSuccess?.errorMessage ?? '', /trace_id/);

    const garbage = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x08]) });
    assert.equal(garbage.status, 400);
    const badJson = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans": [' });
    assert.equal(badJson.status, 400);
    assert.match(((await badJson.json()) as { message: string }).message, /not JSON/);
    const wrongType = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(wrongType.status, 415);
    const big = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.alloc(2 * 1024 * 1024) });
    assert.equal(big.status, 413);
    const bomb = await fetch(`${base}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(Buffer.alloc(8 * 1024 * 1024, 32)),
    });
    assert.equal(bomb.status, 413, 'the limit applies after decompression');
    const notFound = await fetch(`${base}/v1/nothing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(notFound.status, 404);
    // Still serving.
    const again = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: [] }) });
    assert.equal(again.status, 200);
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { receiver: 'otlp', reason: 'invalid_item' }), 1);
    assert.ok((await pipeline.metrics.sum('scope_receiver_refused_items', { receiver: 'otlp', reason: 'malformed' })) >= 2);
  });
});

describe('otlp receiver metric kinds', () => {
  it('takes exponential histograms and summaries as MetricPoints', async () => {
    const before = sink.batches.flatMap((b) => b.metrics).length;
    const body = {
      resourceMetrics: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
        scopeMetrics: [{
          metrics: [
            {
              name: 'rpc.latency', unit: 'ms',
              exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: '1764000000000000000', count: '4', sum: 30.5, scale: 2, zeroCount: '1', positive: { offset: 3, bucketCounts: ['1', '0', '2'] }, min: 0, max: 12 }] },
            },
            {
              name: 'gc.pause',
              summary: { dataPoints: [{ timeUnixNano: '1764000000000000000', count: '2', sum: 10, quantileValues: [{ quantile: 0.5, value: 4 }, { quantile: 0.99, value: 6 }] }] },
            },
          ],
        }],
      }],
    };
    const res = await fetch(`${base}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    await until(() => sink.batches.flatMap((b) => b.metrics).length - before === 2, 5000, 'both points');
    const got = sink.batches.flatMap((b) => b.metrics).slice(before);
    assert.deepEqual(got[0].exponentialHistogram, { count: 4, sum: 30.5, scale: 2, zeroCount: 1, positive: { offset: 3, bucketCounts: [1, 0, 2] }, negative: { offset: 0, bucketCounts: [] }, min: 0, max: 12 });
    assert.equal(got[0].type, 'exponential_histogram');
    assert.deepEqual(got[1].summary, { count: 2, sum: 10, quantiles: [{ quantile: 0.5, value: 4 }, { quantile: 0.99, value: 6 }] });
    assert.equal(got[1].type, 'summary');
  });
});

describe('otlp receiver pushback', () => {
  it('answers 429 with Retry-After while the pipeline pushes back; the SDK retries and every span arrives exactly once', async () => {
    const slow = new Collector();
    registerComponent(slow.factory('otlp_slow_sink'));
    let release!: () => void;
    slow.gate = new Promise((r) => (release = r));
    const port = await freePort();
    const p = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { otlp_slow_sink: { sending_queue: { queue_size: 4 } } },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['otlp_slow_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      const direct = { resourceSpans: [{ scopeSpans: [{ spans: Array.from({ length: 3 }, (_, i) => ({
        traceId: '5b8efff798038103d269b633813fc60c', spanId: `00000000000000a${i}`, name: `direct-${i}`, startTimeUnixNano: '1', endTimeUnixNano: '2',
      })) }] }] };
      const first = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(direct) });
      assert.equal(first.status, 200, 'the first batch fills the queue past its high-water mark');
      const refused = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(direct) });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);

      const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(new TracesProto({ url: `http://127.0.0.1:${port}/v1/traces` }))] });
      const tracer = provider.getTracer('pushback');
      const ids = Array.from({ length: 10 }, (_, i) => {
        const span = tracer.startSpan(`retry-${i}`);
        span.end();
        return span.spanContext().spanId;
      });
      setTimeout(release, 300);
      await provider.forceFlush();
      await provider.shutdown();
      await until(() => slow.batches.flatMap((b) => b.spans).filter((s) => s.name.startsWith('retry-')).length >= ids.length, 20_000, 'every span');
      await new Promise((r) => setTimeout(r, 200));
      const got = slow.batches.flatMap((b) => b.spans).filter((s) => s.name.startsWith('retry-')).map((s) => s.spanId);
      assert.deepEqual([...got].sort(), [...ids].sort(), 'each span exactly once');
      // Refused before their bodies were read: counted per request (the spans were never decoded, and are retried).
      assert.ok((await p.metrics.sum('scope_receiver_refused_requests', { receiver: 'otlp', reason: 'queue_full' })) >= 1);
    } finally {
      slow.gate = undefined;
      await p.shutdown();
    }
  });
});

describe('otlp receiver CORS', () => {
  it('is off unless configured, and answers preflight for allowed origins only', async () => {
    const port = await freePort();
    const p = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}`, cors: { allowed_origins: ['https://app.example'] } } } } },
      exporters: { otlp_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['otlp_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      const preflight = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
      const other = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
      assert.notEqual(other.status, 204);
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    } finally {
      await p.shutdown();
    }
    // The shared pipeline above has no cors: no CORS headers at all.
    const plain = await fetch(`${base}/v1/traces`, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('access-control-allow-origin'), null);
  });
});
