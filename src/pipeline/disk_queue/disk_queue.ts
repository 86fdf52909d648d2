/**
 * The disk sending queue (`sending_queue.storage: disk`), as the Collector's
 * persistent queue and Vector's disk buffers: every batch is appended to a
 * segment log before the receiver answers its client, sent from memory while
 * it fits in `queue_size` (read back from disk otherwise), and released only
 * once delivered — for an exporter that keeps what it took (parquet), once it
 * says the entry is durable on its side. After a crash the log replays what
 * was not released. At least once; parquet skips what its files already hold.
 *
 * Payload of a record: `[u32 items][v8-serialized Batch]` (the structured
 * clone format keeps bigint times and typed arrays exact, and V8 reads older
 * versions of it, so a queue written by Node 20 replays under Node 22).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { Attributes, Meter } from '@opentelemetry/api';
import type { ExporterSettings } from '../../component/exporter_settings.js';
import type { ComponentStatus, Exporter } from '../../component/types.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { batchSize, type Batch } from '../../model/types.js';
import { ScopeError } from '../../util/errors.js';
import type { Logger, ProblemReporter } from '../../util/logger.js';
import { pidLock, type PidLock } from '../../util/pid_lock.js';
import { BatchSender, untilIdleOrDeadline } from '../batch_sender.js';
import type { SendingQueue } from '../exporter_queue.js';
import type { PipelineInstruments } from '../metrics.js';
import { registerDurable } from './durability.js';
import { SegmentLog } from './segment_log.js';

const SEGMENT_BYTES = 16 << 20;
/** Receivers are pushed back when the log takes this share of max_size. */
const HIGH_WATER = 0.9;

/** queued → sending → (held →) done; `lost`: its append failed (its sender was told to retry). */
type EntryState = 'queued' | 'sending' | 'held' | 'done' | 'lost';

interface Entry {
  seq: number;
  items: number;
  state: EntryState;
  /** On disk (or given up): only then can it be released. */
  written: boolean;
  /** The batch itself while it is kept in memory. */
  batch?: Batch;
  /** Settles when its append did (read back from disk only after). */
  appended?: Promise<unknown>;
  /** The commit generation when the exporter took it: only a later report can cover it. */
  heldAt?: number;
}

/** The queue's directory for an exporter id (`otlp/jaeger` → `otlp_jaeger`). */
export function queueDir(path: string, exporterId: string): string {
  return join(path, exporterId.replace(/[^A-Za-z0-9_.-]/g, '_'));
}

export class DiskExporterQueue implements SendingQueue {
  private readonly log: SegmentLog;
  private readonly sender: BatchSender;
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly memoryItems: number;
  private readonly attrs: Attributes;
  /** Entries not yet released, in seq order. */
  private readonly unreleased: Entry[] = [];
  /** Entries to send, in order. */
  private readonly waiting: Entry[] = [];
  private queuedItems = 0;
  private cachedItems = 0;
  private keptItems = 0;
  private active = 0;
  private closed = false;
  private opened = false;
  private queueId = '';
  /** What the exporter says is durable on its side (exporters that keep what they took). */
  private committed = 0;
  /** Counts the exporter's commit reports that moved `committed` on. */
  private commitGeneration = 0;
  private readonly tracksCommits: boolean;
  private lock?: PidLock;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly readyWaiters: Array<() => void> = [];

  constructor(
    readonly id: string,
    private readonly exporter: Exporter,
    private readonly settings: ExporterSettings,
    private readonly instruments: PipelineInstruments,
    private readonly logger: Logger,
    private readonly problems: ProblemReporter,
    reportStatus: (s: ComponentStatus) => void,
    meter: Meter,
  ) {
    const q = settings.sending_queue;
    this.dir = queueDir(q.path, id);
    this.maxBytes = parseSize(q.max_size);
    this.memoryItems = q.queue_size;
    this.attrs = { exporter: id };
    this.tracksCommits = typeof exporter.trackCommits === 'function';
    this.sender = new BatchSender(id, exporter, settings, instruments, logger, problems, reportStatus, true);
    this.log = new SegmentLog({
      dir: this.dir, segmentBytes: SEGMENT_BYTES, fsync: q.fsync, fsyncIntervalMs: parseDuration(q.fsync_interval),
      maxRecordBytes: Math.min(this.maxBytes, 1 << 30),
    });
    meter
      .createObservableGauge('scope_exporter_queue_size', { unit: '{item}', description: 'Items waiting in an exporter queue.' })
      .addCallback((r) => r.observe(this.queuedItems, this.attrs));
    meter
      .createObservableGauge('scope_exporter_queue_disk_bytes', { unit: 'By', description: 'Bytes of a disk sending queue not yet released.' })
      .addCallback((r) => r.observe(this.log.bytes, this.attrs));
    meter
      .createObservableGauge('scope_exporter_queue_disk_capacity', { unit: 'By', description: 'max_size of a disk sending queue.' })
      .addCallback((r) => r.observe(this.maxBytes, this.attrs));
  }

