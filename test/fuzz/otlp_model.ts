/**
 * Random OTLP requests for the fuzz properties, as a neutral model written
 * out two ways: OTLP/protobuf (encoded by protobufjs from the project's
 * .proto files, src/otel/proto.ts) and OTLP/JSON (hex ids, decimal-string
 * 64-bit integers, base64 bytes, enums as numbers or names), plus the spans
 * the receiver must make of a trace request.
 */
import fc from 'fast-check';
import { otlpTypes, type Signal } from '../../src/otel/proto.js';
import type { AttributeValue, Attributes, Span, SpanKind, StatusCode } from '../../src/model/types.js';
import type { Msg } from '../../src/receivers/otlp/convert.js';
import { MAX_TIME_NANOS } from '../../src/receivers/otlp/limits.js';

// ---- the model -------------------------------------------------------------------------------

export type AnyV = { s: string } | { b: boolean } | { i: bigint } | { d: number } | { bytes: Uint8Array } | { arr: AnyV[] } | { kv: KV[] };
export type KV = [string, AnyV];

export interface EventM { time: bigint; name: string; attrs: KV[] }
export interface LinkM { traceId: Uint8Array; spanId: Uint8Array; traceState: string; attrs: KV[] }
export interface SpanM {
  traceId: Uint8Array; spanId: Uint8Array; parent?: Uint8Array; traceState: string; name: string; kind: number;
  start: bigint; end: bigint; attrs: KV[]; events: EventM[]; links: LinkM[]; status?: { code: number; message: string };
}
export interface LogM {
  time: bigint; observed: bigint; severityNumber: number; severityText: string; body?: AnyV; attrs: KV[];
  traceId?: Uint8Array; spanId?: Uint8Array; eventName: string;
}
export interface PointM { time: bigint; start: bigint; value: { double: number } | { int: bigint }; attrs: KV[] }
export interface MetricM { name: string; unit: string; description: string; kind: 'gauge' | 'sum'; monotonic: boolean; points: PointM[] }
export interface ScopeM<T> { name: string; version: string; items: T[] }
export interface ResourceM<T> { attrs: KV[]; scopes: Array<ScopeM<T>> }
export type RequestM =
  | { signal: 'traces'; resources: Array<ResourceM<SpanM>> }
  | { signal: 'logs'; resources: Array<ResourceM<LogM>> }
  | { signal: 'metrics'; resources: Array<ResourceM<MetricM>> };

// ---- arbitraries -----------------------------------------------------------------------------

/** Attribute keys: any text, names of Object.prototype members included. */
export const keyArbitrary = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('service.name', 'http.route', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', ''),
);

const int64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(2n ** 53n, 2n ** 53n - 1n, -(2n ** 53n), -(2n ** 63n), 2n ** 63n - 1n),
);
/** Doubles JSON can carry and give back (no NaN, no infinities, no -0). */
const jsonDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0));

export function anyValueArbitrary(keys: fc.Arbitrary<string> = keyArbitrary): fc.Arbitrary<AnyV> {
  const { v } = fc.letrec<{ v: AnyV }>((tie) => ({
    v: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'anyvalue' },
      { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => ({ s })), weight: 3 },
      fc.boolean().map((b) => ({ b })),
      int64.map((i) => ({ i })),
      jsonDouble.map((d) => ({ d })),
      fc.uint8Array({ maxLength: 16 }).map((bytes) => ({ bytes })),
      fc.array(tie('v'), { maxLength: 4 }).map((arr) => ({ arr })),
      fc.uniqueArray(fc.tuple(keys, tie('v')), { selector: ([k]) => k, maxLength: 4 }).map((kv) => ({ kv })),
    ),
  }));
  return v;
}

export const attrsArbitrary = (keys: fc.Arbitrary<string> = keyArbitrary): fc.Arbitrary<KV[]> =>
  fc.uniqueArray(fc.tuple(keys, anyValueArbitrary(keys)), { selector: ([k]) => k, maxLength: 5 });

const nonZero = (len: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: len, maxLength: len }).filter((b) => b.some((x) => x !== 0));
const time = fc.oneof(fc.bigInt({ min: 0n, max: MAX_TIME_NANOS }), fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_800_000_000_000_000_000n }), fc.constantFrom(0n, MAX_TIME_NANOS));
const name = fc.string({ unit: 'grapheme', maxLength: 16 });

