/**
 * The scope_beam forwarder protocol, version 1, term by term:
 *
 *   {scope_hello, #{protocol => 1, node => atom(), otp_release => binary(),
 *                   elixir_version => binary() | nil, time_offset_ns => integer(),
 *                   native_units_per_second => integer(), app => atom() | binary(),
 *                   token => binary()}}                      first, once
 *   {telemetry, [atom()], Measurements :: map(), Metadata :: map(), SystemTimeNs :: integer()}
 *   {scope_metrics, SystemTimeNs, [{Name :: binary(), gauge | sum, Unit :: binary(), number(), Attributes :: map()}]}
 *   {scope_state_change, SystemTimeNs, Pid, Attributes :: map()}
 *   scope_keepalive                                          when idle (the receiver's idle_timeout)
 *
 * The receiver answers the hello with {scope_welcome, 1} or
 * {scope_refused, Reason :: binary()} (and closes). Telemetry events become
 * `telemetry.<name joined by dots>` events; measurements go under the
 * `measurements` attribute, durations (`duration`, `*_time`) converted from
 * native units to nanoseconds and renamed `<name>_ns`, and the points in time
 * `monotonic_time` and `system_time` converted to Unix nanoseconds as
 * `<name>_unix_ns` (decimal text: they exceed 2^53); metadata keys become
 * attributes, values as plain data. Metric points (the process sampler) become
 * `MetricPoint`s with `beam.node` and `service.name` (the hello's app) as
 * their resource; state changes (`ScopeBeam.watch/2`) become `state.change`
 * events. Every event and point keeps at most `maxAttributes` attributes and
 * `maxAttributeBytes` of keys and values; the rest are dropped, reported
 * through `onDropped`, and their number noted as `scope.attributes.dropped`.
 */
import { ErlFloat, ErlMap, ErlPid, ErlTuple, renderTerm, type Term } from '../../beam/etf.js';
import { pidText, type RenderOptions, type TermSyntax } from '../../beam/render.js';
import { setOwn } from '../../util/own.js';
import type { AttributeValue, Attributes, EventSource, MetricPoint, ScopeEvent } from '../../model/types.js';

export const PROTOCOL_VERSION = 1;

