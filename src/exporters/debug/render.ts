/** Text and JSON renderings of items. */
import { eventToJson, metricToJson, spanToJson } from '../../model/jsonl.js';
import type { AttributeValue, Attributes, Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';

/** `2026-11-24T09:00:00.123456789Z` from Unix nanoseconds. */
export function formatNanos(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

/** Strings print raw unless they would break the one-line-per-item layout. */
function value(v: AttributeValue): string {
  if (typeof v === 'string') return /[\r\n]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Uint8Array) return `base64:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}`;
  return JSON.stringify(v);
}

function attrs(a: Attributes): string {
  return Object.entries(a).map(([k, v]) => `${k}=${value(v)}`).join(' ');
}

function eventLine(e: ScopeEvent): string {
  const parts = [formatNanos(e.time), 'event', e.type, e.source.node];
  if (e.pid) parts.push(e.pid);
  const a = attrs(e.attributes);
  if (a) parts.push(a);
  return parts.join(' ');
}

function spanLine(s: Span): string {
  const ms = Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;
  const parts = [formatNanos(s.startTimeUnixNano), 'span', JSON.stringify(s.name), s.spanKind, `${ms.toFixed(3)}ms`, `trace=${s.traceId}`, `span=${s.spanId}`];
  if (s.parentSpanId) parts.push(`parent=${s.parentSpanId}`);
  if (s.status.code !== 'unset') parts.push(`status=${s.status.code}${s.status.message ? `(${s.status.message})` : ''}`);
  const service = s.resource['service.name'];
  if (service !== undefined) parts.push(`service=${value(service)}`);
  const a = attrs(s.attributes);
  if (a) parts.push(a);
  return parts.join(' ');
}

function metricLine(m: MetricPoint): string {
  const parts = [formatNanos(m.timeUnixNano), 'metric', m.name, m.type, String(m.value)];
  if (m.unit) parts.push(m.unit);
  const a = attrs(m.attributes);
  if (a) parts.push(a);
  return parts.join(' ');
}

function pretty(json: string): string {
  return JSON.stringify(JSON.parse(json), null, 2);
}

/** Every item rendered (json, or text at normal or detailed verbosity; basic is readable.ts, which keeps a tally). */
export function renderBatch(batch: Batch, format: 'text' | 'json', verbosity: 'normal' | 'detailed'): string {
  const lines: string[] = [];
  if (format === 'json') {
    for (const e of batch.events) lines.push(eventToJson(e));
    for (const s of batch.spans) lines.push(spanToJson(s));
    for (const m of batch.metrics) lines.push(metricToJson(m));
  } else if (verbosity === 'detailed') {
    for (const e of batch.events) lines.push(pretty(eventToJson(e)));
    for (const s of batch.spans) lines.push(pretty(spanToJson(s)));
    for (const m of batch.metrics) lines.push(pretty(metricToJson(m)));
  } else {
    for (const e of batch.events) lines.push(eventLine(e));
    for (const s of batch.spans) lines.push(spanLine(s));
    for (const m of batch.metrics) lines.push(metricLine(m));
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}
