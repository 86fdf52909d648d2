/**
 * The data model as the OpenTelemetry JS SDK's exporters read it: spans as
 * ReadableSpan-shaped objects, events as ReadableLogRecord-shaped ones. Lets the
 * otlp exporters reuse the SDK's own OTLP serializers and transports.
 */
import type { Attributes as OtelAttributes, HrTime, SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Attributes, MetricPoint, ScopeEvent, Span, SpanKind } from '../model/types.js';

export function hrTime(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

const KIND: Record<SpanKind, number> = { unspecified: 0, internal: 0, server: 1, client: 2, producer: 3, consumer: 4 };
const STATUS = { unset: 0, ok: 1, error: 2 } as const;

/** One Resource object per distinct attribute set in an export: the serializer groups by identity. */
export class ResourceCache {
  private readonly byKey = new Map<string, Resource>();

  get(attributes: Attributes): Resource {
    const key = JSON.stringify(attributes);
    let resource = this.byKey.get(key);
    if (!resource) {
      resource = resourceFromAttributes(attributes as OtelAttributes);
      this.byKey.set(key, resource);
    }
    return resource;
  }
}

const scopes = new Map<string, { name: string; version?: string }>();
function scopeOf(name: string, version?: string): { name: string; version?: string } {
  const key = `${name}\u0000${version ?? ''}`;
  let scope = scopes.get(key);
  if (!scope) {
    scope = version ? { name, version } : { name };
    if (scopes.size < 10_000) scopes.set(key, scope);
  }
  return scope;
}

function context(traceId: string, spanId: string, traceState?: string): SpanContext {
  return { traceId, spanId, traceFlags: 1, ...(traceState ? { traceState: new TraceState(traceState) } : {}) };
}

export function toReadableSpan(span: Span, resources: ResourceCache): ReadableSpan {
  const spanContext = context(span.traceId, span.spanId, span.traceState);
  const duration = span.endTimeUnixNano - span.startTimeUnixNano;
  return {
    name: span.name,
    kind: KIND[span.spanKind],
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanId ? context(span.traceId, span.parentSpanId) : undefined,
    startTime: hrTime(span.startTimeUnixNano),
    endTime: hrTime(span.endTimeUnixNano),
    duration: hrTime(duration > 0n ? duration : 0n),
    status: span.status.message ? { code: STATUS[span.status.code], message: span.status.message } : { code: STATUS[span.status.code] },
    attributes: span.attributes as OtelAttributes,
    links: span.links.map((l) => ({ context: context(l.traceId, l.spanId, l.traceState), attributes: l.attributes as OtelAttributes, droppedAttributesCount: 0 })),
    events: span.events.map((e) => ({ name: e.name, time: hrTime(e.timeUnixNano), attributes: e.attributes as OtelAttributes, droppedAttributesCount: 0 })),
    ended: true,
    resource: resources.get(span.resource),
    instrumentationScope: scopeOf(span.scope?.name ?? 'scope-pipeline', span.scope?.version),
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  } as unknown as ReadableSpan;
}

/**
 * An event as an OTLP log record. `otel.log` events become the record they
 * came from; every other event (a BEAM trace event, a telemetry event) becomes
 * a record whose event_name is its type, so backends that take OTLP logs
 * keep the whole event stream.
 */
export function toReadableLog(event: ScopeEvent, resources: ResourceCache): ReadableLogRecord {
  const { ['log.severity_text']: severityText, ['log.severity_number']: severityNumber, ['log.event_name']: eventName, ['otel.scope.name']: scopeName, ...rest } = event.attributes;
  const isLog = event.type === 'otel.log';
  const attributes: Attributes = isLog ? rest : {
    ...event.attributes,
    'scope.event.id': event.id,
    ...(event.pid ? { 'beam.pid': event.pid } : {}),
    ...(event.causationId ? { 'scope.causation_id': event.causationId } : {}),
  };
  const resource = event.resource ?? { 'service.name': event.source.app ?? event.source.node, 'beam.node': event.source.node };
  return {
    hrTime: hrTime(event.time),
    hrTimeObserved: hrTime(event.time),
    ...(event.traceId && event.spanId ? { spanContext: context(event.traceId, event.spanId) } : {}),
    ...(typeof severityText === 'string' ? { severityText } : {}),
    ...(typeof severityNumber === 'number' ? { severityNumber } : {}),
    ...(isLog ? (typeof eventName === 'string' ? { eventName } : {}) : { eventName: event.type }),
    body: event.body ?? undefined,
    attributes: attributes as OtelAttributes,
    droppedAttributesCount: 0,
    resource: resources.get(resource),
    instrumentationScope: scopeOf(typeof scopeName === 'string' ? scopeName : event.source.component),
  } as unknown as ReadableLogRecord;
}

const VALUE_INT = 0; // @opentelemetry/api ValueType.INT
const VALUE_DOUBLE = 1; // ValueType.DOUBLE

/**
 * Metric points as the SDK's metric exporters read them: one ResourceMetrics
 * per distinct resource (each is one export call), one metric per name, type
 * and unit. Sums and histograms are sent as cumulative; integer-valued
 * gauges and sums as ints.
 */
export function toResourceMetrics(points: MetricPoint[], resources: ResourceCache): { requests: ResourceMetrics[]; unsupported: number } {
  const byResource = new Map<string, { resource: Attributes; metrics: Map<string, MetricPoint[]> }>();
  let unsupported = 0;
  for (const p of points) {
    if (p.type === 'summary') {
      unsupported++; // the SDK's OTLP serializer has no summary type
      continue;
    }
    const rkey = JSON.stringify(p.resource);
    let group = byResource.get(rkey);
    if (!group) {
      group = { resource: p.resource, metrics: new Map() };
      byResource.set(rkey, group);
    }
    const mkey = `${p.name}\u0000${p.type}\u0000${p.unit ?? ''}\u0000${p.monotonic ? 1 : 0}`;
    const list = group.metrics.get(mkey);
    if (list) list.push(p);
    else group.metrics.set(mkey, [p]);
  }
  const out: ResourceMetrics[] = [];
  for (const { resource, metrics } of byResource.values()) {
    const data: MetricData[] = [];
    for (const list of metrics.values()) {
      const first = list[0];
      const descriptor = {
        name: first.name, description: first.description ?? '', unit: first.unit ?? '',
        valueType: list.every((p) => Number.isInteger(p.value)) ? VALUE_INT : VALUE_DOUBLE,
      };
      // No start time (a gauge): 0, which OTLP reads as absent.
      const times = (p: MetricPoint) => ({ startTime: hrTime(p.startTimeUnixNano ?? 0n), endTime: hrTime(p.timeUnixNano), attributes: p.attributes as OtelAttributes });
      if (first.type === 'exponential_histogram') {
        data.push({
          descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
          dataPoints: list.map((p) => ({ ...times(p), value: p.exponentialHistogram })),
        } as unknown as MetricData);
      } else if (first.type === 'histogram') {
        data.push({
          descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM,
          dataPoints: list.map((p) => ({
            ...times(p),
            value: {
              buckets: { boundaries: p.histogram?.explicitBounds ?? [], counts: p.histogram?.bucketCounts ?? [] },
              sum: p.histogram?.sum ?? p.value, count: p.histogram?.count ?? 0,
              ...(p.histogram?.min !== undefined ? { min: p.histogram.min } : {}),
              ...(p.histogram?.max !== undefined ? { max: p.histogram.max } : {}),
            },
          })),
        } as unknown as MetricData);
      } else {
        data.push({
          descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: first.type === 'sum' ? DataPointType.SUM : DataPointType.GAUGE,
          ...(first.type === 'sum' ? { isMonotonic: Boolean(first.monotonic) } : {}),
          dataPoints: list.map((p) => ({ ...times(p), value: p.value })),
        } as unknown as MetricData);
      }
    }
    out.push({ resource: resources.get(resource), scopeMetrics: [{ scope: scopeOf('scope-pipeline'), metrics: data }] });
  }
  return { requests: out, unsupported };
}
