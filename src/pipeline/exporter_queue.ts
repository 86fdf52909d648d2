/**
 * The shared exporter helper: a bounded queue (in items) in front of each
 * exporter, consumers that send in order, and retry with exponential backoff.
 * Exporters only send; every loss here is counted by reason.
 */
import type { Attributes, Meter } from '@opentelemetry/api';
import type { ExporterSettings } from '../component/exporter_settings.js';
import type { ComponentStatus, Exporter } from '../component/types.js';
import { batchSize, type Batch } from '../model/types.js';
import type { Logger, ProblemReporter } from '../util/logger.js';
import { BatchSender, untilIdleOrDeadline } from './batch_sender.js';
import type { PipelineInstruments } from './metrics.js';

/** What the graph and the service need of an exporter's sending queue, in memory or on disk. */
export interface SendingQueue {
  readonly id: string;
  /** Items waiting (not yet sent). */
  readonly size: number;
  /** Items that stay queued at shutdown and are sent after a restart (a disk queue's). */
  readonly kept: number;
  /** Recovers what a previous run left (after the exporter started). */
  open(): Promise<void>;
  ready(): boolean;
  whenReady(): Promise<void>;
  enqueue(batch: Batch): void;
  drain(deadline: AbortSignal): Promise<void>;
  /** After the exporter shut down: releases what the queue holds open. */
  close(): Promise<void>;
}

export class ExporterQueue implements SendingQueue {
  private readonly queue: Batch[] = [];
  private queuedItems = 0;
  private active = 0;
  private closed = false;
  private readonly capacity: number;
  private readonly highWater: number;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly readyWaiters: Array<() => void> = [];
  private readonly attrs: Attributes;
  private readonly sender: BatchSender;
  readonly kept = 0;

  constructor(
    readonly id: string,
    exporter: Exporter,
    private readonly settings: ExporterSettings,
    private readonly instruments: PipelineInstruments,
    private readonly logger: Logger,
    private readonly problems: ProblemReporter,
    reportStatus: (s: ComponentStatus) => void,
    meter: Meter,
  ) {
    this.capacity = settings.sending_queue.queue_size;
    this.sender = new BatchSender(id, exporter, settings, instruments, logger, problems, reportStatus);
    this.highWater = Math.max(1, Math.floor(this.capacity / 2));
    this.attrs = { exporter: id };
    meter
      .createObservableGauge('scope_exporter_queue_size', { unit: '{item}', description: 'Items waiting in an exporter queue.' })
      .addCallback((r) => r.observe(this.queuedItems, this.attrs));
    meter
      .createObservableGauge('scope_exporter_queue_capacity', { unit: '{item}', description: 'Capacity of an exporter queue.' })
      .addCallback((r) => r.observe(this.capacity, this.attrs));
  }

  async open(): Promise<void> {
    // Nothing outlives the process.
  }

  async close(): Promise<void> {
    // Nothing to release.
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
      void this.sender.send(batch).finally(() => {
        this.active--;
        this.queuedItems -= batchSize(batch);
        if (this.ready()) for (const w of this.readyWaiters.splice(0)) w();
        this.pump();
        if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
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
    await untilIdleOrDeadline(idle, deadline, () => {
      this.sender.abort.abort();
      const left = this.queue.splice(0);
      const items = left.reduce((a, b) => a + batchSize(b), 0);
      if (items > 0) {
        this.queuedItems -= items;
        this.instruments.exporterSendFailed.add(items, { ...this.attrs, reason: 'shutdown' });
        this.logger.warn('shutdown deadline passed: dropping queued items', { exporter: this.id, items });
      }
    });
  }
}

