/**
 * What the otlp receiver refuses and cuts, over OTLP/HTTP (JSON and protobuf)
 * and OTLP/gRPC: values nested deeper than 64 (the reliability review's poison
 * requests, 5 000 deep), times and ids no item can hold, attributes beyond
 * the per-item limit, values beyond the size limit. Real OpenTelemetry SDK
 * exporters as clients where they can produce the input; a 64-deep value goes
 * on through the real otlp exporter to a second receiver intact.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createPipeline, parseJsonLine, registerComponent, silentLogger, type Pipeline } from '../../src/index.js';
import { otlpTypes } from '../../src/otel/proto.js';
import { Collector, freePort, until } from '../helpers.js';

const sinkA = new Collector();
const sinkB = new Collector();
registerComponent(sinkA.factory('limits_sink_a'));
registerComponent(sinkB.factory('limits_sink_b'));

let A: Pipeline;
let B: Pipeline;
let http = '';
let grpcTarget = '';
let debugFile = '';

// ---- building requests -------------------------------------------------------------------

/** OTLP/JSON AnyValue: `levels` kvlists (or arrays) around a string. */
function deepJson(levels: number, form: 'kvlist' | 'array'): string {
  const open = form === 'kvlist' ? '{"kvlistValue":{"values":[{"key":"k","value":' : '{"arrayValue":{"values":[';
  const close = form === 'kvlist' ? '}]}}' : ']}}';
  return open.repeat(levels) + '{"stringValue":"leaf"}' + close.repeat(levels);
}

/** The attribute value deepJson(levels, form) converts to. */
function deepValue(levels: number, form: 'kvlist' | 'array'): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = form === 'kvlist' ? { k: v } : [v];
  return v;
}

const TRACE = '5b8efff798038103d269b633813fc60c';
const spanJson = (i: number, attributes = '[]'): string =>
  `{"traceId":"${TRACE}","spanId":"${(i + 1).toString(16).padStart(16, '0')}","name":"s${i}","startTimeUnixNano":"1764000000000000000","endTimeUnixNano":"1764000000001000000","attributes":${attributes}}`;

/** 4 spans; the 4th (spans[3]) has 3 attributes, the 3rd of them (attributes[2]) `value`. */
function tracesWith(value: string): string {
  const attrs = `[{"key":"a","value":{"intValue":"1"}},{"key":"b","value":{"boolValue":true}},{"key":"deep","value":${value}}]`;
  return `{"resourceSpans":[{"scopeSpans":[{"spans":[${[0, 1, 2].map((i) => spanJson(i)).join(',')},${spanJson(3, attrs)}]}]}]}`;
}

// Protobuf by hand: protobufjs's own encoder recurses and will not write 5 000 levels.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const field = (number: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(body.length)]), body]);
const text = (number: number, s: string): Buffer => field(number, Buffer.from(s));
const fixed64 = (number: number, v: bigint): Buffer => {
  const b = Buffer.alloc(9);
  b[0] = (number << 3) | 1;
  b.writeBigUInt64LE(v, 1);
  return b;
};

/** AnyValue bytes: `levels` kvlists (or arrays) around a string. */
function deepProto(levels: number, form: 'kvlist' | 'array'): Buffer {
  let value = text(1, 'leaf');
  for (let i = 0; i < levels; i++) {
    value = form === 'kvlist' ? field(6, field(1, Buffer.concat([text(1, 'k'), field(2, value)]))) : field(5, field(1, value));
  }
  return value;
}

const keyValue = (key: string, value: Buffer): Buffer => Buffer.concat([text(1, key), field(2, value)]);

function spanProto(i: number, attributes: Buffer[] = []): Buffer {
  return Buffer.concat([
    field(1, Buffer.from(TRACE, 'hex')),
    field(2, Buffer.from((i + 1).toString(16).padStart(16, '0'), 'hex')),
    text(5, `s${i}`),
    fixed64(7, 1764000000000000000n),
    fixed64(8, 1764000000001000000n),
    ...attributes.map((a) => field(9, a)),
  ]);
}

