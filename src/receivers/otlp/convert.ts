/**
 * OTLP requests → the data model. Works on both decoded protobuf messages
 * (protobufjs: camelCase fields, Long for 64-bit integers, Uint8Array for
 * bytes, enums as numbers) and OTLP/JSON objects (hex ids, decimal-string
 * 64-bit integers, base64 bytes, enums as numbers or names).
 *
 * Three kinds of problems:
 * - an item that cannot be taken on its own (a span without a trace id, a
 *   metric without points) is rejected by itself, reported as partial success;
 * - a value no item can hold (an id of the wrong length, a time beyond
 *   2262-04-11 or negative) marks the request invalid (`invalid`): the
 *   receiver refuses the whole request with 400 / INVALID_ARGUMENT, as the
 *   Collector does when its decoding meets such a value;
 * - nesting deeper than MAX_DEPTH (and, in JSON, a value of the wrong shape)
 *   throws an InvalidRequest naming where.
 * The depth is counted, never recursed past MAX_DEPTH, so no request can
 * exhaust the stack. Attribute limits (ItemLimits) cut and count.
 */
import type { AttributeValue, Attributes, MetricPoint, ScopeEvent, Span, SpanKind, StatusCode } from '../../model/types.js';
import { setOwn } from '../../util/own.js';
import {
  DEFAULT_LIMITS, InvalidRequest, MAX_DEPTH, MAX_TIME_NANOS, at, idBytesProblem, idTextProblem, markDropped, timeProblem, timeTextProblem,
  tooDeep, utf8PrefixLength, type ItemLimits, type Truncation,
} from './limits.js';

interface LongLike { low: number; high: number; unsigned?: boolean; toString(): string }
type Int64 = LongLike | string | number | bigint | null | undefined;
/** protobufjs gives a Buffer, or its prototype's default `[]` when the field is unset; OTLP/JSON gives hex or base64 text. */
type Bytes = Uint8Array | number[] | string | null | undefined;

/** A decoded OTLP message: a protobufjs message or a parsed JSON object, read field by field. */
export type Msg = Record<string, unknown>;

export interface Converted<T> {
  items: T[];
  rejected: number;
  /** The first few reasons, for the partial-success error_message. */
  errors: string[];
  /**
   * Set when an item holds a value no item can (an id of the wrong length, a
   * time out of range): the request is refused. `count` items were such; `first` names the first.
   */
  invalid?: { count: number; first: string };
  /** What the attribute limits cut, when they cut anything. */
  truncated?: Truncation;
}

/** Marks the request invalid (see Converted.invalid); both decoding paths call this, in the same order. */
export function markInvalid(out: Converted<unknown>, message: string): void {
  if (out.invalid) out.invalid.count++;
  else out.invalid = { count: 1, first: message };
}

/** Records what the limits cut (nothing when they cut nothing). */
export function setTruncation(out: Converted<unknown>, attributes: number, values: number): void {
  if (attributes > 0 || values > 0) out.truncated = { attributes, values };
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
  if (!(value instanceof Uint8Array) && !Array.isArray(value)) return null;
  if (value.length === 0) return undefined;
  if (value.length !== len) return null;
  return hex(value instanceof Uint8Array ? value : Uint8Array.from(value));
}

function idProblem(value: Bytes, len: number): string {
  if (typeof value === 'string') return idTextProblem(value, len);
  if (value instanceof Uint8Array || Array.isArray(value)) return idBytesProblem(value.length, len);
  return `${typeof value} is not an id`;
}

function isZero(h: string): boolean {
  return /^0+$/.test(h);
}

function isLong(value: unknown): value is LongLike {
  return typeof value === 'object' && value !== null && typeof (value as LongLike).low === 'number' && typeof (value as LongLike).high === 'number';
}

function unsigned(value: LongLike): bigint {
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** Lenient: an unsigned 64-bit integer, 0 for anything else. Times go through `time`, which refuses what this lets by. */
export function nanos(value: Int64): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string') return /^\d+$/.test(value) ? BigInt(value) : 0n;
  return unsigned(value);
}