export const spanArbitrary: fc.Arbitrary<SpanM> = fc.record(
  {
    traceId: nonZero(16),
    spanId: nonZero(8),
    parent: fc.oneof(nonZero(8), fc.constant(new Uint8Array(8))),
    traceState: fc.constantFrom('', 'a=b', 'vendor=x,other=y'),
    name,
    kind: fc.integer({ min: 0, max: 5 }),
    start: time,
    end: time,
    attrs: attrsArbitrary(),
    events: fc.array(fc.record({ time, name, attrs: attrsArbitrary() }), { maxLength: 2 }),
    links: fc.array(fc.record({ traceId: nonZero(16), spanId: nonZero(8), traceState: fc.constantFrom('', 'k=v'), attrs: attrsArbitrary() }), { maxLength: 2 }),
    status: fc.record({ code: fc.integer({ min: 0, max: 2 }), message: fc.constantFrom('', 'boom', 'naïve ☕') }),
  },
  { requiredKeys: ['traceId', 'spanId', 'traceState', 'name', 'kind', 'start', 'end', 'attrs', 'events', 'links'] },
);

export const logArbitrary: fc.Arbitrary<LogM> = fc.record(
  {
    time, observed: time, severityNumber: fc.integer({ min: 0, max: 24 }), severityText: fc.constantFrom('', 'INFO', 'error'),
    body: anyValueArbitrary(), attrs: attrsArbitrary(), traceId: nonZero(16), spanId: nonZero(8), eventName: fc.constantFrom('', 'db.query'),
  },
  { requiredKeys: ['time', 'observed', 'severityNumber', 'severityText', 'attrs', 'eventName'] },
);

export const metricArbitrary: fc.Arbitrary<MetricM> = fc.record({
  name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }),
  unit: fc.constantFrom('', 'ms', '{request}'),
  description: fc.constantFrom('', 'how many'),
  kind: fc.constantFrom('gauge' as const, 'sum' as const),
  monotonic: fc.boolean(),
  points: fc.array(fc.record({ time, start: time, value: fc.oneof(jsonDouble.map((double) => ({ double })), int64.map((int) => ({ int }))), attrs: attrsArbitrary() }), { minLength: 1, maxLength: 3 }),
});

function resources<T>(item: fc.Arbitrary<T>): fc.Arbitrary<Array<ResourceM<T>>> {
  return fc.array(fc.record({
    attrs: attrsArbitrary(),
    scopes: fc.array(fc.record({ name: fc.constantFrom('', 'scope_beam', 'my.lib'), version: fc.constantFrom('', '1.2.3'), items: fc.array(item, { maxLength: 4 }) }), { minLength: 1, maxLength: 2 }),
  }), { minLength: 1, maxLength: 2 });
}

export const requestArbitrary = (signal?: Signal): fc.Arbitrary<RequestM> => {
  const traces = resources(spanArbitrary).map((r): RequestM => ({ signal: 'traces', resources: r }));
  const logs = resources(logArbitrary).map((r): RequestM => ({ signal: 'logs', resources: r }));
  const metrics = resources(metricArbitrary).map((r): RequestM => ({ signal: 'metrics', resources: r }));
  return signal === 'traces' ? traces : signal === 'logs' ? logs : signal === 'metrics' ? metrics : fc.oneof(traces, logs, metrics);
};

// ---- writing it out --------------------------------------------------------------------------

const HEX = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** OTLP/protobuf objects for protobufjs fromObject (64-bit integers as decimal text). */
function protoValue(v: AnyV): Msg {
  if ('s' in v) return { stringValue: v.s };
  if ('b' in v) return { boolValue: v.b };
  if ('i' in v) return { intValue: v.i.toString() };
  if ('d' in v) return { doubleValue: v.d };
  if ('bytes' in v) return { bytesValue: v.bytes };
  if ('arr' in v) return { arrayValue: { values: v.arr.map(protoValue) } };
  return { kvlistValue: { values: v.kv.map(protoKv) } };
}
const protoKv = ([key, value]: KV): Msg => ({ key, value: protoValue(value) });