export interface Hello {
  node: string;
  app?: string;
  otpRelease: string;
  elixirVersion?: string;
  nativeUnitsPerSecond: number;
  /** erlang:time_offset(nanosecond): Unix time = monotonic time + offset. */
  timeOffsetNs: bigint;
  token?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(term: Term | undefined): string | undefined {
  if (typeof term === 'string') return term === 'nil' || term === 'undefined' ? undefined : elixirName(term);
  if (term instanceof Uint8Array) {
    try {
      return utf8.decode(term);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `Elixir.Shop.Repo` → `Shop.Repo`: module atoms as Elixir developers write them. */
function elixirName(atom: string): string {
  return atom.startsWith('Elixir.') ? atom.slice(7) : atom;
}

function integer(term: Term | undefined): number | undefined {
  if (typeof term === 'number') return term;
  if (typeof term === 'bigint' && term <= BigInt(Number.MAX_SAFE_INTEGER) && term >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(term);
  return undefined;
}

/** The hello's content, or why it is refused. */
export function readHello(term: Term, token: string | undefined): Hello | { refused: string } {
  if (!(term instanceof ErlTuple) || term.elements[0] !== 'scope_hello' || !(term.elements[1] instanceof ErlMap)) {
    return { refused: 'the first term must be {scope_hello, #{...}}' };
  }
  const map = term.elements[1];
  const protocol = integer(map.get('protocol'));
  if (protocol !== PROTOCOL_VERSION) {
    return { refused: `protocol ${protocol ?? 'missing'} is not supported: this receiver speaks protocol ${PROTOCOL_VERSION}; use a scope_beam release for it` };
  }
  if (token !== undefined && text(map.get('token')) !== token) return { refused: 'missing or wrong token' };
  const node = text(map.get('node'));
  const units = integer(map.get('native_units_per_second'));
  if (!node || !units || units <= 0) return { refused: 'the hello needs node and native_units_per_second' };
  const offset = map.get('time_offset_ns');
  const hello: Hello = {
    node, otpRelease: text(map.get('otp_release')) ?? 'unknown', nativeUnitsPerSecond: units,
    timeOffsetNs: typeof offset === 'number' || typeof offset === 'bigint' ? BigInt(offset) : 0n,
  };
  const app = text(map.get('app'));
  if (app) hello.app = app;
  const elixir = text(map.get('elixir_version'));
  if (elixir) hello.elixirVersion = elixir;
  const auth = text(map.get('token'));
  if (auth) hello.token = auth;
  return hello;
}

const MAX_DEPTH = 6;
const MAX_ITEMS = 100;

/** What the attributes of one event or point may still take, in bytes (text and bytes by length, other values 8). */
export interface AttributeBudget {
  bytes: number;
}

const SCALAR_BYTES = 8;

/** A term as an attribute value: plain data as itself, anything else rendered in Erlang syntax (capped). */
/** `render.localNode`: the forwarder's node (pids, ports and refs of any other carry their node's name); `render.syntax`: how terms are written. */
/** `budget`, when given, is charged for what the value takes; once it is below zero the value is cut short (the caller drops it). */
export function attributeValue(term: Term, maxBytes: number, depth = 0, render: RenderOptions = {}, budget?: AttributeBudget): AttributeValue {
  if (typeof term === 'number') return charge(budget, SCALAR_BYTES, term);
  if (typeof term === 'bigint') return charge(budget, SCALAR_BYTES, integer(term) ?? term.toString());
  if (term instanceof ErlFloat) return charge(budget, SCALAR_BYTES, term.value);
  if (typeof term === 'string') {
    if (term === 'true') return charge(budget, SCALAR_BYTES, true);
    if (term === 'false') return charge(budget, SCALAR_BYTES, false);
    if (term === 'nil' || term === 'undefined') return charge(budget, SCALAR_BYTES, null);
    const name = elixirName(term);
    return charge(budget, name.length, name);
  }
  if (term instanceof Uint8Array) {
    const decoded = text(term);
    // A copy, so the event does not keep the socket's chunk alive.
    if (decoded === undefined) return charge(budget, Math.min(term.length, maxBytes), new Uint8Array(term.subarray(0, maxBytes)));
    const value = decoded.length > maxBytes ? `${decoded.slice(0, maxBytes - 3)}...` : decoded;
    return charge(budget, value.length, value);
  }
  if (term instanceof ErlPid) return charge(budget, SCALAR_BYTES, pidText(term, render.localNode));
  if (depth < MAX_DEPTH && Array.isArray(term)) {
    const out: AttributeValue[] = [];
    const n = Math.min(term.length, MAX_ITEMS);
    for (let i = 0; i < n; i++) {
      out.push(attributeValue(term[i], maxBytes, depth + 1, render, budget));
      if (budget && budget.bytes < 0) break;
    }
    return out;
  }
  if (depth < MAX_DEPTH && term instanceof ErlMap) {
    const out: Attributes = {};
    const n = Math.min(term.entries.length, MAX_ITEMS);
    for (let i = 0; i < n; i++) {
      const [k, v] = term.entries[i];
      const key = mapKey(k, maxBytes);
      if (budget) budget.bytes -= key.length;
      setOwn(out, key, attributeValue(v, maxBytes, depth + 1, render, budget));
      if (budget && budget.bytes < 0) break;
    }
    return out;
  }
  const rendered = renderTerm(term, maxBytes, render);
  return charge(budget, rendered.length, rendered);
}

function charge<T extends AttributeValue>(budget: AttributeBudget | undefined, bytes: number, value: T): T {
  if (budget) budget.bytes -= bytes;
  return value;
}

function mapKey(term: Term, maxBytes: number): string {
  return text(term) ?? renderTerm(term, maxBytes);
}

/** Measurements that are durations or times in native units (Phoenix `duration`, Ecto `query_time`, `system_time`, …). */
const isTimeKey = (key: string): boolean => key === 'duration' || key.endsWith('_time');

/** Why attributes were dropped: too many of them, or too many bytes. */
export type AttributeDropReason = 'max_attributes' | 'max_attribute_bytes';

export interface AttributeLimits {
  /** Attributes per event or point (measurements counts as one; its own keys at most this many too). */
  maxAttributes: number;
  /** Bytes of keys and values per event or point. */
  maxAttributeBytes: number;
  /** Told of every drop, with how many attributes and why. */
  onDropped?(count: number, reason: AttributeDropReason): void;
}

export const DROPPED_ATTRIBUTES = 'scope.attributes.dropped';

const defaultAttributeLimits: AttributeLimits = { maxAttributes: 128, maxAttributeBytes: 64 * 1024 };

export class TelemetryMapper {
  private readonly render: RenderOptions;
  private seq = 0;
  private readonly idPrefix: string;
  private readonly resource: Attributes;
  /** Attributes dropped from the item being read. */
  private dropped = 0;

  constructor(
    private readonly hello: Hello,
    private readonly source: EventSource,
    private readonly maxValueBytes: number,
    syntax: TermSyntax = 'erlang',
    private readonly limits: AttributeLimits = defaultAttributeLimits,
  ) {
    this.render = { syntax, localNode: hello.node };
    this.idPrefix = `${hello.node}-${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffffff).toString(36)}-`;
    this.resource = { 'beam.node': hello.node, ...(hello.app ? { 'service.name': hello.app } : {}) };
  }

  /** What a forwarder's term becomes, or null when it is none of the protocol's terms. */
  read(term: Term): { event: ScopeEvent } | { metrics: MetricPoint[] } | null {
    if (!(term instanceof ErlTuple)) return null;
    switch (term.elements[0]) {
      case 'telemetry': {
        const event = this.map(term);
        return event ? { event } : null;
      }
      case 'scope_state_change': {
        const event = this.stateChange(term);
        return event ? { event } : null;
      }
      case 'scope_metrics': {
        const metrics = this.metrics(term);
        return metrics ? { metrics } : null;
      }
      default:
        return null;
    }
  }

  /** {scope_state_change, SystemTimeNs, Pid, Attributes} as a `state.change` event. */
  stateChange(term: ErlTuple): ScopeEvent | null {
    const [, time, pid, attributes] = term.elements;
    if (term.elements.length !== 4 || !(pid instanceof ErlPid) || !(attributes instanceof ErlMap)) return null;
    if (typeof time !== 'number' && typeof time !== 'bigint') return null;
    return {
      id: this.idPrefix + (this.seq++).toString(36),
      type: 'state.change',
      schemaVersion: 1,
      time: BigInt(time),
      source: this.source,
      pid: pidText(pid, this.hello.node),
      attributes: this.noteDropped(this.metadata(attributes, {}, { bytes: this.limits.maxAttributeBytes })),
    };
  }

  /** {scope_metrics, SystemTimeNs, [{Name, Type, Unit, Value, Attributes}]} as metric points; malformed points are left out. */
  metrics(term: ErlTuple): MetricPoint[] | null {
    const [, time, points] = term.elements;
    if (term.elements.length !== 3 || !Array.isArray(points) || (typeof time !== 'number' && typeof time !== 'bigint')) return null;
    const out: MetricPoint[] = [];
    for (const point of points) {
      if (!(point instanceof ErlTuple) || point.elements.length !== 5) continue;
      const [name, type, unit, value, attributes] = point.elements;
      const metricName = text(name);
      const numeric = value instanceof ErlFloat ? value.value : integer(value);
      if (!metricName || (type !== 'gauge' && type !== 'sum') || numeric === undefined || !(attributes instanceof ErlMap)) continue;
      const metric: MetricPoint = {
        name: metricName, type, timeUnixNano: BigInt(time), value: numeric,
        attributes: this.noteDropped(this.metadata(attributes, {}, { bytes: this.limits.maxAttributeBytes })), resource: this.resource,
      };
      const unitText = text(unit);
      if (unitText) metric.unit = unitText;
      if (type === 'sum') metric.monotonic = true;
      out.push(metric);
    }
    return out;
  }

  /** One {telemetry, …} term as an event, or null when it is not one. */
  map(term: Term): ScopeEvent | null {
    if (!(term instanceof ErlTuple) || term.elements.length !== 5 || term.elements[0] !== 'telemetry') return null;
    const [, name, measurements, metadata, time] = term.elements;
    if (!Array.isArray(name) || name.length === 0 || !name.every((n) => typeof n === 'string')) return null;
    if (!(measurements instanceof ErlMap) || !(metadata instanceof ErlMap)) return null;
    if (typeof time !== 'number' && typeof time !== 'bigint') return null;
    const budget: AttributeBudget = { bytes: this.limits.maxAttributeBytes };
    const attributes: Attributes = { measurements: this.measurements(measurements, budget) };
    const event: ScopeEvent = {
      id: this.idPrefix + (this.seq++).toString(36),
      type: `telemetry.${(name as string[]).join('.')}`,
      schemaVersion: 1,
      time: BigInt(time),
      source: this.source,
      attributes: this.noteDropped(this.metadata(metadata, attributes, budget)),
    };
    const pid = metadata.get('pid');
    if (pid instanceof ErlPid) event.pid = pidText(pid, this.hello.node);
    return event;
  }

  /** `scope.attributes.dropped` on what lost attributes to the limits, and the drop reported. */
  private noteDropped(attributes: Attributes): Attributes {
    if (this.dropped > 0) {
      attributes[DROPPED_ATTRIBUTES] = this.dropped;
      this.dropped = 0;
    }
    return attributes;
  }

  private drop(count: number, reason: AttributeDropReason): void {
    if (count <= 0) return;
    this.dropped += count;
    this.limits.onDropped?.(count, reason);
  }

  private measurements(map: ErlMap, budget: AttributeBudget): Attributes {
    const out: Attributes = {};
    const perSecond = this.hello.nativeUnitsPerSecond;
    const entries = map.entries;
    const n = Math.min(entries.length, this.limits.maxAttributes);
    for (let i = 0; i < n; i++) {
      const [k, v] = entries[i];
      const key = mapKey(k, this.maxValueBytes);
      budget.bytes -= key.length;
      if (isTimeKey(key) && (typeof v === 'number' || typeof v === 'bigint')) {
        budget.bytes -= SCALAR_BYTES;
        if (budget.bytes < 0) return this.cut(out, entries.length - i);
        const ns = (BigInt(v) * 1_000_000_000n) / BigInt(perSecond);
        if (key === 'monotonic_time') out.monotonic_time_unix_ns = (ns + this.hello.timeOffsetNs).toString();
        else if (key === 'system_time') out.system_time_unix_ns = ns.toString();
        else out[`${key}_ns`] = integer(ns) ?? ns.toString();
      } else {
        const value = attributeValue(v, this.maxValueBytes, 0, this.render, budget);
        if (budget.bytes < 0) return this.cut(out, entries.length - i);
        setOwn(out, key, value);
      }
    }
    this.drop(entries.length - n, 'max_attributes');
    return out;
  }

  private cut(out: Attributes, count: number): Attributes {
    this.drop(count, 'max_attribute_bytes');
    return out;
  }

  /** The metadata's keys as attributes into `out` (which may hold some already), within the limits. */
  private metadata(map: ErlMap, out: Attributes, budget: AttributeBudget): Attributes {
    const entries = map.entries;
    let kept = Object.keys(out).length;
    for (let i = 0; i < entries.length; i++) {
      if (budget.bytes < 0) return this.cut(out, entries.length - i);
      if (kept >= this.limits.maxAttributes) {
        this.drop(entries.length - i, 'max_attributes');
        return out;
      }
      const [k, v] = entries[i];
      const key = mapKey(k, this.maxValueBytes);
      if (key === 'measurements') continue; // the measurements attribute is ours
      budget.bytes -= key.length;
      const value = attributeValue(v, this.maxValueBytes, 0, this.render, budget);
      if (budget.bytes < 0) return this.cut(out, entries.length - i);
      if (!Object.hasOwn(out, key)) kept++;
      setOwn(out, key, value);
    }
    return out;
  }
}
