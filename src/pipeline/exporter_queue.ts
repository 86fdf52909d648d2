/**
 * The shared exporter helper: a bounded queue (in items) in front of each
 * exporter, consumers that send in order, and retry with exponential backoff.
 * Exporters only send; every loss here is counted by reason.
 */
import type { Attributes, Meter } from '@opentelemetry/api';
import type { ExporterSettings } from '../component/exporter_settings.js';
import type { ComponentStatus, Exporter } from '../component/types.js';
import { parseDuration } from '../config/units.js';
import { batchSize, type Batch } from '../model/types.js';
import type { Logger, ProblemReporter } from '../util/logger.js';
import type { PipelineInstruments } from './metrics.js';

/** Consecutive failed sends after which the exporter reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 3;

export class ExporterQueue {
  private readonly queue: Batch[] = [];
  private queuedItems = 0;
  private active = 0;
  private closed = false;
  private readonly capacity: number;
  private readonly highWater: number;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly readyWaiters: Array<() => void> = [];
  private consecutiveFailures = 0;
  private readonly attrs: Attributes;
  private readonly abort = new AbortController();
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
    meter: Meter,
  ) {
    this.capacity = settings.sending_queue.queue_size;
    const retry = settings.retry_on_failure;
    this.retryMs = {
      initial: parseDuration(retry.initial_interval),
      max: parseDuration(retry.max_interval),
      maxElapsed: parseDuration(retry.max_elapsed_time),
    };
    this.highWater = Math.max(1, Math.floor(this.capacity / 2));
    this.attrs = { exporter: id };
    meter
      .createObservableGauge('scope_exporter_queue_size', { unit: '{item}', description: 'Items waiting in an exporter queue.' })
      .addCallback((r) => r.observe(this.queuedItems, this.attrs));
    meter
      .createObservableGauge('scope_exporter_queue_capacity', { unit: '{item}', description: 'Capacity of an exporter queue.' })
      .addCallback((r) => r.observe(this.capacity, this.attrs));
  }

  get size(): number {
    return this.queuedItems;
  }

  /** Below the high-water mark: sources may push. (A closed queue never makes anyone wait.) */
  ready(): boolean {
    return this.closed || this.queuedItems < this.highWater;
  }

  whenReady(): Promise<void> {
    if (this.ready() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Takes a batch, or drops it (newest) when the queue is full or closed. */
  enqueue(batch: Batch): void {
    const n = batchSize(batch);
    if (n === 0) return;
    if (this.closed) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'shutdown' });
      return;
    }
    if (this.queuedItems + n > this.capacity && this.queuedItems > 0) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'queue_full' });
      this.problems.report('queue_full', 'exporter queue full: dropping newest batch', { exporter: this.id, items: n, capacity: this.capacity });
      return;
    }
    this.queue.push(batch);
    this.queuedItems += n;
    this.pump();
  }

  private pump(): void {
    while (this.active < this.settings.sending_queue.num_consumers && this.queue.length > 0) {
      const batch = this.queue.shift() as Batch;
      this.active++;
      void this.send(batch).finally(() => {
        this.active--;
        this.queuedItems -= batchSize(batch);
        if (this.ready()) for (const w of this.readyWaiters.splice(0)) w();
        this.pump();
        if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async send(batch: Batch): Promise<void> {
    const n = batchSize(batch);
    const retry = this.settings.retry_on_failure;
    const started = Date.now();
    let wait = this.retryMs.initial;
    const maxWait = this.retryMs.max;
    const maxElapsed = this.retryMs.maxElapsed;
    for (;;) {
      let result;
      try {
        result = await this.exporter.export(batch);
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
        return;
      }
      this.consecutiveFailures++;
      if (this.consecutiveFailures === UNHEALTHY_AFTER_FAILURES) {
        this.reportStatus({ healthy: false, reason: `${this.consecutiveFailures} consecutive export failures: ${result.error.message}` });
      }
      const elapsed = Date.now() - started;
      const giveUp = !result.retryable || !retry.enabled || this.abort.signal.aborted || (maxElapsed > 0 && elapsed + Math.max(wait, result.retryAfterMs ?? 0) > maxElapsed);
      if (giveUp) {
        const reason = this.abort.signal.aborted ? 'shutdown' : 'export_error';
        this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason });
        this.problems.report('export_failed', 'export failed, batch dropped', { exporter: this.id, items: n, error: result.error.message, retryable: result.retryable });
        return;
      }
      const jitter = 1 + retry.randomization_factor * (2 * Math.random() - 1);
      const pause = Math.max(wait * jitter, result.retryAfterMs ?? 0);
      this.logger.debug('export failed, retrying', { exporter: this.id, error: result.error.message, wait_ms: Math.round(pause) });
      await sleep(pause, this.abort.signal);
      wait = Math.min(wait * retry.multiplier, maxWait);
    }
  }

  /**
   * Stops intake and waits until every queued batch was sent or failed. Past the
   * deadline, retries stop and what is left is counted as failed (reason shutdown).
   */
  async drain(deadline: AbortSignal): Promise<void> {
    this.closed = true;
    for (const w of this.readyWaiters.splice(0)) w();
    const idle = new Promise<void>((resolve) => {
      if (this.active === 0 && this.queue.length === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    const onDeadline = (): void => {
      this.abort.abort();
      const left = this.queue.splice(0);
      const items = left.reduce((a, b) => a + batchSize(b), 0);
      if (items > 0) {
        this.queuedItems -= items;
        this.instruments.exporterSendFailed.add(items, { ...this.attrs, reason: 'shutdown' });
        this.logger.warn('shutdown deadline passed: dropping queued items', { exporter: this.id, items });
      }
    };
    if (deadline.aborted) onDeadline();
    else deadline.addEventListener('abort', onDeadline, { once: true });
    await Promise.race([idle, abortPromise(deadline).then(() => raceTimeout(idle, 1000))]);
    deadline.removeEventListener('abort', onDeadline);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
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

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** After the deadline, give an in-flight send a short grace to finish, then move on. */
function raceTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