const DECIMAL = /^\d{1,20}$/;

/** A time as Unix nanoseconds (absent is 0), or null when it is not one the model holds (see MAX_TIME_NANOS). */
function time(value: unknown): bigint | null {
  if (value === undefined || value === null) return 0n;
  let t: bigint;
  if (typeof value === 'bigint') t = value;
  else if (typeof value === 'number') {
    if (!Number.isInteger(value)) return null;
    t = BigInt(value);
  } else if (typeof value === 'string') {
    if (!DECIMAL.test(value)) return null;
    t = BigInt(value);
  } else if (isLong(value)) t = unsigned(value);
  else return null;
  return t >= 0n && t <= MAX_TIME_NANOS ? t : null;
}

/** Why `time` refused a value. */
function timeIssue(value: unknown): string {
  if (typeof value === 'bigint') return timeProblem(value) ?? timeTextProblem(String(value));
  if (isLong(value)) return timeProblem(unsigned(value)) ?? '';
  if (typeof value === 'string' && DECIMAL.test(value)) return timeProblem(BigInt(value)) ?? '';
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return timeProblem(BigInt(value)) ?? '';
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : String(value);
  return timeTextProblem(shown);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A signed 64-bit integer as a number when exact, else its decimal text. */
function int(value: Int64): number | string {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'string') {
    if (!/^-?\d{1,20}$/.test(value) || BigInt(value) < INT64_MIN || BigInt(value) > INT64_MAX) {
      throw new InvalidRequest(`${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} is not a 64-bit integer`, 'invalid_value');
    }
    big = BigInt(value);
  } else if (isLong(value)) big = BigInt.asIntN(64, unsigned(value));
  else throw new InvalidRequest(`${typeof value} is not a 64-bit integer`, 'invalid_value');
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

/** A copy, so the event does not keep the whole request buffer alive. */
function bytes(value: Bytes): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'base64'));
  if (value instanceof Uint8Array) return new Uint8Array(value);
  throw new InvalidRequest('bytesValue must be base64 text', 'invalid_value');
}

/**
 * Own properties only: protobufjs puts proto3 defaults on the prototype, so an
 * unset oneof member still reads as '' or 0; only the member that was on the
 * wire (or in the JSON) is an own property.
 */
const has = (m: Msg, key: string): boolean => Object.prototype.hasOwnProperty.call(m, key) && m[key] !== null && m[key] !== undefined;

/** A repeated field: absent is empty; anything but a list (possible only in JSON) refuses the request. */
function list(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  throw new InvalidRequest(`${field} must be a list`, 'invalid_value');
}

function message(value: unknown, what: string): Msg {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Msg;
  throw new InvalidRequest(`must be ${what} object`, 'invalid_value');
}

/** Attribute conversion under ItemLimits, counting what it cuts. */
class Attrs {
  droppedAttributes = 0;
  cutValues = 0;

  constructor(readonly limits: ItemLimits) {}

  /** An item's attributes (KeyValue list): at most maxAttributes of them, the rest dropped and recorded on the item. */
  item(value: unknown): Attributes {
    const kvs = list(value, 'attributes');
    const out: Attributes = {};
    const n = Math.min(kvs.length, this.limits.maxAttributes);
    for (let i = 0; i < n; i++) {
      try {
        const kv = message(kvs[i], 'a KeyValue');
        setOwn(out, String(kv.key), this.value(kv.value, 0, true));
      } catch (error) {
        throw at(error, `attributes[${i}].value`);
      }
    }
    if (kvs.length > n) {
      this.droppedAttributes += kvs.length - n;
      markDropped(out, kvs.length - n);
    }
    return out;
  }

