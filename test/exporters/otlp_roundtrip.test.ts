/**
 * SDK -> scope-pipeline A (otlp receiver -> otlp / otlp_http exporter) ->
 * scope-pipeline B (otlp receiver -> debug file): everything survives the trip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createPipeline, parseJsonLine, silentLogger, type MetricPoint, type ScopeEvent, type Span } from '../../src/index.js';
import { event, freePort, tempDir, until } from '../helpers.js';

const quiet = { telemetry: { metrics: { level: 'none' } } };

function hr(t: [number, number]): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

for (const [label, exporter] of [
  ['otlp (gRPC)', (b: { grpc: number; http: number }) => ({ otlp: { endpoint: `127.0.0.1:${b.grpc}`, compression: 'gzip' } })],
  ['otlp_http (protobuf)', (b: { grpc: number; http: number }) => ({ otlp_http: { endpoint: `http://127.0.0.1:${b.http}`, encoding: 'proto' } })],
  ['otlp_http (JSON)', (b: { grpc: number; http: number }) => ({ otlp_http: { endpoint: `http://127.0.0.1:${b.http}`, encoding: 'json', compression: 'none' } })],
] as const) {
  describe(`round trip through ${label}`, () => {
    it('preserves ids, times, kinds, attributes, events, links, status, resource and scope; events arrive as log records', async (t) => {
      const dir = tempDir(t);
      const out = join(dir, 'b.jsonl');
      const b = { grpc: await freePort(), http: await freePort() };
      const aGrpc = await freePort();
      const B = createPipeline({
        receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${b.grpc}` }, http: { endpoint: `127.0.0.1:${b.http}` } } } },
        exporters: { debug: { path: out, format: 'json' } },
        service: { ...quiet, pipelines: { p: { receivers: ['otlp'], exporters: ['debug'] } } },
      }, { logger: silentLogger });
      const A = createPipeline({
        receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${aGrpc}` } } }, push: {} },
        exporters: exporter(b),
        service: { ...quiet, pipelines: { p: { receivers: ['otlp', 'push'], exporters: Object.keys(exporter(b)) } } },
      }, { logger: silentLogger });
      await B.start();
      await A.start();

      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'shop', 'deployment.environment': 'test' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${aGrpc}` })), new SimpleSpanProcessor(memory)],
      });
      const tracer = provider.getTracer('checkout', '2.0.0');
      const other = tracer.startSpan('other');
      other.end();
      const root = tracer.startSpan('POST /cart', { kind: SpanKind.SERVER, attributes: { s: 'x', i: 7, d: 1.5, b: false, arr: ['p', 'q'] } });
      const child = tracer.startSpan('db query', {
        kind: SpanKind.CLIENT,
        links: [{ context: other.spanContext(), attributes: { why: 'batch' } }],
      }, trace.setSpan(context.active(), root));
      child.addEvent('retry', { attempt: 2 });
      child.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
      child.end();
      root.end();
      await provider.forceFlush();
      const sent = memory.getFinishedSpans();
      await provider.shutdown();

      const beamEvent = event({ id: 'beam-1', attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': '{ping,1}', raw: new Uint8Array([0, 255, 7]), nested: { k: [1, 'x'] } } });
      const res = { 'service.name': 'beam', 'beam.node': 'app@host' };
      const points: MetricPoint[] = [
        { name: 'beam.process.message_queue_len', type: 'gauge', timeUnixNano: 1764000000000000000n, value: 12, attributes: { 'beam.pid': '<0.90.0>' }, resource: res },
        { name: 'beam.reductions', type: 'sum', unit: '{reduction}', monotonic: true, startTimeUnixNano: 1763999990000000000n, timeUnixNano: 1764000000000000000n, value: 1234.5, attributes: {}, resource: res },
        {
          name: 'beam.gc.pause', type: 'histogram', unit: 'ms', startTimeUnixNano: 1763999990000000000n, timeUnixNano: 1764000000000000000n, value: 9,
          histogram: { count: 3, sum: 9, explicitBounds: [1, 5], bucketCounts: [1, 1, 1], min: 0.5, max: 6 }, attributes: { kind: 'major' }, resource: res,
        },
        {
          name: 'beam.mailbox.wait', type: 'exponential_histogram', unit: 'us', startTimeUnixNano: 1763999990000000000n, timeUnixNano: 1764000000000000000n, value: 30.5,
          exponentialHistogram: { count: 4, sum: 30.5, scale: 2, zeroCount: 1, positive: { offset: 3, bucketCounts: [1, 0, 2] }, negative: { offset: 0, bucketCounts: [] }, min: 0, max: 12 },
          attributes: {}, resource: res,
        },
      ];
      // A summary cannot go through the SDK's serializer: counted as dropped by A, not lost silently.
      const summary: MetricPoint = {
        name: 'legacy.latency', type: 'summary', timeUnixNano: 1764000000000000000n, value: 10,
        summary: { count: 2, sum: 10, quantiles: [{ quantile: 0.5, value: 4 }] }, attributes: {}, resource: res,
      };
      await A.push({ events: [beamEvent], spans: [], metrics: [...points, summary] });

      const read = (): Array<ReturnType<typeof parseJsonLine>> => {
        try {
          return readFileSync(out, 'utf8').split('\n').filter(Boolean).map(parseJsonLine);
        } catch {
          return [];
        }
      };
      await until(() => read().length >= sent.length + 1 + points.length, 20_000, 'spans, the event and the metrics at B');
      await A.shutdown();
      await B.shutdown();
      const items = read();
      const spans = items.filter((i) => i.kind === 'span').map((i) => i.item as Span);
      assert.equal(spans.length, sent.length);
      for (const s of sent) {
        const r = spans.find((x) => x.spanId === s.spanContext().spanId);
        assert.ok(r, s.name);
        assert.equal(r.traceId, s.spanContext().traceId);
        assert.equal(r.parentSpanId, s.parentSpanContext?.spanId);
        assert.equal(r.name, s.name);
        assert.equal(r.spanKind, ['internal', 'server', 'client', 'producer', 'consumer'][s.kind]);
        assert.equal(r.startTimeUnixNano, hr(s.startTime));
        assert.equal(r.endTimeUnixNano, hr(s.endTime));
        assert.deepEqual(r.attributes, s.attributes);
        assert.deepEqual(r.events.map((e) => [e.name, e.timeUnixNano, e.attributes]), s.events.map((e) => [e.name, hr(e.time), e.attributes ?? {}]));
        assert.deepEqual(r.links.map((l) => [l.traceId, l.spanId, l.attributes]), s.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes ?? {}]));
        assert.equal(r.status.code, ['unset', 'ok', 'error'][s.status.code]);
        assert.equal(r.status.message, s.status.message);
        assert.deepEqual(r.scope, { name: 'checkout', version: '2.0.0' });
        assert.equal(r.resource['service.name'], 'shop');
        assert.equal(r.resource['deployment.environment'], 'test');
      }
      const metrics = items.filter((i) => i.kind === 'metric').map((i) => i.item as MetricPoint);
      for (const p of points) {
        const r = metrics.find((m) => m.name === p.name);
        assert.ok(r, p.name);
        assert.equal(r.type, p.type);
        assert.equal(r.value, p.value);
        assert.equal(r.unit, p.unit);
        assert.equal(r.timeUnixNano, p.timeUnixNano);
        assert.equal(r.startTimeUnixNano, p.startTimeUnixNano);
        assert.deepEqual(r.attributes, p.attributes);
        assert.equal(r.resource['beam.node'], 'app@host');
        if (p.type === 'sum') assert.equal(r.monotonic, true);
        if (p.histogram) assert.deepEqual(r.histogram, p.histogram);
        if (p.exponentialHistogram) assert.deepEqual(r.exponentialHistogram, p.exponentialHistogram);
      }
      assert.equal(metrics.find((m) => m.name === 'legacy.latency'), undefined);
      assert.equal(await A.metrics.sum('scope_exporter_send_failed_items', { reason: 'unsupported_signal' }), 1);
      const log = items.filter((i) => i.kind === 'event').map((i) => i.item as ScopeEvent)[0];
      assert.equal(log.type, 'otel.log');
      assert.equal(log.attributes['log.event_name'], 'message.send');
      assert.equal(log.attributes['beam.message'], '{ping,1}');
      assert.deepEqual(log.attributes.raw, new Uint8Array([0, 255, 7]), 'bytes survive A, B and the JSON-lines file');
      assert.deepEqual(log.attributes.nested, { k: [1, 'x'] });
      assert.equal(log.attributes['beam.pid'], '<0.80.0>');
      assert.equal(log.attributes['scope.event.id'], 'beam-1');
      assert.equal(log.time, beamEvent.time);
      assert.equal(log.resource?.['beam.node'], 'app@host');
    });
  });
}
