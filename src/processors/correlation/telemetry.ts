/**
 * :telemetry events (from the beam_telemetry receiver) → span names, kinds and
 * attributes as the opentelemetry_phoenix, opentelemetry_ecto and
 * opentelemetry_broadway libraries make them, so dashboards built on those
 * keep working.
 */
import type { AttributeValue, Attributes, ScopeEvent, SpanKind } from '../../model/types.js';

export type TelemetryPhase = 'start' | 'stop' | 'exception' | 'single';

export interface TelemetryEvent {
  /** The event name without its last element for start/stop/exception: `phoenix.endpoint`. */
  prefix: string;
  phase: TelemetryPhase;
  /** `telemetry_span_context` as rendered, when the emitter set one. */
  context?: string;
}

const str = (v: AttributeValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: AttributeValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

/** What kind of telemetry event this is, or null when it makes no span (Broadway's topology.init, for one). */
export function readTelemetry(event: ScopeEvent): TelemetryEvent | null {
  const name = event.type.slice('telemetry.'.length);
  const dot = name.lastIndexOf('.');
  const last = name.slice(dot + 1);
  const context = str(event.attributes.telemetry_span_context);
  if (last === 'start' || last === 'stop' || last === 'exception') {
    return { prefix: name.slice(0, dot), phase: last, ...(context ? { context } : {}) };
  }
  // After-the-fact events carry their duration: Ecto queries, Phoenix channel events.
  const m = event.attributes.measurements;
  const measurements = m && typeof m === 'object' && !Array.isArray(m) && !(m instanceof Uint8Array) ? (m as Attributes) : {};
  if (num(measurements.duration_ns) !== undefined || num(measurements.total_time_ns) !== undefined) {
    return { prefix: name, phase: 'single', ...(context ? { context } : {}) };
  }
  return null;
}

/** How long an after-the-fact event says it took, in ns. */
export function singleDurationNs(event: ScopeEvent): bigint {
  const m = event.attributes.measurements as Attributes | undefined;
  if (!m) return 0n;
  const total = num(m.total_time_ns);
  if (total !== undefined) return BigInt(Math.max(0, Math.round(total)));
  const queued = ['queue_time_ns', 'query_time_ns', 'decode_time_ns'].map((k) => num(m[k]) ?? 0).reduce((a, b) => a + b, 0);
  return BigInt(Math.max(0, Math.round(num(m.duration_ns) ?? queued)));
}

export interface SpanShape {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  /** An HTTP 5xx, an Ecto error: the span's status is ERROR with this message. */
  error?: string;
}

const DB_SYSTEMS: Record<string, string> = {
  'Ecto.Adapters.Postgres': 'postgresql', 'Ecto.Adapters.MyXQL': 'mysql', 'Ecto.Adapters.SQLite3': 'sqlite',
  'Ecto.Adapters.Tds': 'mssql', 'Ecto.Adapters.ClickHouse': 'clickhouse',
};

function put(attrs: Attributes, key: string, value: AttributeValue | undefined): void {
  if (value !== undefined && value !== null && value !== '') attrs[key] = value;
}

/** Span name, kind and attributes from a start event's and a stop event's attributes (merged, stop last). */
export function shapeOf(prefix: string, a: Attributes): SpanShape {
  const parts = prefix.split('.');
  if (prefix === 'phoenix.endpoint') {
    const method = str(a.method) ?? 'HTTP';
    const route = str(a.route);
    const status = num(a.status);
    const attributes: Attributes = {};
    put(attributes, 'http.request.method', str(a.method));
    put(attributes, 'url.path', str(a.path));
    put(attributes, 'url.scheme', str(a.scheme));
    put(attributes, 'server.address', str(a.host));
    put(attributes, 'client.address', str(a.remote_ip));
    put(attributes, 'user_agent.original', str(a.user_agent));
    put(attributes, 'http.route', route);
    put(attributes, 'http.response.status_code', status);
    put(attributes, 'phoenix.plug', str(a.controller) ?? str(a.plug));
    put(attributes, 'phoenix.action', str(a.action) ?? str(a.plug_opts));
    put(attributes, 'http.request.id', str(a.request_id));
    return {
      name: route ? `${method} ${route}` : method,
      kind: 'server',
      attributes,
      ...(status !== undefined && status >= 500 ? { error: `HTTP ${status}` } : {}),
    };
  }
  if (parts[0] === 'phoenix' && (parts[1] === 'live_view' || parts[1] === 'live_component')) {
    const owner = str(parts[1] === 'live_component' ? a.component : a.view) ?? parts[1];
    const stage = parts[2] ?? 'live';
    const event = str(a.event);
    const attributes: Attributes = {};
    put(attributes, 'phoenix.live_view', str(a.view));
    put(attributes, 'phoenix.live_component', str(a.component));
    put(attributes, 'phoenix.live_view.event', event);
    put(attributes, 'url.full', str(a.uri));
    return { name: stage === 'handle_event' && event ? `${owner}.handle_event#${event}` : `${owner}.${stage}`, kind: 'internal', attributes };
  }
  if (prefix === 'phoenix.channel_joined' || prefix === 'phoenix.channel_handled_in' || prefix === 'phoenix.socket_connected') {
    const attributes: Attributes = {};
    put(attributes, 'phoenix.channel', str(a.channel));
    put(attributes, 'phoenix.topic', str(a.topic));
    put(attributes, 'phoenix.channel.event', str(a.event));
    put(attributes, 'phoenix.socket', str(a.user_socket));
    const name = prefix === 'phoenix.socket_connected' ? `${str(a.user_socket) ?? 'socket'} connect`
      : prefix === 'phoenix.channel_joined' ? `${str(a.topic) ?? 'channel'} join` : `${str(a.topic) ?? 'channel'} ${str(a.event) ?? 'handle_in'}`;
    return { name, kind: 'server', attributes, ...(a.result === 'error' ? { error: 'result error' } : {}) };
  }
  if (prefix === 'phoenix.controller.render') {
    const attributes: Attributes = {};
    put(attributes, 'phoenix.view', str(a.view));
    put(attributes, 'phoenix.template', str(a.template));
    return { name: `render ${str(a.template) ?? ''}${str(a.format) ? `.${str(a.format)}` : ''}`.trim(), kind: 'internal', attributes };
  }
  if (parts.at(-1) === 'query' && (a.repo !== undefined || a.source !== undefined || a.query !== undefined)) {
    const query = str(a.query);
    const operation = query?.match(/^\s*([A-Za-z]+)/)?.[1]?.toLowerCase();
    const source = str(a.source);
    const attributes: Attributes = { 'db.system': DB_SYSTEMS[str(a.adapter) ?? ''] ?? (str(a.adapter) ? 'other_sql' : 'postgresql') };
    put(attributes, 'db.query.text', query);
    put(attributes, 'db.collection.name', source);
    put(attributes, 'db.operation.name', operation);
    put(attributes, 'db.response.returned_rows', num(a.result_rows));
    put(attributes, 'ecto.repo', str(a.repo));
    const name = [operation, source].filter(Boolean).join(' ') || prefix;
    return { name, kind: 'client', attributes, ...(a.result === 'error' ? { error: str(a.error) ?? 'query failed' } : {}) };
  }
  if (parts[0] === 'broadway') {
    const topology = str(a.topology_name) ?? 'Broadway';
    const key = str(a.processor_key) ?? str(a.batcher_key) ?? 'default';
    const attributes: Attributes = { 'messaging.system': 'broadway', 'messaging.operation.type': 'process' };
    put(attributes, 'broadway.topology', str(a.topology_name));
    put(attributes, 'broadway.stage', str(a.name));
    put(attributes, 'messaging.batch.message_count', num(a.batch_size) ?? num(a.messages));
    const operation = parts[1] === 'batch_processor' ? 'batch process' : parts[1] === 'batcher' ? 'batch' : 'process';
    return { name: `${topology}/${key} ${operation}`, kind: 'consumer', attributes };
  }
  return { name: prefix, kind: 'internal', attributes: {} };
}

/** Exception details a forwarder put on an exception event. */
export function exceptionOf(a: Attributes): { type: string; message: string; stacktrace?: string } {
  return {
    type: str(a.exception_type) ?? str(a.kind) ?? 'error',
    message: str(a.exception_message) ?? str(a.reason) ?? 'exception',
    ...(str(a.stacktrace) ? { stacktrace: str(a.stacktrace) } : {}),
  };
}

/** Telemetry entry points: where a trace may start (an HTTP request, a LiveView event, a Broadway message). */
export function isEntryPoint(prefix: string): boolean {
  return prefix === 'phoenix.endpoint' || prefix.startsWith('phoenix.live_view.') || prefix === 'phoenix.channel_handled_in'
    || prefix === 'phoenix.channel_joined' || prefix === 'broadway.processor.message' || prefix === 'broadway.batch_processor';
}
