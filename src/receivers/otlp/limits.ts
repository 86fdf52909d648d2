/**
 * What the otlp receiver refuses or cuts, shared by both decoding paths (the
 * protobuf wire reader and protobufjs/JSON + convert) so they refuse and cut
 * alike: the AnyValue nesting limit, the time range, the attribute limits, and
 * the error that refuses a whole request naming where it went wrong.
 */

/**
 * Nesting of AnyValue arrays and kvlists beyond this is refused, on every path
 * (protobuf and JSON, traces, logs and metrics): a hostile request must not
 * exhaust the stack here or in an exporter.
 */
export const MAX_DEPTH = 64;

/**
 * The largest time the data model and Parquet's TIMESTAMP_NS (a signed 64-bit
 * count of nanoseconds) hold: 2262-04-11T23:47:16.854775807Z. OTLP times are
 * unsigned 64-bit; anything above this (or negative, in JSON) is refused.
 */
export const MAX_TIME_NANOS = 9_223_372_036_854_775_807n;
const MAX_TIME_TEXT = '9223372036854775807 (2262-04-11T23:47:16Z)';

/** The attribute an item carries when the receiver dropped some of its attributes (as non-OTLP exporters name OTLP's dropped_attributes_count). */
export const DROPPED_ATTRIBUTES = 'otel.dropped_attributes_count';

export interface ItemLimits {
  /** Attributes kept per span, span event, link, log record, data point and resource; the rest are dropped and counted. */
  maxAttributes: number;
  /** Bytes of a string (UTF-8) or bytes attribute value, at any nesting depth; longer ones are cut. */
  maxValueBytes: number;
}

export const DEFAULT_MAX_ATTRIBUTES = 128;
export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024;
export const DEFAULT_LIMITS: ItemLimits = { maxAttributes: DEFAULT_MAX_ATTRIBUTES, maxValueBytes: DEFAULT_MAX_VALUE_BYTES };

export type InvalidKind = 'too_deep' | 'invalid_value';

/**
 * A request that cannot be taken at all: answered 400 / INVALID_ARGUMENT with a
 * message naming where (`resourceSpans[0].scopeSpans[0].spans[3].attributes[2].value:
 * nested deeper than 64`). Thrown where the problem is found; each level it
 * unwinds through adds its path segment. A RangeError, like every other
 * refusal of the wire reader.
 */
export class InvalidRequest extends RangeError {
  private readonly segments: string[] = [];

  constructor(readonly reason: string, readonly kind: InvalidKind) {
    super(reason);
    this.name = 'InvalidRequest';
  }

  /** Adds the segment of the level the error passes through (outermost last). */
  at(segment: string): this {
    this.segments.unshift(segment);
    this.message = `${this.segments.join('.')}: ${this.reason}`;
    return this;
  }
}

export function tooDeep(): InvalidRequest {
  return new InvalidRequest(`nested deeper than ${MAX_DEPTH}`, 'too_deep');
}

/** Rethrows `error` with `segment` added when it is an InvalidRequest; anything else unchanged. */
export function at(error: unknown, segment: string): unknown {
  return error instanceof InvalidRequest ? error.at(segment) : error;
}

/** The problem with a time already read as an unsigned integer, or null when it is in range. */
export function timeProblem(value: bigint): string | null {
  return value > MAX_TIME_NANOS ? `${value} is out of range (Unix nanoseconds from 0 to ${MAX_TIME_TEXT})` : null;
}

export function timeTextProblem(shown: string): string {
  return `${shown} is not a time (Unix nanoseconds from 0 to ${MAX_TIME_TEXT})`;
}

/** The problem with an id given as bytes of the wrong length. */
export function idBytesProblem(length: number, expected: number): string {
  return `${length} bytes, must be ${expected} (or empty)`;
}

/** The problem with an id given as (OTLP/JSON) hex text that is not `expected` bytes. */
export function idTextProblem(text: string, expected: number): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return `${JSON.stringify(shown)} is not ${expected} bytes of hex (${expected * 2} hex digits, or empty)`;
}

/**
 * The length of the longest prefix of buf[start, end) that is at most `max`
 * bytes and ends on a UTF-8 character boundary.
 */
export function utf8PrefixLength(buf: Uint8Array, start: number, end: number, max: number): number {
  if (end - start <= max) return end - start;
  let cut = start + max;
  // A continuation byte (10xxxxxx) at the cut belongs to a character that started before it.
  while (cut > start && (buf[cut] & 0xc0) === 0x80) cut--;
  return cut - start;
}

/** Counts of what the limits cut, per request, for scope_receiver_truncated_attributes. */
export interface Truncation {
  /** Attributes dropped beyond max_attributes_per_item. */
  attributes: number;
  /** String and bytes values cut to max_attribute_value_size. */
  values: number;
}

/** Records `dropped` attributes on the item's attributes (adding to a count the sender already put there). */
export function markDropped(attributes: Record<string, unknown>, dropped: number): void {
  const before = attributes[DROPPED_ATTRIBUTES];
  attributes[DROPPED_ATTRIBUTES] = (typeof before === 'number' ? before : 0) + dropped;
}
