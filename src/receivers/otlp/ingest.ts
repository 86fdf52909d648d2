/** What both OTLP protocols do with a decoded request: convert, hand to the pipeline, and say how it went. */
import type { ReceiverContext, Refusal } from '../../component/types.js';
import type { Batch } from '../../model/types.js';
import type { Span } from '../../model/types.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';
import { convertLogs, convertMetrics, convertTraces, type Converted, type Msg } from './convert.js';
import { decodeTraceRequest } from './wire_traces.js';

export type Refused =
  | { status: 'pushback'; retryAfterMs: number; message: string }
  | { status: 'refused'; message: string };

export type IngestOutcome = { status: 'ok'; rejected: number; message: string } | Refused;

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

/** Protobuf bytes → a request; throws when they are not a valid request of the signal. */
export function decodeProtobuf(signal: Signal, bytes: Uint8Array): DecodedRequest {
  if (signal === 'traces') return { spans: decodeTraceRequest(bytes) };
  return { message: otlpTypes().request[signal].decode(bytes) as unknown as Msg };
}

/** Throws when the message cannot be read as a request of its signal. */
export function ingest(signal: Signal, request: DecodedRequest, ctx: ReceiverContext): IngestOutcome {
  const batch: Batch = { events: [], spans: [], metrics: [] };
  let converted;
  if ('spans' in request) {
    converted = request.spans;
    batch.spans = converted.items;
  } else if (signal === 'traces') {
    converted = convertTraces(request.message);
    batch.spans = converted.items;
  } else if (signal === 'logs') {
    converted = convertLogs(request.message, ctx.id);
    batch.events = converted.items;
  } else {
    converted = convertMetrics(request.message);
    batch.metrics = converted.items;
  }
  if (converted.rejected > 0) ctx.countRefused(converted.rejected, 'invalid_item');
  if (converted.items.length === 0) return { status: 'ok', rejected: converted.rejected, message: converted.errors.join('; ') };
  // Success is answered only once the pipeline took the batch.
  const result = ctx.consumer.consume(batch);
  if (result.status === 'refused') return answerRefusal(result);
  const errors = [...converted.errors, ...result.rejections].slice(0, 3);
  return { status: 'ok', rejected: converted.rejected + result.rejectedItems, message: errors.join('; ') };
}
