/**
 * OTLP requests → the data model. Works on both decoded protobuf messages
 * (protobufjs: camelCase fields, Long for 64-bit integers, Uint8Array for
 * bytes, enums as numbers) and OTLP/JSON objects (hex ids, decimal-string
 * 64-bit integers, base64 bytes, enums as numbers or names).
 * Items that cannot be represented are rejected one by one, as partial success.
 */
import type { AttributeValue, Attributes, MetricPoint, ScopeEvent, Span, SpanKind, StatusCode } from '../../model/types.js';

interface LongLike { low: number; high: number; unsigned?: boolean; toString(): string }
type Int64 = LongLike | string | number | bigint | null | undefined;
type Bytes = Uint8Array | string | null | undefined;

/** A decoded OTLP message: a protobufjs message or a parsed JSON object, read field by field. */
export type Msg = Record<string, unknown>;

export interface Converted<T> {
  items: T[];
  rejected: number;
  /** The first few reasons, for the partial-success error_message. */
  errors: string[];
}

const HEX = '0123456789abcdef';

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b >> 4] + HEX[b & 15];
  return out;
}

/** An id as lowercase hex of exactly `len` bytes, or undefined when absent, or null when invalid. */
function id(value: Bytes, len: number): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (value === '') return undefined;
    return value.length === len * 2 && /^[0-9a-fA-F]+$/.test(value) ? value.toLowerCase() : null;
  }
  if (value.length === 0) return undefined;
  return value.length === len ? hex(value) : null;
}

function isZero(h: string): boolean {
  return /^0+$/.test(h);
}

export function nanos(value: Int64): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string') return /^\d+$/.test(value) ? BigInt(value) : 0n;
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** A signed 64-bit integer as a number when exact, else its decimal text. */
function int(value: Int64): number | string {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const big = typeof value === 'bigint' ? value : typeof value === 'string' ? BigInt(value) : BigInt.asIntN(64, nanos(value));
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

/** A copy, so the event does not keep the whole request buffer alive. */
function bytes(value: Bytes): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array(0);
  return typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'base64')) : new Uint8Array(value);
}

/**
 * Own properties only: protobufjs puts proto3 defaults on the prototype, so an
 * unset oneof member still reads as '' or 0; only the member that was on the
 * wire (or in the JSON) is an own property.
 */
const has = (m: Msg, key: string): boolean => Object.prototype.hasOwnProperty.call(m, key) && m[key] !== null && m[key] !== undefined;

/** AnyValue → AttributeValue. 64-bit ints beyond 2^53 become decimal text. */
export function anyValue(v: Msg | null | undefined): AttributeValue {
  if (!v) return null;
  if (has(v, 'stringValue')) return String(v.stringValue);
  if (has(v, 'boolValue')) return Boolean(v.boolValue);
  if (has(v, 'intValue')) return int(v.intValue as Int64);
  if (has(v, 'doubleValue')) return Number(v.doubleValue);
  if (has(v, 'arrayValue')) return ((v.arrayValue as Msg).values as Msg[] | undefined ?? []).map(anyValue);
  if (has(v, 'kvlistValue')) return attributes((v.kvlistValue as Msg).values as Msg[] | undefined);
  if (has(v, 'bytesValue')) return bytes(v.bytesValue as Bytes);
  return null;
}

export function attributes(list: Msg[] | undefined | null): Attributes {
  const out: Attributes = {};
  if (!list) return out;
  for (const kv of list) out[String(kv.key)] = anyValue(kv.value as Msg | undefined);
  return out;
}

const SPAN_KINDS: SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS: StatusCode[] = ['unset', 'ok', 'error'];

function enumIndex(value: unknown, names: readonly string[], prefix: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const i = names.indexOf(value.slice(prefix.length).toLowerCase());
    return value.startsWith(prefix) && i >= 0 ? i : 0;
  }
  return 0;
}

function scopeOf(scope: Msg | undefined): { name: string; version?: string } | undefined {
  if (!scope || !scope.name) return undefined;
  return scope.version ? { name: String(scope.name), version: String(scope.version) } : { name: String(scope.name) };
}

function reject<T>(out: Converted<T>, reason: string): void {
  out.rejected++;
  if (out.errors.length < 3) out.errors.push(reason);
}

