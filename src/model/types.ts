/**
 * The data model. One unit flows through the pipeline: a Batch, never a single
 * item, because per-emission RxJS overhead would dominate at BEAM trace rates.
 *
 * Times are Unix nanoseconds as bigint (they exceed 2^53). Ids are lowercase hex
 * strings (32 chars for trace ids, 16 for span ids), as in OTLP/JSON.
 */

/**
 * Attribute values, as OTLP's AnyValue: bytes are a Uint8Array (written as
 * `{"$bytes":"<base64>"}` in the JSON-lines form). Integers beyond 2^53 are
 * decimal text.
 */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | readonly AttributeValue[]
  | { readonly [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

/** Where an event was observed. */
export interface EventSource {
  /** The BEAM node name (`app@host`) or another origin such as a host name. */
  node: string;
  app?: string;
  /** The component id of the receiver (or processor) that produced the event. */
  component: string;
}

/** The immutable, versioned event of the event-first design. */
export interface ScopeEvent {
  id: string;
  /** `process.spawn`, `message.send`, `telemetry.phoenix.endpoint.stop`, … (see DESIGN.md). */
  type: string;
  schemaVersion: number;
  /** Unix nanoseconds. */
  time: bigint;
  /** May be one object shared by many events of a receiver: replace it, never mutate it. */
  source: EventSource;
  /** Erlang pid as rendered (`<0.80.0>`). */
  pid?: string;
  traceId?: string;
  spanId?: string;
  /** The id of the event that caused this one. */
  causationId?: string;
  attributes: Attributes;
  body?: AttributeValue;
  /** Resource attributes, for events that arrive with one (OTLP logs). */
  resource?: Attributes;
}

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';
export type StatusCode = 'unset' | 'ok' | 'error';

export interface SpanEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState?: string;
  attributes: Attributes;
}

export interface InstrumentationScope {
  name: string;
  version?: string;
}

/** OTLP-shaped span. The resource travels with the span so batches can be merged and split freely. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  spanKind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  status: { code: StatusCode; message?: string };
  resource: Attributes;
  scope?: InstrumentationScope;
}

export type MetricType = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

export interface HistogramValue {
  count: number;
  sum: number;
  explicitBounds: number[];
  bucketCounts: number[];
  min?: number;
  max?: number;
}

export interface ExponentialBuckets {
  offset: number;
  bucketCounts: number[];
}

/** OTLP's base-2 exponential histogram. */
export interface ExponentialHistogramValue {
  count: number;
  sum: number;
  scale: number;
  zeroCount: number;
  positive: ExponentialBuckets;
  negative: ExponentialBuckets;
  min?: number;
  max?: number;
}

export interface SummaryValue {
  count: number;
  sum: number;
  quantiles: Array<{ quantile: number; value: number }>;
}

export interface MetricPoint {
  name: string;
  type: MetricType;
  unit?: string;
  description?: string;
  timeUnixNano: bigint;
  startTimeUnixNano?: bigint;
  /** The value of a gauge or sum; for the histogram kinds and summaries, their sum. */
  value: number;
  /** For sums: whether the value only grows. */
  monotonic?: boolean;
  histogram?: HistogramValue;
  exponentialHistogram?: ExponentialHistogramValue;
  summary?: SummaryValue;
  attributes: Attributes;
  resource: Attributes;
}

export interface Batch {
  events: ScopeEvent[];
  spans: Span[];
  metrics: MetricPoint[];
}

export function emptyBatch(): Batch {
  return { events: [], spans: [], metrics: [] };
}

export function batchSize(batch: Batch): number {
  return batch.events.length + batch.spans.length + batch.metrics.length;
}