/** OTLP/JSON: `style` picks among the spellings the spec allows (ints as text or numbers, enums as numbers or names, hex in either case). */
export interface JsonStyle { intsAsNumbers: boolean; enumNames: boolean; upperHex: boolean }

function jsonValue(v: AnyV, style: JsonStyle): Msg {
  if ('s' in v) return { stringValue: v.s };
  if ('b' in v) return { boolValue: v.b };
  if ('i' in v) return { intValue: style.intsAsNumbers && v.i >= -BigInt(Number.MAX_SAFE_INTEGER) && v.i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.i) : v.i.toString() };
  if ('d' in v) return { doubleValue: v.d };
  if ('bytes' in v) return { bytesValue: Buffer.from(v.bytes).toString('base64') };
  if ('arr' in v) return { arrayValue: { values: v.arr.map((x) => jsonValue(x, style)) } };
  return { kvlistValue: { values: v.kv.map((kv) => jsonKv(kv, style)) } };
}
const jsonKv = ([key, value]: KV, style: JsonStyle): Msg => ({ key, value: jsonValue(value, style) });

type Form = 'proto' | 'json';

const SPAN_KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** The request as an object: for protobufjs (form proto) or as OTLP/JSON. */
export function requestObject(req: RequestM, form: Form, style: JsonStyle = { intsAsNumbers: false, enumNames: false, upperHex: false }): Msg {
  const value = (v: AnyV): Msg => (form === 'proto' ? protoValue(v) : jsonValue(v, style));
  const kvs = (attrs: KV[]): Msg[] => attrs.map(([key, v]) => ({ key, value: value(v) }));
  const id = (b: Uint8Array | undefined): unknown => (b === undefined ? undefined : form === 'proto' ? b : style.upperHex ? HEX(b).toUpperCase() : HEX(b));
  const t = (x: bigint): string => x.toString();
  const scope = (s: { name: string; version: string }): Msg => ({ name: s.name, version: s.version });
  const enumOf = (n: number, names: string[]): unknown => (form === 'json' && style.enumNames ? names[n] : n);
  switch (req.signal) {
    case 'traces':
      return {
        resourceSpans: req.resources.map((r) => ({
          resource: { attributes: kvs(r.attrs) },
          scopeSpans: r.scopes.map((s) => ({
            scope: scope(s),
            spans: s.items.map((sp) => ({
              traceId: id(sp.traceId), spanId: id(sp.spanId), ...(sp.parent ? { parentSpanId: id(sp.parent) } : {}),
              traceState: sp.traceState, name: sp.name, kind: enumOf(sp.kind, SPAN_KIND_NAMES),
              startTimeUnixNano: t(sp.start), endTimeUnixNano: t(sp.end), attributes: kvs(sp.attrs),
              events: sp.events.map((e) => ({ timeUnixNano: t(e.time), name: e.name, attributes: kvs(e.attrs) })),
              links: sp.links.map((l) => ({ traceId: id(l.traceId), spanId: id(l.spanId), traceState: l.traceState, attributes: kvs(l.attrs) })),
              ...(sp.status ? { status: { code: enumOf(sp.status.code, STATUS_NAMES), message: sp.status.message } } : {}),
            })),
          })),
        })),
      };
    case 'logs':
      return {
        resourceLogs: req.resources.map((r) => ({
          resource: { attributes: kvs(r.attrs) },
          scopeLogs: r.scopes.map((s) => ({
            scope: scope(s),
            logRecords: s.items.map((l) => ({
              timeUnixNano: t(l.time), observedTimeUnixNano: t(l.observed), severityNumber: l.severityNumber, severityText: l.severityText,
              ...(l.body ? { body: value(l.body) } : {}), attributes: kvs(l.attrs),
              ...(l.traceId ? { traceId: id(l.traceId) } : {}), ...(l.spanId ? { spanId: id(l.spanId) } : {}), eventName: l.eventName,
            })),
          })),
        })),
      };
    case 'metrics':
      return {
        resourceMetrics: req.resources.map((r) => ({
          resource: { attributes: kvs(r.attrs) },
          scopeMetrics: r.scopes.map((s) => ({
            scope: scope(s),
            metrics: s.items.map((m) => {
              const dataPoints = m.points.map((p) => ({
                timeUnixNano: t(p.time), startTimeUnixNano: t(p.start), attributes: kvs(p.attrs),
                ...('double' in p.value ? { asDouble: p.value.double } : { asInt: form === 'json' && style.intsAsNumbers && p.value.int <= BigInt(Number.MAX_SAFE_INTEGER) && p.value.int >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.value.int) : p.value.int.toString() }),
              }));
              return {
                name: m.name, unit: m.unit, description: m.description,
                ...(m.kind === 'gauge' ? { gauge: { dataPoints } } : { sum: { dataPoints, isMonotonic: m.monotonic, aggregationTemporality: 2 } }),
              };
            }),
          })),
        })),
      };
  }
}

