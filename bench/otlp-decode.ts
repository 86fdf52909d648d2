/**
 * otlp-decode: spans/s the otlp receiver decodes (protobufjs) and converts to
 * Spans, for requests shaped like the OpenTelemetry Collector's load tests
 * (20-attribute spans). The Collector's published figure (about 12 k spans/s per
 * core sustained, end to end) is a reference, not an anchor run here.
 */
import { otlpTypes } from '../src/otel/proto.js';
import { convertTraces, type Msg } from '../src/receivers/otlp/convert.js';
import { decodeTraceRequest } from '../src/receivers/otlp/wire_traces.js';
import { ratePerSecond, series, writeResult } from './lib.js';

/** One request of `count` spans with `attributeCount` attributes each (ints, doubles, booleans, strings). */
export function request(count: number, attributeCount: number): Buffer {
  const type = otlpTypes().request.traces;
  const attributes = Array.from({ length: attributeCount }, (_, i) => ({
    key: `attr.${i}`,
    value: i % 4 === 0 ? { intValue: i * 1000 } : i % 4 === 1 ? { doubleValue: i / 3 } : i % 4 === 2 ? { boolValue: true } : { stringValue: `value-${i}-xxxxxxxx` },
  }));
  const spans = Array.from({ length: count }, (_, i) => ({
    traceId: Buffer.from(`${((i >> 4) + 1).toString(16).padStart(32, '0')}`, 'hex'),
    spanId: Buffer.from(`${(i + 1).toString(16).padStart(16, '0')}`, 'hex'),
    name: `GET /users/${i % 50}`,
    kind: 2,
    startTimeUnixNano: 1764000000000000000n.toString(),
    endTimeUnixNano: 1764000000001000000n.toString(),
    attributes,
    status: { code: 1 },
  }));
  return Buffer.from(type.encode(type.fromObject({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'load' } }] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
  })).finish());
}

export async function run(): Promise<string> {
  const type = otlpTypes().request.traces;
  const SPANS = 10_000;
  const runs = 7;
  const shapes = [20, 2].map((attributeCount) => {
    const body = request(SPANS, attributeCount);
    const decode = series(`protobufjs decode, ${attributeCount} attributes`, 'spans/s', ratePerSecond(SPANS, () => void type.decode(body), runs));
    const both = series(`decode + convert to Spans, ${attributeCount} attributes`, 'spans/s', ratePerSecond(SPANS, () => {
      const converted = convertTraces(type.decode(body) as unknown as Msg);
      if (converted.items.length !== SPANS) throw new Error('lost spans');
    }, runs));
    const wire = series(`wire reader straight to Spans (the receiver), ${attributeCount} attributes`, 'spans/s', ratePerSecond(SPANS, () => {
      if (decodeTraceRequest(body).items.length !== SPANS) throw new Error('lost spans');
    }, runs));
    return { attributeCount, bytes: body.length, decode, both, wire };
  });
  writeResult('otlp-decode', {
    input: { spans_per_request: SPANS, shapes: shapes.map((s) => ({ attributes_per_span: s.attributeCount, request_bytes: s.bytes })) },
    reference: { name: 'OpenTelemetry Collector published sustained throughput', value: 12_000, unit: 'spans/s per core', measured_here: false },
    runs,
    series: shapes.flatMap((s) => [s.decode, s.both, s.wire]),
  });
  const fmt = (n: number): string => `${(n / 1e3).toFixed(0)} k`;
  return [
    `otlp-decode: requests of ${SPANS} spans, 20 and 2 attributes per span`,
    '',
    '| series | median | min – max | vs 12 k spans/s (Collector, published) |',
    '|---|---|---|---|',
    ...shapes.flatMap((s) => [s.decode, s.both, s.wire]).map((s) => `| ${s.name} | ${fmt(s.median)} spans/s | ${fmt(s.min)} – ${fmt(s.max)} | ${(s.median / 12_000).toFixed(0)}× |`),
  ].join('\n');
}
