/**
 * otlp-decode: spans/s the otlp receiver decodes (protobufjs) and converts to
 * Spans, for requests shaped like the OpenTelemetry Collector's load tests
 * (20-attribute spans). The Collector's published figure (about 12 k spans/s per
 * core sustained, end to end) is a reference, not an anchor run here.
 */
import { otlpTypes } from '../src/otel/proto.js';
import { convertTraces, type Msg } from '../src/receivers/otlp/convert.js';
import { ratePerSecond, series, writeResult } from './lib.js';

export async function run(): Promise<string> {
  const type = otlpTypes().request.traces;
  const SPANS = 10_000;
  const attributes = Array.from({ length: 20 }, (_, i) => ({
    key: `attr.${i}`,
    value: i % 4 === 0 ? { intValue: i * 1000 } : i % 4 === 1 ? { doubleValue: i / 3 } : i % 4 === 2 ? { boolValue: true } : { stringValue: `value-${i}-xxxxxxxx` },
  }));
  const spans = Array.from({ length: SPANS }, (_, i) => ({
    traceId: Buffer.from(`${((i >> 4) + 1).toString(16).padStart(32, '0')}`, 'hex'),
    spanId: Buffer.from(`${(i + 1).toString(16).padStart(16, '0')}`, 'hex'),
    name: `GET /users/${i % 50}`,
    kind: 2,
    startTimeUnixNano: 1764000000000000000n.toString(),
    endTimeUnixNano: 1764000000001000000n.toString(),
    attributes,
    status: { code: 1 },
  }));
  const body = Buffer.from(type.encode(type.fromObject({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'load' } }] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
  })).finish());
  const runs = 7;
  const decode = series('protobufjs decode', 'spans/s', ratePerSecond(SPANS, () => void type.decode(body), runs));
  const both = series('decode + convert to Spans', 'spans/s', ratePerSecond(SPANS, () => {
    const converted = convertTraces(type.decode(body) as unknown as Msg);
    if (converted.items.length !== SPANS) throw new Error('lost spans');
  }, runs));
  writeResult('otlp-decode', {
    input: { spans_per_request: SPANS, attributes_per_span: 20, request_bytes: body.length },
    reference: { name: 'OpenTelemetry Collector published sustained throughput', value: 12_000, unit: 'spans/s per core', measured_here: false },
    runs,
    series: [decode, both],
  });
  const fmt = (n: number): string => `${(n / 1e3).toFixed(0)} k`;
  return [
    `otlp-decode: ${SPANS} spans × 20 attributes per request (${(body.length / 1024).toFixed(0)} KiB)`,
    '',
    '| series | median | min – max | vs 12 k spans/s (Collector, published) |',
    '|---|---|---|---|',
    ...[decode, both].map((s) => `| ${s.name} | ${fmt(s.median)} spans/s | ${fmt(s.min)} – ${fmt(s.max)} | ${(s.median / 12_000).toFixed(0)}× |`),
  ].join('\n');
}
