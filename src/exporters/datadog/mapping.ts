/**
 * Spans → Datadog spans, as Datadog's own tracers shape them for the agent's
 * /v0.4/traces intake: 64-bit ids (the high half of a 128-bit trace id in
 * meta `_dd.p.tid`), operation `name`, `resource`, `service`, `type`, `start`
 * and `duration` in ns, `error` 0/1 with error.* meta, strings in `meta`,
 * numbers in `metrics`.
 */
import type { AttributeValue, Span } from '../../model/types.js';
import type { MsgpackWriter } from './msgpack.js';

export interface DatadogSpanOptions {
  service?: string;
  env?: string;
  version?: string;
}

export interface DdSpan {
  traceId: bigint;
  spanId: bigint;
  parentId: bigint;
  name: string;
  resource: string;
  service: string;
  type: string;
  start: bigint;
  duration: bigint;
  error: 0 | 1;
  meta: Map<string, string>;
  metrics: Map<string, number>;
}

const str = (v: AttributeValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The operation name and span type, by what the span is (as Datadog's integrations name theirs). */
export function operationOf(span: Span): { name: string; type: string } {
  const a = span.attributes;
  if (a['db.system'] !== undefined || a['db.query.text'] !== undefined) return { name: 'ecto.query', type: 'db' };
  if (a['http.request.method'] !== undefined) return { name: span.spanKind === 'client' ? 'http.request' : 'phoenix.request', type: span.spanKind === 'client' ? 'http' : 'web' };
  if (a['messaging.system'] === 'broadway') return { name: 'broadway.process', type: 'queue' };
  if (a['code.function'] !== undefined || a['beam.mfa'] !== undefined) return { name: 'beam.function', type: 'custom' };
  if (a['beam.message'] !== undefined) return { name: 'beam.message', type: 'custom' };
  if (a['phoenix.live_view'] !== undefined) return { name: 'phoenix.live_view', type: 'web' };
  return { name: 'beam.span', type: 'custom' };
}

function resourceOf(span: Span): string {
  return str(span.attributes['db.query.text']) ?? span.name;
}

function flatten(prefix: string, value: AttributeValue, meta: Map<string, string>, metrics: Map<string, number>): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'string') meta.set(prefix, value);
  else if (typeof value === 'number') {
    if (Number.isFinite(value)) metrics.set(prefix, value);
  } else if (typeof value === 'boolean') meta.set(prefix, String(value));
  else if (value instanceof Uint8Array) meta.set(prefix, Buffer.from(value).toString('base64'));
  else meta.set(prefix, JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)));
}

/** One trace's spans (our model) as Datadog spans; `top` marks service entries. */
export function toDatadog(spans: Span[], options: DatadogSpanOptions): DdSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const serviceOf = (s: Span): string => options.service ?? str(s.resource['service.name']) ?? 'beam';
  return spans.map((s) => {
    const meta = new Map<string, string>();
    const metrics = new Map<string, number>();
    for (const [k, v] of Object.entries(s.resource)) if (k !== 'service.name') flatten(k, v, meta, metrics);
    for (const [k, v] of Object.entries(s.attributes)) flatten(k, v, meta, metrics);
    const env = options.env ?? str(s.resource['deployment.environment.name']) ?? str(s.resource['deployment.environment']);
    const version = options.version ?? str(s.resource['service.version']);
    if (env) meta.set('env', env);
    if (version) meta.set('version', version);
    if (s.spanKind !== 'unspecified') meta.set('span.kind', s.spanKind);
    const high = s.traceId.length === 32 ? s.traceId.slice(0, 16) : '';
    if (high && high !== '0000000000000000') meta.set('_dd.p.tid', high);
    let error: 0 | 1 = 0;
    if (s.status.code === 'error') {
      error = 1;
      const ex = s.events.find((e) => e.name === 'exception');
      const message = str(ex?.attributes['exception.message']) ?? s.status.message ?? '';
      if (message) meta.set('error.message', message);
      const type = str(ex?.attributes['exception.type']);
      if (type) meta.set('error.type', type);
      const stack = str(ex?.attributes['exception.stacktrace']);
      if (stack) meta.set('error.stack', stack);
    }
    const service = serviceOf(s);
    const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    // A service entry: no parent, or a parent in another service (Datadog computes stats on these).
    if (!s.parentSpanId || (parent && serviceOf(parent) !== service)) metrics.set('_dd.top_level', 1);
    metrics.set('_sampling_priority_v1', 1);
    const op = operationOf(s);
    return {
      traceId: BigInt(`0x${s.traceId.slice(-16) || '0'}`),
      spanId: BigInt(`0x${s.spanId || '0'}`),
      parentId: s.parentSpanId ? BigInt(`0x${s.parentSpanId}`) : 0n,
      name: op.name,
      resource: resourceOf(s),
      service,
      type: op.type,
      start: s.startTimeUnixNano,
      duration: s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano - s.startTimeUnixNano : 0n,
      error,
      meta,
      metrics,
    };
  });
}

/** Writes one span as dd-trace does (same keys, same wire types). */
export function writeSpan(w: MsgpackWriter, s: DdSpan): void {
  w.map(12);
  w.str('type'); w.str(s.type);
  w.str('trace_id'); w.uint64(s.traceId);
  w.str('span_id'); w.uint64(s.spanId);
  w.str('parent_id'); w.uint64(s.parentId);
  w.str('name'); w.str(s.name);
  w.str('resource'); w.str(s.resource);
  w.str('service'); w.str(s.service);
  w.str('error'); w.int(s.error);
  w.str('start'); w.int(s.start);
  w.str('duration'); w.int(s.duration);
  w.str('meta'); w.map(s.meta.size);
  for (const [k, v] of s.meta) { w.str(k); w.str(v); }
  w.str('metrics'); w.map(s.metrics.size);
  for (const [k, v] of s.metrics) { w.str(k); w.number(v); }
}