  /** AnyValue → AttributeValue. `cut`: apply maxValueBytes (attribute values; not log bodies). */
  value(v: unknown, depth: number, cut: boolean): AttributeValue {
    if (v === undefined || v === null) return null;
    const m = message(v, 'an AnyValue');
    if (depth > MAX_DEPTH) throw tooDeep();
    if (has(m, 'stringValue')) return cut ? this.string(String(m.stringValue)) : String(m.stringValue);
    if (has(m, 'boolValue')) return Boolean(m.boolValue);
    if (has(m, 'intValue')) return int(m.intValue as Int64);
    if (has(m, 'doubleValue')) return Number(m.doubleValue);
    if (has(m, 'arrayValue')) {
      const values = list(message(m.arrayValue, 'an ArrayValue').values, 'arrayValue.values');
      const out: AttributeValue[] = new Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = this.value(values[i], depth + 1, cut);
      return out;
    }
    if (has(m, 'kvlistValue')) {
      const out: Attributes = {};
      for (const entry of list(message(m.kvlistValue, 'a KeyValueList').values, 'kvlistValue.values')) {
        const kv = message(entry, 'a KeyValue');
        setOwn(out, String(kv.key), this.value(kv.value, depth + 1, cut));
      }
      return out;
    }
    if (has(m, 'bytesValue')) {
      const b = bytes(m.bytesValue as Bytes);
      if (!cut || b.length <= this.limits.maxValueBytes) return b;
      this.cutValues++;
      return b.slice(0, this.limits.maxValueBytes);
    }
    return null;
  }

  private string(s: string): string {
    const max = this.limits.maxValueBytes;
    // A UTF-16 code unit is at most 3 UTF-8 bytes: most strings need no measuring.
    if (s.length * 3 <= max || Buffer.byteLength(s) <= max) return s;
    this.cutValues++;
    const b = Buffer.from(s);
    return b.toString('utf8', 0, utf8PrefixLength(b, 0, b.length, max));
  }

  finish(out: Converted<unknown>): void {
    setTruncation(out, this.droppedAttributes, this.cutValues);
  }
}

/** AnyValue → AttributeValue, with the default limits (no cutting). */
export function anyValue(v: Msg | null | undefined): AttributeValue {
  return new Attrs(DEFAULT_LIMITS).value(v, 0, false);
}