export function convertTraces(request: Msg): Converted<Span> {
  const out: Converted<Span> = { items: [], rejected: 0, errors: [] };
  for (const rs of (request.resourceSpans as Msg[] | undefined) ?? []) {
    const resource = attributes(((rs.resource as Msg | undefined)?.attributes as Msg[] | undefined));
    for (const ss of (rs.scopeSpans as Msg[] | undefined) ?? []) {
      const scope = scopeOf(ss.scope as Msg | undefined);
      for (const s of (ss.spans as Msg[] | undefined) ?? []) {
        const traceId = id(s.traceId as Bytes, 16);
        const spanId = id(s.spanId as Bytes, 8);
        const parent = id(s.parentSpanId as Bytes, 8);
        if (!traceId || isZero(traceId)) {
          reject(out, `span "${String(s.name)}": trace_id must be 16 non-zero bytes`);
          continue;
        }
        if (!spanId || isZero(spanId)) {
          reject(out, `span "${String(s.name)}": span_id must be 8 non-zero bytes`);
          continue;
        }
        if (parent === null) {
          reject(out, `span "${String(s.name)}": parent_span_id must be 8 bytes or empty`);
          continue;
        }
        const status = s.status as Msg | undefined;
        const span: Span = {
          traceId,
          spanId,
          name: String(s.name ?? ''),
          spanKind: SPAN_KINDS[enumIndex(s.kind, SPAN_KINDS, 'SPAN_KIND_')] ?? 'unspecified',
          startTimeUnixNano: nanos(s.startTimeUnixNano as Int64),
          endTimeUnixNano: nanos(s.endTimeUnixNano as Int64),
          attributes: attributes(s.attributes as Msg[] | undefined),
          events: ((s.events as Msg[] | undefined) ?? []).map((e) => ({
            name: String(e.name ?? ''),
            timeUnixNano: nanos(e.timeUnixNano as Int64),
            attributes: attributes(e.attributes as Msg[] | undefined),
          })),
          links: [],
          status: { code: STATUS[enumIndex(status?.code, STATUS, 'STATUS_CODE_')] ?? 'unset' },
          resource,
        };
        if (parent && !isZero(parent)) span.parentSpanId = parent;
        if (s.traceState) span.traceState = String(s.traceState);
        if (status?.message) span.status.message = String(status.message);
        if (scope) span.scope = scope;
        let badLink = false;
        for (const l of (s.links as Msg[] | undefined) ?? []) {
          const lt = id(l.traceId as Bytes, 16);
          const ls = id(l.spanId as Bytes, 8);
          if (!lt || !ls) {
            badLink = true;
            break;
          }
          const link = { traceId: lt, spanId: ls, attributes: attributes(l.attributes as Msg[] | undefined) } as Span['links'][number];
          if (l.traceState) link.traceState = String(l.traceState);
          span.links.push(link);
        }
        if (badLink) {
          reject(out, `span "${span.name}": a link has an invalid trace_id or span_id`);
          continue;
        }
        out.items.push(span);
      }
    }
  }
  return out;
}

let logSeq = 0;
const logPrefix = `otlp-${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-`;

export function convertLogs(request: Msg, component: string): Converted<ScopeEvent> {
  const out: Converted<ScopeEvent> = { items: [], rejected: 0, errors: [] };
  for (const rl of (request.resourceLogs as Msg[] | undefined) ?? []) {
    const resource = attributes(((rl.resource as Msg | undefined)?.attributes as Msg[] | undefined));
    const node = String(resource['service.name'] ?? resource['host.name'] ?? 'unknown');
    const source = { node, component };
    for (const sl of (rl.scopeLogs as Msg[] | undefined) ?? []) {
      const scope = scopeOf(sl.scope as Msg | undefined);
      for (const r of (sl.logRecords as Msg[] | undefined) ?? []) {
        const traceId = id(r.traceId as Bytes, 16);
        const spanId = id(r.spanId as Bytes, 8);
        if (traceId === null || spanId === null) {
          reject(out, 'log record: trace_id must be 16 bytes and span_id 8 bytes, or empty');
          continue;
        }
        const attrs = attributes(r.attributes as Msg[] | undefined);
        if (r.severityText) attrs['log.severity_text'] = String(r.severityText);
        const severity = typeof r.severityNumber === 'number' ? r.severityNumber : 0;
        if (severity) attrs['log.severity_number'] = severity;
        if (r.eventName) attrs['log.event_name'] = String(r.eventName);
        if (scope) attrs['otel.scope.name'] = scope.name;
        const time = nanos(r.timeUnixNano as Int64) || nanos(r.observedTimeUnixNano as Int64) || BigInt(Date.now()) * 1_000_000n;
        const event: ScopeEvent = {
          id: logPrefix + (++logSeq).toString(36),
          type: 'otel.log',
          schemaVersion: 1,
          time,
          source,
          attributes: attrs,
          resource,
        };
        if (traceId && !isZero(traceId)) event.traceId = traceId;
        if (spanId && !isZero(spanId)) event.spanId = spanId;
        if (r.body) event.body = anyValue(r.body as Msg);
        out.items.push(event);
      }
    }
  }
  return out;
}