/** The protobuf twin of tracesWith. */
function tracesProtoWith(value: Buffer): Buffer {
  const attrs = [keyValue('a', Buffer.from([0x18, 1])), keyValue('b', Buffer.from([0x10, 1])), keyValue('deep', value)];
  const spans = [0, 1, 2].map((i) => field(2, spanProto(i))).concat(field(2, spanProto(3, attrs)));
  return field(1, field(2, Buffer.concat(spans)));
}

/** ExportLogsServiceRequest with two records, the second's body `value`. */
function logsProtoWith(value: Buffer): Buffer {
  const record = (body: Buffer): Buffer => Buffer.concat([fixed64(1, 1764000000000000000n), field(5, body)]);
  return field(1, field(2, Buffer.concat([field(2, record(text(1, 'fine'))), field(2, record(value))])));
}

/** ExportMetricsServiceRequest: one gauge point whose first attribute is `value`. */
function metricsProtoWith(value: Buffer): Buffer {
  const point = Buffer.concat([fixed64(3, 1764000000000000000n), Buffer.from([0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]), field(7, keyValue('deep', value))]);
  const metric = Buffer.concat([text(1, 'm'), field(5, field(1, point))]);
  return field(1, field(2, field(2, metric)));
}

// ---- clients -----------------------------------------------------------------------------

