/** What both OTLP protocols do with a request body: decode, convert, hand to the pipeline, and say how it went. */
import protobuf from 'protobufjs';
import type { ReceiverContext, Refusal } from '../../component/types.js';
import type { Batch, Span } from '../../model/types.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';
import { convertLogs, convertMetrics, convertTraces, type Converted, type Msg } from './convert.js';
import { InvalidRequest, MAX_DEPTH, type InvalidKind, type ItemLimits } from './limits.js';
import type { OtlpInstruments } from './metrics.js';
import { checkNesting } from './wire_check.js';
import { decodeTraceRequest } from './wire_traces.js';

// protobufjs refuses messages nested deeper than its recursion limit (100, protoc's default); a
// kvlist value 64 levels deep is 3 messages a level, so the limit is raised to what 64 levels need.
// checkNesting has refused anything deeper before protobufjs decodes, so this never lets it recurse further.
const NEEDED_RECURSION = 16 + 3 * (MAX_DEPTH + 1);
if (protobuf.Reader.recursionLimit < NEEDED_RECURSION) protobuf.Reader.recursionLimit = NEEDED_RECURSION;

export type Refused =
  | { status: 'pushback'; retryAfterMs: number; message: string }
  | { status: 'refused'; message: string };

/**
 * ok: taken (perhaps partly: `rejected` items, reported as partial success);
 * invalid: no part of it can be taken (400 / INVALID_ARGUMENT, never retried by clients);
 * pushback: retry later (429 + Retry-After / RESOURCE_EXHAUSTED + RetryInfo);
 * refused: the pipeline is stopping (503 / UNAVAILABLE).
 */
export type IngestOutcome =
  | { status: 'ok'; rejected: number; message: string; durable?: Promise<Error | undefined> }
  | { status: 'invalid'; reason: InvalidKind | 'malformed'; message: string }
  | Refused;

/** What the receiver's protocols share. */
export interface OtlpRuntime {
  ctx: ReceiverContext;
  limits: ItemLimits;
  instruments: OtlpInstruments;
}

/** Where a request came from, for the log line of a refusal. */
export interface RequestOrigin {
  protocol: 'http' | 'grpc';
  remote?: string;
}

/**
 * Before reading a request: whether the pipeline is refusing everything right
 * now (memory over its limit, full queues), so the request is answered
 * without the cost of decoding it.
 */
export function refusedBeforeReading(ctx: ReceiverContext): Refused | null {
  const refusal = ctx.consumer.refusalNow();
  return refusal ? answerRefusal(refusal) : null;
}

function answerRefusal(refusal: Refusal): Refused {
  return refusal.retryable
    ? { status: 'pushback', retryAfterMs: refusal.retryAfterMs ?? 1000, message: `pipeline is pushing back (${refusal.reason}): retry later` }
    : { status: 'refused', message: `pipeline refused the data (${refusal.reason})` };
}

/** A request as read: a decoded message (OTLP/JSON, protobuf logs and metrics), or spans read straight from protobuf bytes. */
export type DecodedRequest = { message: Msg } | { spans: Converted<Span> };

/**
 * Protobuf bytes → a request. Throws an InvalidRequest for nesting deeper than
 * MAX_DEPTH, anything else when they are not a valid request of the signal.
 */
export function decodeProtobuf(signal: Signal, bytes: Uint8Array, limits?: ItemLimits): DecodedRequest {
  if (signal === 'traces') return { spans: decodeTraceRequest(bytes, limits) };
  checkNesting(signal, bytes);
  return { message: otlpTypes().request[signal].decode(bytes) as unknown as Msg };
}

/** Why a taken request is answered as retryable after all: its disk sending queue could not store it. */
export async function notDurable(outcome: IngestOutcome): Promise<string | undefined> {
  if (outcome.status !== 'ok' || !outcome.durable) return undefined;
  const error = await outcome.durable;
  return error ? `the data could not be stored in the disk sending queue (${error.message}): retry` : undefined;
}

