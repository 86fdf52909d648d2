/**
 * The JSON-lines form, the project's interchange format: the debug exporter
 * writes it, the jsonl receiver reads it. One item per line, camelCase as in
 * OTLP/JSON, 64-bit integers as decimal strings, ids as lowercase hex.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { MetricPoint, ScopeEvent, Span } from './types.js';

export type Item =
  | { kind: 'event'; item: ScopeEvent }
  | { kind: 'span'; item: Span }
  | { kind: 'metric'; item: MetricPoint };

function bigintAsString(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  // A Buffer has turned itself into {type:'Buffer', data:[…]} (toJSON) before it gets here.
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { $bytes: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}

/** `{"$bytes":"…"}` back to bytes. */
export function bytesReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (typeof record.$bytes === 'string' && Object.keys(record).length === 1) return new Uint8Array(Buffer.from(record.$bytes, 'base64'));
  }
  return value;
}

export function eventToJson(event: ScopeEvent): string {
  return JSON.stringify({ kind: 'event', ...event }, bigintAsString);
}

export function spanToJson(span: Span): string {
  return JSON.stringify({ kind: 'span', ...span }, bigintAsString);
}

export function metricToJson(metric: MetricPoint): string {
  return JSON.stringify({ kind: 'metric', ...metric }, bigintAsString);
}

export class DecodeError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'DecodeError';
  }
}

const nanos = { type: 'string', pattern: '^[0-9]{1,20}$' };
const attributes = { type: 'object' };
const ajv = new Ajv({ strict: false });

const spanShape: ValidateFunction = ajv.compile({
  type: 'object',
  required: ['traceId', 'spanId', 'name', 'startTimeUnixNano', 'endTimeUnixNano'],
  properties: {
    traceId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    spanId: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    parentSpanId: { type: 'string', pattern: '^([0-9a-f]{16})?$' },
    traceState: { type: 'string' },
    name: { type: 'string' },
    spanKind: { enum: ['internal', 'server', 'client', 'producer', 'consumer', 'unspecified'] },
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes,
    resource: attributes,
    events: {
      type: 'array',
      items: { type: 'object', required: ['name', 'timeUnixNano'], properties: { name: { type: 'string' }, timeUnixNano: nanos, attributes } },
    },
    links: {
      type: 'array',
      items: {
        type: 'object',
        required: ['traceId', 'spanId'],
        properties: { traceId: { type: 'string', pattern: '^[0-9a-f]{32}$' }, spanId: { type: 'string', pattern: '^[0-9a-f]{16}$' }, attributes },
      },
    },
    status: { type: 'object', properties: { code: { enum: ['unset', 'ok', 'error'] }, message: { type: 'string' } } },
  },
});

const metricShape: ValidateFunction = ajv.compile({
  type: 'object',
  required: ['name', 'type', 'timeUnixNano'],
  properties: {
    name: { type: 'string', minLength: 1 },
    type: { enum: ['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary'] },
    timeUnixNano: nanos,
    startTimeUnixNano: nanos,
    value: { type: 'number' },
    attributes,
    resource: attributes,
  },
});

function shapeError(validate: ValidateFunction): DecodeError {
  const e = validate.errors?.[0];
  if (!e) return new DecodeError('invalid', '');
  if (e.keyword === 'required') return new DecodeError('is required', `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`);
  return new DecodeError(e.message ?? e.keyword, e.instancePath);
}

/** Parses one line. Throws DecodeError with the path that failed; never returns a half-converted item. */
export function parseJsonLine(line: string): Item {
  let raw: unknown;
  try {
    raw = line.includes('"$bytes"') ? JSON.parse(line, bytesReviver) : JSON.parse(line);
  } catch (error) {
    throw new DecodeError(`not JSON (${(error as Error).message})`, '');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DecodeError('must be a JSON object', '');
  const { kind, ...rest } = raw as Record<string, unknown>;
  switch (kind) {
    case 'event': {
      // The event envelope is checked against the schema registry by the pipeline;
      // here only the string-encoded integer needs converting.
      if (typeof rest.time !== 'string' || !/^[0-9]{1,20}$/.test(rest.time)) throw new DecodeError('must be Unix nanoseconds as a decimal string', '/time');
      const event = rest as unknown as ScopeEvent;
      event.time = BigInt(rest.time);
      if (event.attributes === undefined) event.attributes = {};
      return { kind: 'event', item: event };
    }
    case 'span': {
      if (!spanShape(rest)) throw shapeError(spanShape);
      const s = rest as Record<string, unknown> & Partial<Span>;
      const span: Span = {
        traceId: s.traceId as string,
        spanId: s.spanId as string,
        ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
        ...(s.traceState !== undefined ? { traceState: s.traceState } : {}),
        name: s.name as string,
        spanKind: s.spanKind ?? 'internal',
        startTimeUnixNano: BigInt(s.startTimeUnixNano as unknown as string),
        endTimeUnixNano: BigInt(s.endTimeUnixNano as unknown as string),
        attributes: s.attributes ?? {},
        events: (s.events ?? []).map((e) => ({ name: e.name, timeUnixNano: BigInt(e.timeUnixNano as unknown as string), attributes: e.attributes ?? {} })),
        links: (s.links ?? []).map((l) => ({ ...l, attributes: l.attributes ?? {} })),
        status: s.status ?? { code: 'unset' },
        resource: s.resource ?? {},
        ...(s.scope ? { scope: s.scope } : {}),
      };
      return { kind: 'span', item: span };
    }
    case 'metric': {
      if (!metricShape(rest)) throw shapeError(metricShape);
      const m = rest as Record<string, unknown> & Partial<MetricPoint>;
      const metric = {
        ...m,
        timeUnixNano: BigInt(m.timeUnixNano as unknown as string),
        value: m.value ?? 0,
        attributes: m.attributes ?? {},
        resource: m.resource ?? {},
      } as MetricPoint;
      if (m.startTimeUnixNano !== undefined) metric.startTimeUnixNano = BigInt(m.startTimeUnixNano as unknown as string);
      return { kind: 'metric', item: metric };
    }
    default:
      throw new DecodeError('must be "event", "span" or "metric"', '/kind');
  }
}
