/**
 * The parquet exporter as the pipeline sees it: a proxy that hands batches to
 * the archive writer on its own worker thread (worker.ts), so that Parquet
 * encoding runs on another core while the pipeline's queue and push-back
 * work as for any exporter.
 *
 * A batch is acknowledged once its chunks are posted to the writer, which
 * takes every batch posted so (`ahead`), and export() waits for the writer's
 * answer to the batch before: the pipeline's thread builds the next batch
 * while the writer encodes (it answers between pieces of a row group,
 * prepare.ts), and at most two batches are on their way. While the writer says
 * the archive cannot be written (it is unhealthy, or an answer refused),
 * batches wait for their own answer again, and are refused (retryable) while
 * it lasts.
 */
import { Worker } from 'node:worker_threads';
import type { Attributes, Counter } from '@opentelemetry/api';
import type { ComponentContext, Exporter, ExportResult, QueueReceipt } from '../../component/types.js';
import type { Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import type { ParquetExporterConfig } from './config.js';
import type { TableName } from '../../archive/tables.js';
import type { ArchiveWriterMode } from './archive.js';
import { transferList, type ColumnChunk } from './chunks.js';
import { PARQUET_COUNTERS, PARQUET_GAUGES } from './metrics.js';
import { fromWire, type FromWorker, type ToWorker } from './protocol.js';
import { buildChunks, Router, tableDefs, type TableDef } from './router.js';
import type { RowProblem } from './rows.js';

type Done = Extract<FromWorker, { op: 'done' }>;

export class ParquetWorkerExporter implements Exporter {
  private worker?: Worker;
  private failure?: Error;
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Done) => void>();
  private readonly counters = new Map<string, Counter<Attributes>>();
  private stopped?: Promise<void>;
  private onCommitted?: (through: number) => void;
  /** The writer's last report of rows taken and not yet in a completed file. */
  private buffered: Record<TableName, number> = { spans: 0, events: 0, metrics: 0 };
  /** Rows of batches sent ahead and not answered yet, by message id: held too, on their way. */
  private readonly posted = new Map<number, Record<TableName, number>>();
  /** The last batch acknowledged when it was posted: its answer, still to be read by the next export(). */
  private ahead?: Promise<void>;
  /** The writer thread's longest event-loop delay: since the last reading of the gauge, and since start (ms). */
  private writerStallMs = 0;
  longestWriterStallMs = 0;
  /** The writer said the archive cannot be written (an answer, or its health): each batch waits for its own answer. */
  private refused = false;
  /** columns mode: each table's rows are built and checked here, into column chunks for the worker. */
  private readonly routers?: { spans: Router<Span>; events: Router<ScopeEvent>; metrics: Router<MetricPoint> };

  constructor(
    private readonly config: ParquetExporterConfig,
    private readonly ctx: ComponentContext,
    /**
     * `columns` (the default): batches become column chunks on this thread,
     * transferred to the worker; `rows`: batches are cloned to the worker,
     * which builds rows for hyparquet-writer (kept for the benchmark).
     */
    private readonly mode: ArchiveWriterMode = 'columns',
  ) {
    if (mode === 'columns') {
      const defs = tableDefs(config);
      const by = config.partition_by[0];
      this.routers = { spans: new Router(defs.spans, by), events: new Router(defs.events, by), metrics: new Router(defs.metrics, by) };
    }
    for (const c of Object.values(PARQUET_COUNTERS)) {
      this.counters.set(c.name, ctx.meter.createCounter(c.name, { unit: c.unit, description: c.description }));
    }
    const lag = PARQUET_GAUGES.writerEventLoopLag;
    ctx.meter.createObservableGauge(lag.name, { unit: lag.unit, description: lag.description }).addCallback((r) => {
      r.observe(this.writerStallMs / 1e3, { exporter: ctx.id });
      this.writerStallMs = 0;
    });
    const g = PARQUET_GAUGES.rowsBuffered;
    ctx.meter.createObservableGauge(g.name, { unit: g.unit, description: g.description }).addCallback((r) => {
      for (const [table, rows] of Object.entries(this.held())) r.observe(rows, { exporter: ctx.id, table });
    });
  }

  async start(): Promise<void> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { config: this.config, mode: this.mode } });
    this.worker = worker;
    worker.on('message', (message: FromWorker) => this.receive(message));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => {
      if (!this.stopped) this.fail(new Error(`parquet worker exited (code ${code})`));
    });
    const reply = await this.call({ op: 'start', id: 0 });
    if (reply.error) throw new Error(reply.error);
    process.on('exit', this.onExit);
  }

  async export(batch: Batch, receipt?: QueueReceipt): Promise<ExportResult> {
    if (this.failure || !this.worker || this.stopped) {
      return { ok: false, retryable: false, error: this.failure ?? new Error('parquet exporter is not started') };
    }
    if (this.routers) {
      let invalid = 0;
      const chunks: ColumnChunk[] = [];
      const add = async <T>(router: Router<T>, items: readonly T[]): Promise<void> => {
        if (items.length === 0) return;
        chunks.push(...await buildChunks(router, items, (item, problem) => {
          invalid++;
          this.reportInvalid(router.def, item, problem);
        }));
      };
      await add(this.routers.spans, batch.spans);
      await add(this.routers.events, batch.events);
      await add(this.routers.metrics, batch.metrics);
      if (this.failure || this.stopped) return { ok: false, retryable: false, error: this.failure ?? new Error('parquet exporter is not started') };
      return this.send(chunks, invalid, receipt);
    }
    return this.result(await this.call({ op: 'export', id: 0, batch, ...(receipt ? { receipt } : {}) }));
  }

  private result(reply: Done): ExportResult {
    return fromWire(reply.result ?? { ok: false, retryable: false, error: reply.error ?? 'no answer from the parquet worker' });
  }

  /** Posts a batch's chunks: acknowledged ahead of the writer's answer unless the writer refuses (see the top). */
  private async send(chunks: ColumnChunk[], invalid: number, receipt?: QueueReceipt): Promise<ExportResult> {
    const rows: Record<TableName, number> = { spans: 0, events: 0, metrics: 0 };
    for (const chunk of chunks) rows[chunk.table] += chunk.rows;
    const message = { op: 'chunks' as const, id: 0, chunks, invalid, ...(receipt ? { receipt } : {}) };
    const previous = this.ahead;
    this.ahead = undefined;
    if (this.refused) {
      await previous;
      // Counted as held only once taken (the writer's answer says so): it may be refused.
      const result = this.result(await this.call({ ...message, ahead: false }, transferList(chunks)));
      this.refused = !result.ok && result.retryable;
      return result;
    }
    const answer = this.call({ ...message, ahead: true }, transferList(chunks), rows);
    this.ahead = answer.then((reply) => this.settle(rows, reply));
    await previous;
    return invalid > 0 ? { ok: true, dropped: { count: invalid, reason: 'invalid_item' } } : { ok: true };
  }

  /**
   * The writer's answer to a batch acknowledged ahead: a refusal (the archive
   * cannot be written; the writer took the batch all the same) makes the next
   * batches wait for their own answers; an error instead of an answer loses
   * the batch, counted and logged (by fail() when the worker died).
   */
  private settle(rows: Record<TableName, number>, reply: Done): void {
    if (reply.result) {
      // An ok answer may be older than the writer's report that it is blocked: only a refusal counts here.
      if (!reply.result.ok) this.refused = true;
      return;
    }
    // A dead worker: fail() counted the batch with what the worker held.
    if (this.failure) return;
    this.countLost(rows);
    this.ctx.logger.error('parquet exporter lost a batch it had acknowledged: the writer failed before answering for it', {
      ...rows, error: reply.error ?? 'no answer from the parquet worker',
    });
  }

  private countLost(rows: Record<TableName, number>): void {
    for (const [table, n] of Object.entries(rows)) {
      if (n > 0) this.counters.get(PARQUET_COUNTERS.rowsLost.name)?.add(n, { table, reason: 'worker_failed' });
    }
  }

  /** Behind a disk queue: the worker's archive says what it holds of the queue's entries (commit_log.ts). */
  async trackCommits(queue: string, committed: (through: number) => void): Promise<number> {
    this.onCommitted = committed;
    const reply = await this.call({ op: 'track', id: 0, queue });
    if (reply.error) throw new Error(reply.error);
    return reply.through ?? 0;
  }

  shutdown(): Promise<void> {
    this.stopped ??= (async () => {
      const worker = this.worker;
      if (!worker || this.failure) {
        await worker?.terminate();
        process.off('exit', this.onExit);
        return;
      }
      const reply = await this.call({ op: 'shutdown', id: 0 });
      await worker.terminate();
      process.off('exit', this.onExit);
      // Rows lost at shutdown (the disk still refused them) fail the shutdown, so the pipeline reports it (exit 1).
      if (reply.error) throw new Error(reply.error);
    })();
    return this.stopped;
  }

  /**
   * The process ends before shutdown() finished (the pipeline stops waiting
   * for an exporter at its shutdown deadline): what the writer still held is
   * lost with the worker, and can only be said in the log, synchronously.
   */
  private readonly onExit = (): void => {
    const { spans, events, metrics } = this.held();
    if (spans + events + metrics === 0) return;
    this.ctx.logger.error('the process exits before the parquet exporter finished its shutdown: the rows it held are lost', {
      rows: spans + events + metrics, spans, events, metrics, path: this.config.path,
    });
  };

  /** Rows taken and not yet in a completed file: what the writer reported, and the batches on their way to it. */
  private held(): Record<TableName, number> {
    const rows = { ...this.buffered };
    for (const posted of this.posted.values()) {
      rows.spans += posted.spans;
      rows.events += posted.events;
      rows.metrics += posted.metrics;
    }
    return rows;
  }

  /** One line per table and field (then summaries): the first bad item of each kind is described. */
  private reportInvalid<T>(def: TableDef<T>, item: T, problem: RowProblem): void {
    this.ctx.problems.report(`invalid_item:${def.table}.${problem.field.replace(/\[\d+\]/g, '[]')}`, 'parquet exporter dropped an item it cannot write; the rest of its batch is written', {
      table: def.table, field: problem.field, problem: problem.problem, value: problem.value, item: def.describe(item),
    });
  }

  /** `rows`: a batch the writer takes whatever it answers, counted as held (on its way) until its answer. */
  private call(message: ToWorker, transfer?: ArrayBuffer[], rows?: Record<TableName, number>): Promise<Done> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.failure || !this.worker) {
        resolve({ op: 'done', id, error: this.failure?.message ?? 'parquet worker not running' });
        return;
      }
      this.waiting.set(id, resolve);
      if (rows) this.posted.set(id, rows);
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private receive(message: FromWorker): void {
    switch (message.op) {
      case 'done': {
        const resolve = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        this.posted.delete(message.id);
        resolve?.(message);
        return;
      }
      case 'log':
        this.ctx.logger[message.level](message.message, message.fields);
        return;
      case 'count':
        this.counters.get(message.name)?.add(message.value, message.attributes);
        return;
      case 'status':
        // The writer is unhealthy exactly while the archive cannot be written: no batch goes ahead then.
        this.refused = !message.status.healthy;
        this.ctx.reportStatus(message.status);
        return;
      case 'buffered':
        this.buffered = message.rows;
        // Batches taken by now are in `rows` (messages are taken in the order they were posted).
        for (const id of this.posted.keys()) if (id <= message.taken) this.posted.delete(id);
        return;
      case 'committed':
        this.onCommitted?.(message.through);
        return;
      case 'stall':
        this.writerStallMs = Math.max(this.writerStallMs, message.maxMs);
        this.longestWriterStallMs = Math.max(this.longestWriterStallMs, message.maxMs);
        return;
    }
  }

  /** The worker died: every waiting call fails, and so does every later export. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.ctx.logger.error('parquet worker failed', { error: error.message });
    this.ctx.reportStatus({ healthy: false, reason: `parquet worker failed: ${error.message}` });
    // What the writer held is gone with it, and so are the batches acknowledged on their way to it.
    const lost = this.held();
    const { spans, events, metrics } = lost;
    if (spans + events + metrics > 0) {
      this.countLost(lost);
      this.ctx.logger.error('parquet exporter lost the rows its writer held or had on their way', { spans, events, metrics, error: error.message });
    }
    this.buffered = { spans: 0, events: 0, metrics: 0 };
    this.posted.clear();
    for (const [id, resolve] of this.waiting) resolve({ op: 'done', id, error: error.message });
    this.waiting.clear();
  }
}