async function post(path: string, body: string | Buffer, type = 'application/json'): Promise<{ status: number; message: string }> {
  const res = await fetch(`${http}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  if (type === 'application/json') {
    const answer = (await res.json()) as { message?: string };
    return { status: res.status, message: answer.message ?? '' };
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const message = res.status === 200 ? '' : String((otlpTypes().status.decode(bytes) as unknown as { message: string }).message);
  return { status: res.status, message };
}

function rawGrpc(path: string, body: Buffer): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(grpcTarget, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 * 1024 * 1024 });
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, (error) => {
      client.close();
      resolve(error ?? undefined);
    });
  });
}
const TRACES = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const LOGS = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const METRICS = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

const spansIn = (c: Collector): number => c.batches.reduce((n, b) => n + b.spans.length, 0);
const refused = (reason: string): Promise<number> => A.metrics.sum('scope_receiver_refused_items', { receiver: 'otlp', reason });

let dir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scope-limits-'));
  debugFile = join(dir, 'a.jsonl');
  const bPort = await freePort();
  B = createPipeline({
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${bPort}` } } } },
    exporters: { limits_sink_b: {} },
    service: { pipelines: { p: { receivers: ['otlp'], exporters: ['limits_sink_b'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await B.start();
  const httpPort = await freePort();
  const grpcPort = await freePort();
  http = `http://127.0.0.1:${httpPort}`;
  grpcTarget = `127.0.0.1:${grpcPort}`;
  A = createPipeline({
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${httpPort}` }, grpc: { endpoint: grpcTarget } } } },
    exporters: {
      limits_sink_a: {},
      otlp: { endpoint: `127.0.0.1:${bPort}`, retry_on_failure: { initial_interval: '100ms' } },
      debug: { path: debugFile, format: 'json' },
    },
    service: { pipelines: { p: { receivers: ['otlp'], exporters: ['limits_sink_a', 'otlp', 'debug'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await A.start();
});
after(async () => {
  await A.shutdown();
  await B.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('otlp receiver: nesting deeper than 64', () => {
  it('refuses 5 000-deep attributes (both forms, JSON and protobuf, HTTP and gRPC) with 400 / INVALID_ARGUMENT naming where; the next request is delivered', async () => {
    const where = 'resourceSpans[0].scopeSpans[0].spans[3].attributes[2].value: nested deeper than 64';
    const before = spansIn(sinkA);
    for (const form of ['kvlist', 'array'] as const) {
      const json = tracesWith(deepJson(5000, form));
      assert.ok(json.length > 100_000, `${json.length} bytes`);
      assert.deepEqual(await post('/v1/traces', json), { status: 400, message: where }, `JSON, ${form}`);
      const proto = tracesProtoWith(deepProto(5000, form));
      assert.deepEqual(await post('/v1/traces', proto, 'application/x-protobuf'), { status: 400, message: where }, `protobuf, ${form}`);
      const error = await rawGrpc(TRACES, proto);
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT, `gRPC, ${form}`);
      assert.equal(error?.details, where);
    }
    // As deep as a 4 MiB body allows: still no stack trouble, still the same answer.
    const huge = tracesWith(deepJson(80_000, 'kvlist'));
    const started = Date.now();
    assert.deepEqual(await post('/v1/traces', huge), { status: 400, message: where });
    console.log(`# ${(huge.length / 1e6).toFixed(1)} MB, 80 000 levels deep, answered 400 in ${Date.now() - started} ms`);
    assert.equal(await refused('too_deep'), 7);
    assert.equal(spansIn(sinkA), before, 'nothing of a refused request is delivered');

    assert.equal((await post('/v1/traces', tracesWith('{"stringValue":"fine"}'))).status, 200);
    await until(() => spansIn(sinkA) === before + 4, 5000, 'the request after them');
  });

  it('refuses deep values in resources, log bodies and metric attributes, over JSON, protobuf (checked on the wire) and gRPC', async () => {
    const resource = `{"resourceSpans":[{"resource":{"attributes":[{"key":"r","value":${deepJson(100, 'array')}}]},"scopeSpans":[{"spans":[${spanJson(0)}]}]}]}`;
    assert.deepEqual(await post('/v1/traces', resource), { status: 400, message: 'resourceSpans[0].resource.attributes[0].value: nested deeper than 64' });

    const logWhere = 'resourceLogs[0].scopeLogs[0].logRecords[1].body: nested deeper than 64';
    const logsJson = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"fine"}},{"body":${deepJson(3000, 'kvlist')}}]}]}]}`;
    assert.deepEqual(await post('/v1/logs', logsJson), { status: 400, message: logWhere });
    const logsProto = logsProtoWith(deepProto(3000, 'kvlist'));
    assert.deepEqual(await post('/v1/logs', logsProto, 'application/x-protobuf'), { status: 400, message: logWhere });
    assert.equal((await rawGrpc(LOGS, logsProto))?.details, logWhere);

    const metricWhere = 'resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].attributes[0].value: nested deeper than 64';
    const point = `{"timeUnixNano":"1764000000000000000","asDouble":1,"attributes":[{"key":"deep","value":${deepJson(3000, 'array')}}]}`;
    const metricsJson = `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[${point}]}}]}]}]}`;
    assert.deepEqual(await post('/v1/metrics', metricsJson), { status: 400, message: metricWhere });
    const metricsProto = metricsProtoWith(deepProto(3000, 'array'));
    assert.deepEqual(await post('/v1/metrics', metricsProto, 'application/x-protobuf'), { status: 400, message: metricWhere });
    assert.equal((await rawGrpc(METRICS, metricsProto))?.details, metricWhere);
  });

  it('takes a value exactly 64 deep on every path, and it reaches the debug file and, through the real otlp exporter, the next receiver intact', async () => {
    const beforeB = spansIn(sinkB);
    for (const form of ['kvlist', 'array'] as const) {
      assert.equal((await post('/v1/traces', tracesWith(deepJson(64, form)))).status, 200, `JSON ${form} 64`);
      assert.equal((await post('/v1/traces', tracesWith(deepJson(65, form)))).status, 400, `JSON ${form} 65`);
      assert.equal((await post('/v1/traces', tracesProtoWith(deepProto(64, form)), 'application/x-protobuf')).status, 200, `protobuf ${form} 64`);
      assert.equal((await post('/v1/traces', tracesProtoWith(deepProto(65, form)), 'application/x-protobuf')).status, 400, `protobuf ${form} 65`);
      assert.equal(await rawGrpc(TRACES, tracesProtoWith(deepProto(64, form))), undefined, `gRPC ${form} 64`);
    }
    assert.equal((await post('/v1/logs', logsProtoWith(deepProto(64, 'kvlist')), 'application/x-protobuf')).status, 200, 'logs protobuf 64');
    assert.equal((await post('/v1/logs', logsProtoWith(deepProto(65, 'kvlist')), 'application/x-protobuf')).status, 400, 'logs protobuf 65');
    assert.equal((await post('/v1/metrics', metricsProtoWith(deepProto(64, 'kvlist')), 'application/x-protobuf')).status, 200, 'metrics protobuf 64');

    // 3 requests per form (JSON, protobuf, gRPC) were taken by A; the otlp exporter carried them to B.
    const deepAtB = (form: 'kvlist' | 'array'): number => sinkB.batches.flatMap((b) => b.spans).slice(beforeB)
      .filter((s) => s.name === 's3' && JSON.stringify(s.attributes.deep) === JSON.stringify(deepValue(64, form))).length;
    await until(() => deepAtB('kvlist') + deepAtB('array') >= 6, 15_000, 'the 64-deep spans at B');
    assert.equal(deepAtB('kvlist'), 3, 'kvlist: JSON, protobuf, gRPC');
    assert.equal(deepAtB('array'), 3, 'array: JSON, protobuf, gRPC');
    await until(() => readFileSync(debugFile, 'utf8').includes('"leaf"'), 5000, 'the debug file');
    const lines = readFileSync(debugFile, 'utf8').trim().split('\n').map(parseJsonLine);
    assert.ok(lines.some((l) => l.kind === 'span' && JSON.stringify(l.item.attributes.deep) === JSON.stringify(deepValue(64, 'array'))));
    assert.equal((await A.metrics.sum('scope_exporter_send_failed_items')), 0, 'no exporter failed');
  });
});

describe('otlp receiver: values no item can hold', () => {
  it('refuses a request of 200 spans with one out-of-range start time, 400 naming the span, over JSON, protobuf and gRPC; none of the 200 is delivered', async () => {
    const before = spansIn(sinkA);
    const spans = Array.from({ length: 200 }, (_, i) => JSON.parse(spanJson(i)) as Record<string, unknown>);
    spans[137].startTimeUnixNano = '18446744073709551615';
    const where = 'resourceSpans[0].scopeSpans[0].spans[137].startTimeUnixNano: 18446744073709551615 is out of range (Unix nanoseconds from 0 to 9223372036854775807 (2262-04-11T23:47:16Z)) (span "s137")';
    const body = { resourceSpans: [{ scopeSpans: [{ spans }] }] };
    const beforeRefused = await refused('invalid_value');
    assert.deepEqual(await post('/v1/traces', JSON.stringify(body)), { status: 400, message: where });
    assert.equal(await refused('invalid_value') - beforeRefused, 200, 'every item of the refused request counted');

    const type = otlpTypes().request.traces;
    const proto = Buffer.from(type.encode(type.fromObject({
      resourceSpans: [{ scopeSpans: [{ spans: spans.map((s) => ({ ...s, traceId: Buffer.from(String(s.traceId), 'hex'), spanId: Buffer.from(String(s.spanId), 'hex'), attributes: [] })) }] }],
    })).finish());
    assert.deepEqual(await post('/v1/traces', proto, 'application/x-protobuf'), { status: 400, message: where });
    const error = await rawGrpc(TRACES, proto);
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(error?.details, where);

    spans[137].startTimeUnixNano = '1764000000000000000';
    assert.equal((await post('/v1/traces', JSON.stringify(body))).status, 200);
    await until(() => spansIn(sinkA) - before === 200, 5000, 'the corrected request');
  });

  it('refuses negative and malformed times, and ids of the wrong length, naming the item', async () => {
    const one = (overrides: Record<string, unknown>): string => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ ...JSON.parse(spanJson(0)), ...overrides }] }] }] });
    const at = 'resourceSpans[0].scopeSpans[0].spans[0]';
    assert.deepEqual(await post('/v1/traces', one({ endTimeUnixNano: -5 })), {
      status: 400, message: `${at}.endTimeUnixNano: -5 is not a time (Unix nanoseconds from 0 to 9223372036854775807 (2262-04-11T23:47:16Z)) (span "s0")`,
    });
    assert.match((await post('/v1/traces', one({ startTimeUnixNano: '12:00' }))).message, /spans\[0\]\.startTimeUnixNano: "12:00" is not a time/);
    assert.match((await post('/v1/traces', one({ startTimeUnixNano: 1.5e19 }))).message, /startTimeUnixNano: 15000000000000000000 is out of range/);
    assert.deepEqual(await post('/v1/traces', one({ traceId: 'abcd' })), {
      status: 400, message: `${at}.traceId: "abcd" is not 16 bytes of hex (32 hex digits, or empty) (span "s0")`,
    });
    assert.match((await post('/v1/traces', one({ events: [{ name: 'e', timeUnixNano: '99999999999999999999' }] }))).message, /spans\[0\]\.events\[0\]\.timeUnixNano: 99999999999999999999 is out of range/);
    assert.match((await post('/v1/traces', one({ links: [{ traceId: TRACE, spanId: 'ab' }] }))).message, /spans\[0\]\.links\[0\]\.spanId: "ab" is not 8 bytes/);

    const type = otlpTypes().request.traces;
    const shortSpanId = Buffer.from(type.encode(type.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.from(TRACE, 'hex'), spanId: Buffer.from([1, 2, 3]), name: 'short' }] }] }] })).finish());
    const expected = `${at}.spanId: 3 bytes, must be 8 (or empty) (span "short")`;
    assert.deepEqual(await post('/v1/traces', shortSpanId, 'application/x-protobuf'), { status: 400, message: expected });
    assert.equal((await rawGrpc(TRACES, shortSpanId))?.details, expected);

    const log = await post('/v1/logs', JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '18446744073709551615', body: { stringValue: 'x' } }] }] }] }));
    assert.equal(log.status, 400);
    assert.match(log.message, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.timeUnixNano: 18446744073709551615 is out of range/);
    const metric = await post('/v1/metrics', JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { dataPoints: [{ asInt: '1', timeUnixNano: '1', startTimeUnixNano: '-1' }] } }] }] }] }));
    assert.equal(metric.status, 400);
    assert.match(metric.message, /^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.sum\.dataPoints\[0\]\.startTimeUnixNano: "-1" is not a time/);
    // An item that is only incomplete (an all-zero trace id) is still rejected on its own, as partial success.
    const partial = await fetch(`${http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: one({ traceId: '0'.repeat(32) }) });
    assert.equal(partial.status, 200);
    assert.match(JSON.stringify(await partial.json()), /"rejectedSpans":"?1"?.*trace_id must be 16 non-zero bytes/);
  });

  for (const [label, make] of [
    ['http/protobuf', () => new TracesProto({ url: `${http}/v1/traces` })],
    ['grpc', () => new TracesGrpc({ url: `http://${grpcTarget}` })],
  ] as const) {
    it(`is a permanent error to the real SDK exporter (${label}): reported failed, not retried`, async () => {
      const before = await refused('invalid_value');
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'far-future' }), spanProcessors: [new SimpleSpanProcessor(memory)] });
      // 10^10 s after 1970: year 2286, a valid uint64 of nanoseconds but beyond what the model holds.
      provider.getTracer('t').startSpan('from 2286', { startTime: [1e10, 0] }).end([1e10, 1000]);
      await provider.forceFlush();
      const spans = memory.getFinishedSpans();
      await provider.shutdown();
      const exporter = make() as SpanExporter;
      const results = [await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve))];
      await exporter.shutdown();
      assert.equal(results.length, 1);
      assert.equal(results[0].code, ExportResultCode.FAILED);
      assert.match(String((results[0].error as { data?: unknown } | undefined)?.data ?? results[0].error?.message), /spans\[0\]\.startTimeUnixNano: 10000000000000000000 is out of range/);
      // The SDK's export finished only after any retries it would make: the receiver saw the request once.
      assert.equal(await refused('invalid_value') - before, 1);
    });
  }
});

