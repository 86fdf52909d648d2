/** Merges small batches and splits large ones, by size and by time. */
import { Observable, type OperatorFunction } from 'rxjs';
import { batchSize, emptyBatch, type Batch } from '../../model/types.js';

export interface BatchingOptions {
  sendBatchSize: number;
  /** 0 = no bound. */
  maxBatchSize: number;
  /** 0 = send each batch as it comes. */
  timeoutMs: number;
}

/** Splits off the first `count` items (events first, then spans, then metrics). */
export function splitBatch(batch: Batch, count: number): [Batch, Batch] {
  const head = emptyBatch();
  const tail = emptyBatch();
  let left = count;
  for (const key of ['events', 'spans', 'metrics'] as const) {
    const items = batch[key] as unknown[];
    const take = Math.min(left, items.length);
    (head[key] as unknown[]) = take === items.length ? items : items.slice(0, take);
    (tail[key] as unknown[]) = take === 0 ? items : items.slice(take);
    left -= take;
  }
  return [head, tail];
}

function append(into: Batch, from: Batch): void {
  for (const e of from.events) into.events.push(e);
  for (const s of from.spans) into.spans.push(s);
  for (const m of from.metrics) into.metrics.push(m);
}

export function batching(options: BatchingOptions): OperatorFunction<Batch, Batch> {
  const { sendBatchSize, maxBatchSize, timeoutMs } = options;
  return (source) =>
    new Observable<Batch>((subscriber) => {
      let pending = emptyBatch();
      let pendingItems = 0;
      let timer: NodeJS.Timeout | undefined;

      const emit = (batch: Batch): void => {
        let rest = batch;
        while (maxBatchSize > 0 && batchSize(rest) > maxBatchSize) {
          const [head, tail] = splitBatch(rest, maxBatchSize);
          subscriber.next(head);
          rest = tail;
        }
        if (batchSize(rest) > 0) subscriber.next(rest);
      };
      const flush = (): void => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (pendingItems === 0) return;
        const out = pending;
        pending = emptyBatch();
        pendingItems = 0;
        emit(out);
      };

      const subscription = source.subscribe({
        next: (batch) => {
          const n = batchSize(batch);
          if (n === 0) return;
          if (timeoutMs === 0 || (pendingItems === 0 && n >= sendBatchSize)) {
            // Big enough on its own: no copy.
            emit(batch);
            return;
          }
          append(pending, batch);
          pendingItems += n;
          if (pendingItems >= sendBatchSize) flush();
          else if (!timer) {
            timer = setTimeout(flush, timeoutMs);
            timer.unref();
          }
        },
        error: (error: unknown) => {
          flush();
          subscriber.error(error);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        if (timer) clearTimeout(timer);
        subscription.unsubscribe();
      };
    });
}