/** OTLP/protobuf bytes of the request. */
export function protobufBytes(req: RequestM): Uint8Array {
  const type = otlpTypes().request[req.signal];
  return type.encode(type.fromObject(requestObject(req, 'proto'))).finish();
}

/** OTLP/JSON of the request, parsed back as the HTTP receiver parses a body. */
export function jsonBody(req: RequestM, style?: JsonStyle): Msg {
  return JSON.parse(JSON.stringify(requestObject(req, 'json', style))) as Msg;
}

// ---- what the receiver must make of it -------------------------------------------------------

const SPAN_KINDS: SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS: StatusCode[] = ['unset', 'ok', 'error'];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Own enumerable properties however the key is spelled (`__proto__` included). */
function put(out: Record<string, AttributeValue>, key: string, value: AttributeValue): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

export function expectedValue(v: AnyV): AttributeValue {
  if ('s' in v) return v.s;
  if ('b' in v) return v.b;
  if ('i' in v) return v.i >= -MAX_SAFE && v.i <= MAX_SAFE ? Number(v.i) : v.i.toString();
  if ('d' in v) return v.d;
  if ('bytes' in v) return new Uint8Array(v.bytes);
  if ('arr' in v) return v.arr.map(expectedValue);
  const out: Record<string, AttributeValue> = {};
  for (const [k, x] of v.kv) put(out, k, expectedValue(x));
  return out;
}

export function expectedAttributes(attrs: KV[]): Attributes {
  const out: Attributes = {};
  for (const [k, v] of attrs) put(out, k, expectedValue(v));
  return out;
}

const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** The spans a trace request must become (every generated span is valid: nothing is rejected). */
export function expectedSpans(req: Extract<RequestM, { signal: 'traces' }>): Span[] {
  const out: Span[] = [];
  for (const r of req.resources) {
    for (const s of r.scopes) {
      for (const sp of s.items) {
        const span: Span = {
          traceId: HEX(sp.traceId), spanId: HEX(sp.spanId), name: sp.name, spanKind: SPAN_KINDS[sp.kind],
          startTimeUnixNano: sp.start, endTimeUnixNano: sp.end, attributes: expectedAttributes(sp.attrs),
          events: sp.events.map((e) => ({ name: e.name, timeUnixNano: e.time, attributes: expectedAttributes(e.attrs) })),
          links: sp.links.map((l) => ({ traceId: HEX(l.traceId), spanId: HEX(l.spanId), ...(l.traceState ? { traceState: l.traceState } : {}), attributes: expectedAttributes(l.attrs) })),
          status: { code: STATUS[sp.status?.code ?? 0], ...(sp.status?.message ? { message: sp.status.message } : {}) },
          resource: expectedAttributes(r.attrs),
        };
        if (sp.parent && !isZero(sp.parent)) span.parentSpanId = HEX(sp.parent);
        if (sp.traceState) span.traceState = sp.traceState;
        if (s.name) span.scope = s.version ? { name: s.name, version: s.version } : { name: s.name };
        out.push(span);
      }
    }
  }
  return out;
}

// ---- a protobuf writer of our own ------------------------------------------------------------
// protobufjs's fromObject stops at its recursion limit: values nested a few hundred deep are written here.

function varint(n: bigint): number[] {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const tag = (field: number, wire: number): number[] => varint(BigInt((field << 3) | wire));
const len = (field: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([...tag(field, 2), ...varint(BigInt(body.length))]), body]);
const str = (field: number, s: string): Buffer => len(field, Buffer.from(s, 'utf8'));
const uint = (field: number, v: bigint | number): Buffer => Buffer.from([...tag(field, 0), ...varint(BigInt(v))]);
function fixed64(field: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return Buffer.concat([Buffer.from(tag(field, 1)), b]);
}
function double(field: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([Buffer.from(tag(field, 1)), b]);
}
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