  get size(): number {
    return this.queuedItems - this.keptItems;
  }

  get kept(): number {
    return this.keptItems;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    mkdirSync(this.dir, { recursive: true });
    this.lock = pidLock(join(this.dir, 'queue.lock'), (owner) => new ScopeError('QUEUE_LOCKED',
      `the disk queue ${this.dir} is used by process ${owner} (one exporter per queue directory)`));
    this.queueId = this.identity();
    const recovered = this.log.open();
    this.opened = true;
    if (this.exporter.trackCommits) {
      this.committed = await this.exporter.trackCommits(this.queueId, (through) => this.onCommitted(through));
    }
    let replayItems = 0;
    let skipped = 0;
    for (let i = 0; i < recovered.seqs.length; i++) {
      const seq = recovered.seqs[i];
      if (seq <= this.committed) {
        skipped++;
        continue;
      }
      const items = recovered.heads[i];
      const entry: Entry = { seq, items, state: 'queued', written: true };
      this.unreleased.push(entry);
      this.waiting.push(entry);
      this.queuedItems += items;
      replayItems += items;
    }
    if (this.committed > this.log.released) this.log.release(this.committed);
    if (recovered.truncatedBytes > 0) {
      this.logger.warn('disk queue: cut off a torn or corrupt tail (a write the last run did not finish; never acknowledged)', {
        exporter: this.id, path: this.dir, bytes: recovered.truncatedBytes,
      });
    }
    if (replayItems > 0 || skipped > 0) {
      this.logger.info('disk queue: replaying what the last run did not deliver', {
        exporter: this.id, path: this.dir, batches: this.waiting.length, items: replayItems, already_durable_batches: skipped,
      });
    }
    this.pump();
  }

  ready(): boolean {
    return this.closed || this.log.bytes < this.maxBytes * HIGH_WATER;
  }

