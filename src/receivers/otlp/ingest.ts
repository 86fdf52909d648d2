/** What both OTLP protocols do with a decoded request: convert, hand to the pipeline, and say how it went. */
import type { ReceiverContext, Refusal } from '../../component/types.js';
import type { Batch } from '../../model/types.js';
import { convertLogs, convertMetrics, convertTraces, type Msg } from './convert.js';
import type { Signal } from '../../otel/proto.js';

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

/** Throws when the message cannot be read as a request of its signal. */
export function ingest(signal: Signal, message: Msg, ctx: ReceiverContext): IngestOutcome {
  const batch: Batch = { events: [], spans: [], metrics: [] };
  let converted;
  if (signal === 'traces') {
    converted = convertTraces(message);
    batch.spans = converted.items;
  } else if (signal === 'logs') {
    converted = convertLogs(message, ctx.id);
    batch.events = converted.items;
  } else {
    converted = convertMetrics(message);
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