function anyValueBytes(v: AnyV): Buffer {
  if ('s' in v) return str(1, v.s);
  if ('b' in v) return uint(2, v.b ? 1 : 0);
  if ('i' in v) return uint(3, v.i);
  if ('d' in v) return double(4, v.d);
  if ('bytes' in v) return len(7, Buffer.from(v.bytes));
  if ('arr' in v) return len(5, cat(...v.arr.map((x) => len(1, anyValueBytes(x)))));
  return len(6, cat(...v.kv.map((kv) => len(1, keyValueBytes(kv)))));
}
const keyValueBytes = ([key, value]: KV): Buffer => cat(str(1, key), len(2, anyValueBytes(value)));
const attrsBytes = (field: number, attrs: KV[]): Buffer => cat(...attrs.map((kv) => len(field, keyValueBytes(kv))));
const scopeBytes = (s: { name: string; version: string }): Buffer => len(1, cat(str(1, s.name), str(2, s.version)));

function spanBytes(s: SpanM): Buffer {
  return cat(
    len(1, Buffer.from(s.traceId)), len(2, Buffer.from(s.spanId)), str(3, s.traceState), ...(s.parent ? [len(4, Buffer.from(s.parent))] : []),
    str(5, s.name), uint(6, s.kind), fixed64(7, s.start), fixed64(8, s.end), attrsBytes(9, s.attrs),
    ...s.events.map((e) => len(11, cat(fixed64(1, e.time), str(2, e.name), attrsBytes(3, e.attrs)))),
    ...s.links.map((l) => len(13, cat(len(1, Buffer.from(l.traceId)), len(2, Buffer.from(l.spanId)), str(3, l.traceState), attrsBytes(4, l.attrs)))),
    ...(s.status ? [len(15, cat(str(2, s.status.message), uint(3, s.status.code)))] : []),
  );
}

function logBytes(l: LogM): Buffer {
  return cat(
    fixed64(1, l.time), fixed64(11, l.observed), uint(2, l.severityNumber), str(3, l.severityText), ...(l.body ? [len(5, anyValueBytes(l.body))] : []),
    attrsBytes(6, l.attrs), ...(l.traceId ? [len(9, Buffer.from(l.traceId))] : []), ...(l.spanId ? [len(10, Buffer.from(l.spanId))] : []), str(12, l.eventName),
  );
}

function metricBytes(m: MetricM): Buffer {
  const points = m.points.map((p) => len(1, cat(
    attrsBytes(7, p.attrs), fixed64(2, p.start), fixed64(3, p.time),
    'double' in p.value ? double(4, p.value.double) : fixed64(6, p.value.int),
  )));
  const data = m.kind === 'gauge' ? len(5, cat(...points)) : len(7, cat(...points, uint(2, 2), uint(3, m.monotonic ? 1 : 0)));
  return cat(str(1, m.name), str(2, m.description), str(3, m.unit), data);
}

/** OTLP/protobuf bytes of the request, written by hand (any nesting depth). */
export function protobufBytesByHand(req: RequestM): Uint8Array {
  const resource = (attrs: KV[]): Buffer => len(1, attrsBytes(1, attrs));
  let out: Buffer;
  switch (req.signal) {
    case 'traces':
      out = cat(...req.resources.map((r) => len(1, cat(resource(r.attrs), ...r.scopes.map((s) => len(2, cat(scopeBytes(s), ...s.items.map((x) => len(2, spanBytes(x))))))))));
      break;
    case 'logs':
      out = cat(...req.resources.map((r) => len(1, cat(resource(r.attrs), ...r.scopes.map((s) => len(2, cat(scopeBytes(s), ...s.items.map((x) => len(2, logBytes(x))))))))));
      break;
    case 'metrics':
      out = cat(...req.resources.map((r) => len(1, cat(resource(r.attrs), ...r.scopes.map((s) => len(2, cat(scopeBytes(s), ...s.items.map((x) => len(2, metricBytes(x))))))))));
      break;
  }
  return new Uint8Array(out);
}
