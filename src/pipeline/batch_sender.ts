/**
 * Sending one batch to an exporter with retry and exponential backoff, shared
 * by the memory and the disk sending queues. Every loss is counted by reason.
 */
import type { Attributes } from '@opentelemetry/api';
import type { ExporterSettings } from '../component/exporter_settings.js';
import type { ComponentStatus, Exporter, QueueReceipt } from '../component/types.js';
import { parseDuration } from '../config/units.js';
import { batchSize, type Batch } from '../model/types.js';
import type { Logger, ProblemReporter } from '../util/logger.js';
import type { PipelineInstruments } from './metrics.js';

/** Consecutive failed sends after which the exporter reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 3;

/** sent: the exporter took it (perhaps dropping part, counted); failed: given up (counted); stopped: shutdown came first, nothing counted. */
export type SendOutcome = 'sent' | 'failed' | 'stopped';

export class BatchSender {
  private consecutiveFailures = 0;
  readonly attrs: Attributes;
  readonly abort = new AbortController();
  /** Retry durations, parsed once rather than per batch. */
  private readonly retryMs: { initial: number; max: number; maxElapsed: number };

  constructor(
    readonly id: string,
    private readonly exporter: Exporter,
    private readonly settings: ExporterSettings,
    private readonly instruments: PipelineInstruments,
    private readonly logger: Logger,
    private readonly problems: ProblemReporter,
    private readonly reportStatus: (s: ComponentStatus) => void,
    /** A disk queue keeps what shutdown interrupts: it is not counted as lost. */
    private readonly keepsOnShutdown = false,
  ) {
    const retry = settings.retry_on_failure;
    this.retryMs = {
      initial: parseDuration(retry.initial_interval),
      max: parseDuration(retry.max_interval),
      maxElapsed: parseDuration(retry.max_elapsed_time),
    };
    this.attrs = { exporter: id };
  }

  async send(batch: Batch, receipt?: QueueReceipt): Promise<SendOutcome> {
    const n = batchSize(batch);
    const retry = this.settings.retry_on_failure;
    const started = Date.now();
    let wait = this.retryMs.initial;
    for (;;) {
      let result;
      try {
        result = await this.exporter.export(batch, receipt);
      } catch (error) {
        // The contract says exporters do not throw; one that does is treated as a retryable failure.
        result = { ok: false as const, retryable: true, error: error as Error };
      }
      if (result.ok) {
        const dropped = result.dropped && result.dropped.count > 0 ? Math.min(result.dropped.count, n) : 0;
        if (dropped > 0) {
          this.instruments.exporterSendFailed.add(dropped, { ...this.attrs, reason: result.dropped?.reason ?? 'unsupported' });
          this.problems.report('partly_dropped', 'exporter could not send part of a batch', { exporter: this.id, items: dropped, reason: result.dropped?.reason });
        }
        if (n - dropped > 0) this.instruments.exporterSent.add(n - dropped, this.attrs);
        if (this.consecutiveFailures >= UNHEALTHY_AFTER_FAILURES) this.reportStatus({ healthy: true });
        this.consecutiveFailures = 0;
        return 'sent';
      }
      this.consecutiveFailures++;
      if (this.consecutiveFailures === UNHEALTHY_AFTER_FAILURES) {
        this.reportStatus({ healthy: false, reason: `${this.consecutiveFailures} consecutive export failures: ${result.error.message}` });
      }
      const elapsed = Date.now() - started;
      const stopping = this.abort.signal.aborted;
      if (stopping && result.retryable && this.keepsOnShutdown) return 'stopped';
      const maxElapsed = this.retryMs.maxElapsed;
      const giveUp = !result.retryable || !retry.enabled || stopping || (maxElapsed > 0 && elapsed + Math.max(wait, result.retryAfterMs ?? 0) > maxElapsed);
      if (giveUp) {
        const reason = stopping ? 'shutdown' : 'export_error';
        this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason });
        this.problems.report('export_failed', 'export failed, batch dropped', { exporter: this.id, items: n, error: result.error.message, retryable: result.retryable });
        return 'failed';
      }
      const jitter = 1 + retry.randomization_factor * (2 * Math.random() - 1);
      const pause = Math.max(wait * jitter, result.retryAfterMs ?? 0);
      this.logger.debug('export failed, retrying', { exporter: this.id, error: result.error.message, wait_ms: Math.round(pause) });
      await sleep(pause, this.abort.signal);
      if (this.abort.signal.aborted && this.keepsOnShutdown) return 'stopped';
      wait = Math.min(wait * retry.multiplier, this.retryMs.max);
    }
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Both queues' drain: resolves when `idle` does, or — once `deadline` passes
 * (then `onDeadline` runs: retries stop) — after a short grace for a send in
 * flight. One listener on the shared deadline, removed after.
 */
export async function untilIdleOrDeadline(idle: Promise<void>, deadline: AbortSignal, onDeadline: () => void): Promise<void> {
  let wake = (): void => undefined;
  const late = new Promise<void>((resolve) => (wake = resolve));
  const passed = (): void => {
    wake();
    onDeadline();
  };
  if (deadline.aborted) passed();
  else deadline.addEventListener('abort', passed, { once: true });
  await Promise.race([idle, late.then(() => raceTimeout(idle, 1000))]);
  deadline.removeEventListener('abort', passed);
}

/** After the deadline, give an in-flight send a short grace to finish, then move on. */
function raceTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
