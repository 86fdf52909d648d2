/** The correlation processor's operator: raw events pass through; the spans and process.crash events made are added. */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Batch } from '../../model/types.js';
import type { Correlator, Output } from './correlator.js';

function withOutput(batch: Batch, out: Output): Batch {
  if (out.spans.length === 0 && out.events.length === 0) return batch;
  // New arrays: the input batch may be shared with other pipelines.
  return {
    events: out.events.length === 0 ? batch.events : batch.events.concat(out.events),
    spans: out.spans.length === 0 ? batch.spans : batch.spans.concat(out.spans),
    metrics: batch.metrics,
  };
}

/** `afterEach` runs after every call into the correlator (the processor hands its counts to the meter there). */
export function correlationOperator(correlator: Correlator, sweepEveryMs: number, afterEach: () => void = () => undefined): OperatorFunction<Batch, Batch> {
  return (source) =>
    new Observable<Batch>((subscriber) => {
      // Timeouts (unfinished calls, idle handling spans, crash windows) are by the wall clock, so they fire in a quiet system too.
      const timer = setInterval(() => {
        const out = correlator.sweep(Date.now());
        afterEach();
        if (out.spans.length > 0 || out.events.length > 0) subscriber.next({ events: out.events, spans: out.spans, metrics: [] });
      }, sweepEveryMs);
      timer.unref();
      // A crash is sent the moment its window ends, not at the next sweep (up to sweepEveryMs later): a
      // one-shot timer at the earliest due crash, so `inspect crash latest --daemon` sees it a second after.
      let crashTimer: NodeJS.Timeout | undefined;
      let crashTimerAt = Number.POSITIVE_INFINITY;
      const scheduleCrash = (): void => {
        const due = correlator.nextCrashDueMs;
        if (due === undefined || due >= crashTimerAt) return;
        clearTimeout(crashTimer);
        crashTimerAt = due;
        crashTimer = setTimeout(() => {
          crashTimerAt = Number.POSITIVE_INFINITY;
          const out = correlator.emitDueCrashes(Date.now());
          afterEach();
          if (out.spans.length > 0 || out.events.length > 0) subscriber.next({ events: out.events, spans: out.spans, metrics: [] });
          scheduleCrash();
        }, Math.max(0, due - Date.now()));
        crashTimer.unref();
      };
      const stopTimers = (): void => {
        clearInterval(timer);
        clearTimeout(crashTimer);
      };
      const subscription = source.subscribe({
        next: (batch) => {
          const out = correlator.process(batch.events, Date.now());
          afterEach();
          subscriber.next(withOutput(batch, out));
          scheduleCrash();
        },
        error: (error: unknown) => {
          stopTimers();
          subscriber.error(error);
        },
        complete: () => {
          stopTimers();
          const out = correlator.flush();
          afterEach();
          if (out.spans.length > 0 || out.events.length > 0) subscriber.next({ events: out.events, spans: out.spans, metrics: [] });
          subscriber.complete();
        },
      });
      return () => {
        stopTimers();
        subscription.unsubscribe();
      };
    });
}