/** A protobuf body or a parsed OTLP/JSON object, decoded, converted and offered to the pipeline. */
export function receive(signal: Signal, body: { protobuf: Uint8Array } | { json: Msg }, rt: OtlpRuntime, origin: RequestOrigin): IngestOutcome {
  let request: DecodedRequest;
  if ('json' in body) {
    request = { message: body.json };
  } else {
    try {
      request = decodeProtobuf(signal, body.protobuf, rt.limits);
    } catch (error) {
      if (error instanceof InvalidRequest) return invalid(rt, signal, error.kind, error.message, 1, origin);
      const type = otlpTypes().request[signal].name;
      return invalid(rt, signal, 'malformed', `request is not a valid ${type}: ${(error as Error).message}`, 1, origin);
    }
  }
  return ingest(signal, request, rt, origin);
}

function invalid(rt: OtlpRuntime, signal: Signal, reason: InvalidKind | 'malformed', message: string, items: number, origin: RequestOrigin): IngestOutcome {
  rt.ctx.countRefused(items, reason);
  rt.ctx.problems.report(`${origin.protocol}_${reason}`, 'OTLP request refused', {
    signal, protocol: origin.protocol, reason, ...(origin.remote ? { remote: origin.remote } : {}), error: message,
  });
  return { status: 'invalid', reason, message };
}

/** Converts and offers a decoded request; a request that is invalid as a whole is refused here, counted and logged. */
export function ingest(signal: Signal, request: DecodedRequest, rt: OtlpRuntime, origin: RequestOrigin): IngestOutcome {
  const { ctx, limits } = rt;
  const batch: Batch = { events: [], spans: [], metrics: [] };
  let converted: Converted<unknown>;
  try {
    if ('spans' in request) {
      converted = request.spans;
      batch.spans = request.spans.items;
    } else if (signal === 'traces') {
      const c = convertTraces(request.message, limits);
      converted = c;
      batch.spans = c.items;
    } else if (signal === 'logs') {
      const c = convertLogs(request.message, ctx.id, limits);
      converted = c;
      batch.events = c.items;
    } else {
      const c = convertMetrics(request.message, limits);
      converted = c;
      batch.metrics = c.items;
    }
  } catch (error) {
    if (error instanceof InvalidRequest) return invalid(rt, signal, error.kind, error.message, 1, origin);
    return invalid(rt, signal, 'malformed', `cannot read the ${signal} request: ${(error as Error).message}`, 1, origin);
  }
  if (converted.invalid) {
    const { count, first } = converted.invalid;
    const message = count > 1 ? `${first}; and ${count - 1} more items with invalid values` : first;
    return invalid(rt, signal, 'invalid_value', message, converted.items.length + converted.rejected + count, origin);
  }
  if (converted.rejected > 0) ctx.countRefused(converted.rejected, 'invalid_item');
  if (converted.items.length === 0) return { status: 'ok', rejected: converted.rejected, message: converted.errors.join('; ') };
  // Success is answered only once the pipeline took the batch.
  const result = ctx.consumer.consume(batch);
  if (result.status === 'refused') return answerRefusal(result);
  if (converted.truncated) {
    const { attributes, values } = converted.truncated;
    if (attributes > 0) rt.instruments.truncated.add(attributes, { receiver: ctx.id, reason: 'max_attributes_per_item' });
    if (values > 0) rt.instruments.truncated.add(values, { receiver: ctx.id, reason: 'max_attribute_value_size' });
    ctx.problems.report('truncated', 'OTLP attributes cut to the receiver\'s limits', {
      signal, protocol: origin.protocol, dropped_attributes: attributes, cut_values: values,
      max_attributes_per_item: limits.maxAttributes, max_attribute_value_size: limits.maxValueBytes,
    });
  }
  const errors = [...converted.errors, ...result.rejections].slice(0, 3);
  return { status: 'ok', rejected: converted.rejected + result.rejectedItems, message: errors.join('; '), durable: result.durable };
}