  whenReady(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  enqueue(batch: Batch): void {
    const n = batchSize(batch);
    if (n === 0) return;
    if (this.closed || !this.opened) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'shutdown' });
      return;
    }
    let payload: Buffer;
    try {
      const body = serialize(batch);
      payload = Buffer.allocUnsafe(4 + body.length);
      payload.writeUInt32LE(n, 0);
      body.copy(payload, 4);
    } catch (error) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'invalid_item' });
      this.problems.report('queue_serialize', 'disk queue cannot store a batch', { exporter: this.id, items: n, error: (error as Error).message });
      return;
    }
    if (this.log.bytes + payload.length > this.maxBytes && this.unreleased.length > 0) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'queue_full' });
      this.problems.report('queue_full', 'disk queue full: dropping newest batch', { exporter: this.id, items: n, max_size: this.maxBytes });
      return;
    }
    let appended;
    try {
      appended = this.log.append(payload);
    } catch (error) {
      this.instruments.exporterSendFailed.add(n, { ...this.attrs, reason: 'queue_write_failed' });
      this.problems.report('queue_write_failed', 'disk queue cannot store a batch', { exporter: this.id, items: n, error: (error as Error).message });
      return;
    }
    const keep = this.cachedItems + n <= this.memoryItems;
    const entry: Entry = { seq: appended.seq, items: n, state: 'queued', written: false, batch: keep ? batch : undefined };
    if (keep) this.cachedItems += n;
    this.unreleased.push(entry);
    this.waiting.push(entry);
    this.queuedItems += n;
    const durable = appended.durable.then(
      () => {
        entry.written = true;
        this.releaseDone();
        return undefined;
      },
      (error: Error) => this.appendFailed(entry, error),
    );
    entry.appended = durable;
    registerDurable(durable);
    this.pump();
  }

  /** The append did not reach the disk: its receiver tells the sender to retry, so this copy is not sent. */
  private appendFailed(entry: Entry, error: Error): Error {
    entry.written = true;
    this.problems.report('queue_write_failed', 'disk queue could not write a batch; its sender is told to retry', {
      exporter: this.id, path: this.dir, items: entry.items, error: error.message,
    });
    if (entry.state === 'queued' || entry.state === 'sending') {
      entry.state = 'lost';
      this.forget(entry);
      this.instruments.exporterSendFailed.add(entry.items, { ...this.attrs, reason: 'queue_write_failed' });
    }
    this.releaseDone();
    return error;
  }

  private forget(entry: Entry): void {
    this.queuedItems -= entry.items;
    if (entry.batch) this.cachedItems -= entry.items;
    entry.batch = undefined;
  }

  private pump(): void {
    while (this.active < this.settings.sending_queue.num_consumers && this.waiting.length > 0 && !this.sender.abort.signal.aborted) {
      const entry = this.waiting.shift() as Entry;
      if (entry.state !== 'queued') continue;
      entry.state = 'sending';
      this.active++;
      void this.send(entry).finally(() => {
        this.active--;
        this.releaseDone();
        this.pump();
        if (this.active === 0 && (this.waiting.length === 0 || this.sender.abort.signal.aborted)) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async send(entry: Entry): Promise<void> {
    // An entry goes out only once it is on disk: one whose append failed was answered "retry" and is not sent.
    if (!entry.written) await entry.appended;
    if (entry.state === 'lost') return;
    let batch = entry.batch;
    if (!batch) {
      try {
        batch = deserialize(this.log.read(entry.seq).subarray(4)) as Batch;
      } catch (error) {
        // The CRC held, so this is a batch V8 cannot read back: counted, never retried.
        this.instruments.exporterSendFailed.add(entry.items, { ...this.attrs, reason: 'unreadable' });
        this.problems.report('queue_unreadable', 'disk queue entry cannot be read back', { exporter: this.id, seq: entry.seq, error: (error as Error).message });
        entry.state = 'done';
        this.forget(entry);
        return;
      }
    }
    const outcome = await this.sender.send(batch, { queue: this.queueId, seq: entry.seq });
    if (outcome === 'stopped') {
      // Shutdown came first: it stays on disk for the next run.
      entry.state = 'queued';
      if (entry.batch) this.cachedItems -= entry.items;
      entry.batch = undefined;
      return;
    }
    entry.state = outcome === 'sent' && this.tracksCommits ? 'held' : 'done';
    // A report computed before the exporter took this entry (several consumers) cannot cover it.
    entry.heldAt = this.commitGeneration;
    this.forget(entry);
  }

  private onCommitted(through: number): void {
    if (through <= this.committed) return;
    this.committed = through;
    this.commitGeneration++;
    this.releaseDone();
  }

  /** Releases the longest prefix of entries that are written and delivered. */
  private releaseDone(): void {
    let through = 0;
    while (this.unreleased.length > 0) {
      const e = this.unreleased[0];
      const delivered = e.state === 'done' || e.state === 'lost' || (e.state === 'held' && e.seq <= this.committed && this.commitGeneration > (e.heldAt ?? 0));
      if (!delivered || !e.written) break;
      through = e.seq;
      this.unreleased.shift();
    }
    if (through > 0) this.log.release(through);
    if (this.ready()) for (const w of this.readyWaiters.splice(0)) w();
  }

  /**
   * Stops intake and sends what is queued until the deadline; what is left
   * then stays on disk, is not lost, and is sent after the restart.
   */
  async drain(deadline: AbortSignal): Promise<void> {
    this.closed = true;
    for (const w of this.readyWaiters.splice(0)) w();
    if (!this.opened) return;
    const idle = new Promise<void>((resolve) => {
      if (this.active === 0 && this.waiting.length === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    await untilIdleOrDeadline(idle, deadline, () => this.sender.abort.abort());
    await this.log.settle();
    this.keptItems = this.unreleased.reduce((n, e) => n + (e.state === 'queued' || e.state === 'sending' ? e.items : 0), 0);
    if (this.keptItems > 0) {
      this.logger.warn('shutdown deadline passed: what is not sent stays in the disk queue and is sent after the restart', {
        exporter: this.id, path: this.dir, items: this.keptItems,
      });
    }
  }

  /** After the exporter shut down (its last commits are in): the log is closed with its released seq. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await this.log.close();
    this.lock?.release();
  }

  /** The queue's identity: made with its directory, so an exporter can tell a new queue from the one it recorded. */
  private identity(): string {
    const path = join(this.dir, 'id');
    try {
      const id = readFileSync(path, 'utf8').trim();
      if (id.length > 0) return id;
    } catch {
      // a new queue
    }
    const id = randomUUID();
    writeFileSync(path, id);
    return id;
  }
}