describe('otlp receiver: attribute limits', () => {
  let C: Pipeline;
  const sink = new Collector();
  registerComponent(sink.factory('limits_sink_c'));
  let url = '';

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    C = createPipeline({
      receivers: { otlp: { max_attributes_per_item: 10, max_attribute_value_size: '1KiB', protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { limits_sink_c: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['limits_sink_c'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await C.start();
  });
  after(() => C.shutdown());

  it('keeps max_attributes_per_item attributes per span, event and resource from the real SDK, counts the rest and records them on the item', async () => {
    const memory = new InMemorySpanExporter();
    const resourceAttrs = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`r${i}`, i]));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(resourceAttrs),
      spanProcessors: [new SimpleSpanProcessor(new TracesProto({ url: `${url}/v1/traces` })), new SimpleSpanProcessor(memory)],
    });
    const span = provider.getTracer('t').startSpan('wide', { attributes: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`a${String(i).padStart(2, '0')}`, i])) });
    span.addEvent('ev', Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`e${i}`, i])));
    span.end();
    await provider.forceFlush();
    const [sent] = memory.getFinishedSpans() as ReadableSpan[];
    await provider.shutdown();
    await until(() => sink.batches.some((b) => b.spans.length > 0), 5000, 'the span');
    const got = sink.batches.flatMap((b) => b.spans)[0];
    const kept = Object.keys(sent.attributes).slice(0, 10);
    assert.deepEqual(got.attributes, { ...Object.fromEntries(kept.map((k) => [k, sent.attributes[k]])), 'otel.dropped_attributes_count': 15 });
    assert.equal(Object.keys(got.events[0].attributes).length, 11);
    assert.equal(got.events[0].attributes['otel.dropped_attributes_count'], 2);
    assert.equal(got.resource['otel.dropped_attributes_count'], Object.keys(sent.resource.attributes).length - 10);
    assert.equal(await C.metrics.sum('scope_receiver_truncated_attributes', { receiver: 'otlp', reason: 'max_attributes_per_item' }), 15 + 2 + Object.keys(sent.resource.attributes).length - 10);
  });

  it('cuts string values on a UTF-8 boundary and bytes values to max_attribute_value_size, nested ones too, and counts them', async () => {
    const long = 'a' + 'é'.repeat(1000); // 2001 bytes; 1024 would split an é
    const b64 = Buffer.alloc(3000, 7).toString('base64');
    const body = {
      resourceLogs: [{
        scopeLogs: [{
          logRecords: [{
            timeUnixNano: '1764000000000000000',
            body: { stringValue: long },
            attributes: [
              { key: 's', value: { stringValue: long } },
              { key: 'b', value: { bytesValue: b64 } },
              { key: 'nested', value: { arrayValue: { values: [{ stringValue: 'short' }, { kvlistValue: { values: [{ key: 'x', value: { stringValue: long } }] } }] } } },
            ],
          }],
        }],
      }],
    };
    const res = await fetch(`${url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    await until(() => sink.events.length > 0, 5000, 'the log record');
    const e = sink.events[0];
    const cut = 'a' + 'é'.repeat(511);
    assert.equal(Buffer.byteLength(cut), 1023);
    assert.equal(e.attributes.s, cut);
    assert.deepEqual(e.attributes.b, new Uint8Array(1024).fill(7));
    assert.deepEqual(e.attributes.nested, ['short', { x: cut }]);
    assert.equal(e.body, long, 'log bodies are not cut');
    assert.equal(await C.metrics.sum('scope_receiver_truncated_attributes', { receiver: 'otlp', reason: 'max_attribute_value_size' }), 3);
  });
});