export function convertMetrics(request: Msg): Converted<MetricPoint> {
  const out: Converted<MetricPoint> = { items: [], rejected: 0, errors: [] };
  for (const rm of (request.resourceMetrics as Msg[] | undefined) ?? []) {
    const resource = attributes(((rm.resource as Msg | undefined)?.attributes as Msg[] | undefined));
    for (const sm of (rm.scopeMetrics as Msg[] | undefined) ?? []) {
      for (const m of (sm.metrics as Msg[] | undefined) ?? []) {
        const base = {
          name: String(m.name ?? ''),
          ...(m.unit ? { unit: String(m.unit) } : {}),
          ...(m.description ? { description: String(m.description) } : {}),
          resource,
        };
        const number = (p: Msg): number => (has(p, 'asDouble') ? Number(p.asDouble) : Number(int(p.asInt as Int64)));
        const times = (p: Msg): Pick<MetricPoint, 'timeUnixNano' | 'startTimeUnixNano'> => {
          const start = nanos(p.startTimeUnixNano as Int64);
          return start ? { timeUnixNano: nanos(p.timeUnixNano as Int64), startTimeUnixNano: start } : { timeUnixNano: nanos(p.timeUnixNano as Int64) };
        };
        if (m.gauge) {
          for (const p of ((m.gauge as Msg).dataPoints as Msg[] | undefined) ?? []) {
            out.items.push({ ...base, type: 'gauge', ...times(p), value: number(p), attributes: attributes(p.attributes as Msg[] | undefined) });
          }
        } else if (m.sum) {
          const sum = m.sum as Msg;
          for (const p of (sum.dataPoints as Msg[] | undefined) ?? []) {
            out.items.push({ ...base, type: 'sum', ...times(p), value: number(p), monotonic: Boolean(sum.isMonotonic), attributes: attributes(p.attributes as Msg[] | undefined) });
          }
        } else if (m.histogram) {
          for (const p of ((m.histogram as Msg).dataPoints as Msg[] | undefined) ?? []) {
            const sumValue = has(p, 'sum') ? Number(p.sum) : 0;
            out.items.push({
              ...base,
              type: 'histogram',
              ...times(p),
              value: sumValue,
              histogram: {
                count: Number(int(p.count as Int64)),
                sum: sumValue,
                explicitBounds: ((p.explicitBounds as number[] | undefined) ?? []).map(Number),
                bucketCounts: ((p.bucketCounts as Int64[] | undefined) ?? []).map((c) => Number(int(c))),
                ...(has(p, 'min') ? { min: Number(p.min) } : {}),
                ...(has(p, 'max') ? { max: Number(p.max) } : {}),
              },
              attributes: attributes(p.attributes as Msg[] | undefined),
            });
          }
        } else if (m.exponentialHistogram) {
          const buckets = (b: Msg | undefined) => ({
            offset: Number(b?.offset ?? 0),
            bucketCounts: ((b?.bucketCounts as Int64[] | undefined) ?? []).map((c) => Number(int(c))),
          });
          for (const p of ((m.exponentialHistogram as Msg).dataPoints as Msg[] | undefined) ?? []) {
            const sumValue = has(p, 'sum') ? Number(p.sum) : 0;
            out.items.push({
              ...base,
              type: 'exponential_histogram',
              ...times(p),
              value: sumValue,
              exponentialHistogram: {
                count: Number(int(p.count as Int64)),
                sum: sumValue,
                scale: Number(p.scale ?? 0),
                zeroCount: Number(int(p.zeroCount as Int64)),
                positive: buckets(p.positive as Msg | undefined),
                negative: buckets(p.negative as Msg | undefined),
                ...(has(p, 'min') ? { min: Number(p.min) } : {}),
                ...(has(p, 'max') ? { max: Number(p.max) } : {}),
              },
              attributes: attributes(p.attributes as Msg[] | undefined),
            });
          }
        } else if (m.summary) {
          for (const p of ((m.summary as Msg).dataPoints as Msg[] | undefined) ?? []) {
            const sumValue = Number(p.sum ?? 0);
            out.items.push({
              ...base,
              type: 'summary',
              ...times(p),
              value: sumValue,
              summary: {
                count: Number(int(p.count as Int64)),
                sum: sumValue,
                quantiles: ((p.quantileValues as Msg[] | undefined) ?? []).map((q) => ({ quantile: Number(q.quantile ?? 0), value: Number(q.value ?? 0) })),
              },
              attributes: attributes(p.attributes as Msg[] | undefined),
            });
          }
        } else {
          reject(out, `metric "${base.name}": no data points`);
        }
      }
    }
  }
  return out;
}