/** A KeyValue list → attributes, with the default limits. */
export function attributes(kvs: Msg[] | undefined | null): Attributes {
  return new Attrs(DEFAULT_LIMITS).item(kvs);
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

/** The resource's attributes, the error naming `<container>[i].resource.attributes[a]`. */
function resourceOf(cx: Attrs, container: Msg, where: string): Attributes {
  try {
    return cx.item((container.resource as Msg | undefined)?.attributes);
  } catch (error) {
    throw at(at(error, 'resource'), where);
  }
}

export function convertTraces(request: Msg, limits: ItemLimits = DEFAULT_LIMITS): Converted<Span> {
  const out: Converted<Span> = { items: [], rejected: 0, errors: [] };
  const cx = new Attrs(limits);
  const resourceSpans = list(request.resourceSpans, 'resourceSpans');
  for (let i = 0; i < resourceSpans.length; i++) {
    const rs = message(resourceSpans[i], 'a ResourceSpans');
    const resource = resourceOf(cx, rs, `resourceSpans[${i}]`);
    const scopeSpans = list(rs.scopeSpans, 'scopeSpans');
    for (let j = 0; j < scopeSpans.length; j++) {
      const ss = message(scopeSpans[j], 'a ScopeSpans');
      const scope = scopeOf(ss.scope as Msg | undefined);
      const spans = list(ss.spans, 'spans');
      for (let k = 0; k < spans.length; k++) {
        const where = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
        try {
          span(message(spans[k], 'a Span'), where, resource, scope, cx, out);
        } catch (error) {
          throw at(error, where);
        }
      }
    }
  }
  cx.finish(out);
  return out;
}

/** One span into `out`: taken, rejected on its own, or marking the request invalid (checks in the wire reader's order). */
function span(s: Msg, where: string, resource: Attributes, scope: Span['scope'], cx: Attrs, out: Converted<Span>): void {
  // Everything is read first, as the wire reader does, so a too-deep value is found whatever else is wrong.
  const attrs = cx.item(s.attributes);
  const rawEvents = list(s.events, 'events');
  const events = rawEvents.map((raw, e) => {
    try {
      const ev = message(raw, 'an Event');
      return { name: String(ev.name ?? ''), time: ev.timeUnixNano, attributes: cx.item(ev.attributes) };
    } catch (error) {
      throw at(error, `events[${e}]`);
    }
  });
  const rawLinks = list(s.links, 'links');
  const links = rawLinks.map((raw, l) => {
    try {
      const link = message(raw, 'a Link');
      return { traceId: link.traceId as Bytes, spanId: link.spanId as Bytes, traceState: link.traceState, attributes: cx.item(link.attributes) };
    } catch (error) {
      throw at(error, `links[${l}]`);
    }
  });
  const name = String(s.name ?? '');
  const traceId = id(s.traceId as Bytes, 16);
  const spanId = id(s.spanId as Bytes, 8);
  const parent = id(s.parentSpanId as Bytes, 8);
  const start = time(s.startTimeUnixNano);
  const end = time(s.endTimeUnixNano);
  const invalid = (field: string, problem: string): void => markInvalid(out, `${where}.${field}: ${problem} (span ${JSON.stringify(name)})`);
  if (traceId === null) return invalid('traceId', idProblem(s.traceId as Bytes, 16));
  if (spanId === null) return invalid('spanId', idProblem(s.spanId as Bytes, 8));
  if (parent === null) return invalid('parentSpanId', idProblem(s.parentSpanId as Bytes, 8));
  if (start === null) return invalid('startTimeUnixNano', timeIssue(s.startTimeUnixNano));
  if (end === null) return invalid('endTimeUnixNano', timeIssue(s.endTimeUnixNano));
  const spanEvents: Span['events'] = [];
  for (let e = 0; e < events.length; e++) {
    const t = time(events[e].time);
    if (t === null) return invalid(`events[${e}].timeUnixNano`, timeIssue(events[e].time));
    spanEvents.push({ name: events[e].name, timeUnixNano: t, attributes: events[e].attributes });
  }
  const spanLinks: Span['links'] = [];
  let emptyLink = false;
  for (let l = 0; l < links.length; l++) {
    const lt = id(links[l].traceId, 16);
    const ls = id(links[l].spanId, 8);
    if (lt === null) return invalid(`links[${l}].traceId`, idProblem(links[l].traceId, 16));
    if (ls === null) return invalid(`links[${l}].spanId`, idProblem(links[l].spanId, 8));
    if (!lt || !ls) {
      emptyLink = true;
      continue;
    }
    const link: Span['links'][number] = { traceId: lt, spanId: ls, attributes: links[l].attributes };
    if (links[l].traceState) link.traceState = String(links[l].traceState);
    spanLinks.push(link);
  }
  if (!traceId || isZero(traceId)) return reject(out, `span "${name}": trace_id must be 16 non-zero bytes`);
  if (!spanId || isZero(spanId)) return reject(out, `span "${name}": span_id must be 8 non-zero bytes`);
  if (emptyLink) return reject(out, `span "${name}": a link has an empty trace_id or span_id`);
  const status = s.status as Msg | undefined;
  const result: Span = {
    traceId,
    spanId,
    name,
    spanKind: SPAN_KINDS[enumIndex(s.kind, SPAN_KINDS, 'SPAN_KIND_')] ?? 'unspecified',
    startTimeUnixNano: start,
    endTimeUnixNano: end,
    attributes: attrs,
    events: spanEvents,
    links: spanLinks,
    status: { code: STATUS[enumIndex(status?.code, STATUS, 'STATUS_CODE_')] ?? 'unset' },
    resource,
  };
  if (parent && !isZero(parent)) result.parentSpanId = parent;
  if (s.traceState) result.traceState = String(s.traceState);
  if (status?.message) result.status.message = String(status.message);
  if (scope) result.scope = scope;
  out.items.push(result);
}

let logSeq = 0;
const logPrefix = `otlp-${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-`;

export function convertLogs(request: Msg, component: string, limits: ItemLimits = DEFAULT_LIMITS): Converted<ScopeEvent> {
  const out: Converted<ScopeEvent> = { items: [], rejected: 0, errors: [] };
  const cx = new Attrs(limits);
  const resourceLogs = list(request.resourceLogs, 'resourceLogs');
  for (let i = 0; i < resourceLogs.length; i++) {
    const rl = message(resourceLogs[i], 'a ResourceLogs');
    const resource = resourceOf(cx, rl, `resourceLogs[${i}]`);
    const node = String(resource['service.name'] ?? resource['host.name'] ?? 'unknown');
    const source = { node, component };
    const scopeLogs = list(rl.scopeLogs, 'scopeLogs');
    for (let j = 0; j < scopeLogs.length; j++) {
      const sl = message(scopeLogs[j], 'a ScopeLogs');
      const scope = scopeOf(sl.scope as Msg | undefined);
      const records = list(sl.logRecords, 'logRecords');
      for (let k = 0; k < records.length; k++) {
        const where = `resourceLogs[${i}].scopeLogs[${j}].logRecords[${k}]`;
        let attrs: Attributes;
        let body: AttributeValue | undefined;
        let r: Msg;
        try {
          r = message(records[k], 'a LogRecord');
          attrs = cx.item(r.attributes);
          try {
            if (r.body) body = cx.value(r.body, 0, false);
          } catch (error) {
            throw at(error, 'body');
          }
        } catch (error) {
          throw at(error, where);
        }
        const traceId = id(r.traceId as Bytes, 16);
        const spanId = id(r.spanId as Bytes, 8);
        const t = time(r.timeUnixNano);
        const observed = time(r.observedTimeUnixNano);
        const invalid = (field: string, problem: string): void => markInvalid(out, `${where}.${field}: ${problem} (log record)`);
        if (traceId === null) {
          invalid('traceId', idProblem(r.traceId as Bytes, 16));
          continue;
        }
        if (spanId === null) {
          invalid('spanId', idProblem(r.spanId as Bytes, 8));
          continue;
        }
        if (t === null) {
          invalid('timeUnixNano', timeIssue(r.timeUnixNano));
          continue;
        }
        if (observed === null) {
          invalid('observedTimeUnixNano', timeIssue(r.observedTimeUnixNano));
          continue;
        }
        if (r.severityText) attrs['log.severity_text'] = String(r.severityText);
        const severity = typeof r.severityNumber === 'number' ? r.severityNumber : 0;
        if (severity) attrs['log.severity_number'] = severity;
        if (r.eventName) attrs['log.event_name'] = String(r.eventName);
        if (scope) attrs['otel.scope.name'] = scope.name;
        const event: ScopeEvent = {
          id: logPrefix + (++logSeq).toString(36),
          type: 'otel.log',
          schemaVersion: 1,
          time: t || observed || BigInt(Date.now()) * 1_000_000n,
          source,
          attributes: attrs,
          resource,
        };
        if (traceId && !isZero(traceId)) event.traceId = traceId;
        if (spanId && !isZero(spanId)) event.spanId = spanId;
        if (body !== undefined) event.body = body;
        out.items.push(event);
      }
    }
  }
  cx.finish(out);
  return out;
}

const METRIC_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

export function convertMetrics(request: Msg, limits: ItemLimits = DEFAULT_LIMITS): Converted<MetricPoint> {
  const out: Converted<MetricPoint> = { items: [], rejected: 0, errors: [] };
  const cx = new Attrs(limits);
  const resourceMetrics = list(request.resourceMetrics, 'resourceMetrics');
  for (let i = 0; i < resourceMetrics.length; i++) {
    const rm = message(resourceMetrics[i], 'a ResourceMetrics');
    const resource = resourceOf(cx, rm, `resourceMetrics[${i}]`);
    const scopeMetrics = list(rm.scopeMetrics, 'scopeMetrics');
    for (let j = 0; j < scopeMetrics.length; j++) {
      const sm = message(scopeMetrics[j], 'a ScopeMetrics');
      const metrics = list(sm.metrics, 'metrics');
      for (let k = 0; k < metrics.length; k++) {
        const where = `resourceMetrics[${i}].scopeMetrics[${j}].metrics[${k}]`;
        try {
          metric(message(metrics[k], 'a Metric'), where, resource, cx, out);
        } catch (error) {
          throw at(error, where);
        }
      }
    }
  }
  cx.finish(out);
  return out;
}

function metric(m: Msg, where: string, resource: Attributes, cx: Attrs, out: Converted<MetricPoint>): void {
  const base = {
    name: String(m.name ?? ''),
    ...(m.unit ? { unit: String(m.unit) } : {}),
    ...(m.description ? { description: String(m.description) } : {}),
    resource,
  };
  const kind = METRIC_KINDS.find((key) => m[key]);
  if (!kind) return reject(out, `metric "${base.name}": no data points`);
  const container = message(m[kind], `a ${kind}`);
  const points = list(container.dataPoints, `${kind}.dataPoints`);
  for (let p = 0; p < points.length; p++) {
    const pointWhere = `${kind}.dataPoints[${p}]`;
    let point: MetricPoint | null;
    try {
      point = dataPoint(kind, container, message(points[p], 'a data point'), base, cx);
    } catch (error) {
      throw at(error, pointWhere);
    }
    if (point) {
      out.items.push(point);
      continue;
    }
    const raw = points[p] as Msg;
    const field = time(raw.timeUnixNano) === null ? 'timeUnixNano' : 'startTimeUnixNano';
    markInvalid(out, `${where}.${pointWhere}.${field}: ${timeIssue(raw[field])} (metric ${JSON.stringify(base.name)})`);
  }
}

type MetricBase = Pick<MetricPoint, 'name' | 'unit' | 'description' | 'resource'>;

/** One data point, or null when one of its times is out of range. */
function dataPoint(kind: (typeof METRIC_KINDS)[number], container: Msg, p: Msg, base: MetricBase, cx: Attrs): MetricPoint | null {
  const attrs = cx.item(p.attributes);
  const t = time(p.timeUnixNano);
  const start = time(p.startTimeUnixNano);
  if (t === null || start === null) return null;
  const times = start ? { timeUnixNano: t, startTimeUnixNano: start } : { timeUnixNano: t };
  const number = (): number => (has(p, 'asDouble') ? Number(p.asDouble) : Number(int(p.asInt as Int64)));
  const counts = (values: unknown, field: string): number[] => list(values, field).map((c) => Number(int(c as Int64)));
  switch (kind) {
    case 'gauge':
      return { ...base, type: 'gauge', ...times, value: number(), attributes: attrs };
    case 'sum':
      return { ...base, type: 'sum', ...times, value: number(), monotonic: Boolean(container.isMonotonic), attributes: attrs };
    case 'histogram': {
      const sumValue = has(p, 'sum') ? Number(p.sum) : 0;
      return {
        ...base,
        type: 'histogram',
        ...times,
        value: sumValue,
        histogram: {
          count: Number(int(p.count as Int64)),
          sum: sumValue,
          explicitBounds: list(p.explicitBounds, 'explicitBounds').map(Number),
          bucketCounts: counts(p.bucketCounts, 'bucketCounts'),
          ...(has(p, 'min') ? { min: Number(p.min) } : {}),
          ...(has(p, 'max') ? { max: Number(p.max) } : {}),
        },
        attributes: attrs,
      };
    }
    case 'exponentialHistogram': {
      const buckets = (b: Msg | undefined) => ({ offset: Number(b?.offset ?? 0), bucketCounts: counts(b?.bucketCounts, 'bucketCounts') });
      const sumValue = has(p, 'sum') ? Number(p.sum) : 0;
      return {
        ...base,
        type: 'exponential_histogram',
        ...times,
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
        attributes: attrs,
      };
    }
    case 'summary': {
      const sumValue = Number(p.sum ?? 0);
      return {
        ...base,
        type: 'summary',
        ...times,
        value: sumValue,
        summary: {
          count: Number(int(p.count as Int64)),
          sum: sumValue,
          quantiles: list(p.quantileValues, 'quantileValues').map((q) => ({ quantile: Number((q as Msg).quantile ?? 0), value: Number((q as Msg).value ?? 0) })),
        },
        attributes: attrs,
      };
    }
  }
}
