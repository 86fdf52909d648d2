/** The sampling processor's operator: decisions per batch, and held traces released by a timer. */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Batch } from '../../model/types.js';
import type { Drops, Sampler } from './sampler.js';

export function samplingOperator(sampler: Sampler, sweepEveryMs: number, report: (drops: Drops, decisions: Map<string, number>) => void): OperatorFunction<Batch, Batch> {
  const flushCounts = (): void => {
    if (sampler.drops.size > 0 || sampler.decisions.size > 0) report(sampler.drops, sampler.decisions);
    sampler.drops = new Map();
    sampler.decisions = new Map();
  };
  return (source) =>
    new Observable<Batch>((subscriber) => {
      const timer = setInterval(() => {
        const spans = sampler.due(Date.now());
        flushCounts();
        if (spans.length > 0) subscriber.next({ events: [], spans, metrics: [] });
      }, sweepEveryMs);
      timer.unref();
      const subscription = source.subscribe({
        next: (batch) => {
          const out = sampler.process(batch, Date.now());
          flushCounts();
          if (out.events.length + out.spans.length + out.metrics.length > 0) subscriber.next(out);
        },
        error: (error: unknown) => {
          clearInterval(timer);
          subscriber.error(error);
        },
        complete: () => {
          clearInterval(timer);
          const spans = sampler.flush(Date.now());
          flushCounts();
          if (spans.length > 0) subscriber.next({ events: [], spans, metrics: [] });
          subscriber.complete();
        },
      });
      return () => {
        clearInterval(timer);
        subscription.unsubscribe();
      };
    });
}
