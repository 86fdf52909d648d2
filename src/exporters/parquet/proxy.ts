/**
 * The parquet exporter as the pipeline sees it: a proxy that hands batches to
 * the archive writer on its own worker thread (worker.ts) and answers when
 * the writer has taken them, so the pipeline's queue and push-back work as
 * for any exporter while Parquet encoding runs on another core.
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
    const g = PARQUET_GAUGES.rowsBuffered;
    ctx.meter.createObservableGauge(g.name, { unit: g.unit, description: g.description }).addCallback((r) => {
      for (const [table, rows] of Object.entries(this.buffered)) r.observe(rows, { exporter: ctx.id, table });
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
    let reply: Done;
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
      reply = await this.call({ op: 'chunks', id: 0, chunks, invalid, ...(receipt ? { receipt } : {}) }, transferList(chunks));
    } else {
      reply = await this.call({ op: 'export', id: 0, batch, ...(receipt ? { receipt } : {}) });
    }
    return fromWire(reply.result ?? { ok: false, retryable: false, error: reply.error ?? 'no answer from the parquet worker' });
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
    const { spans, events, metrics } = this.buffered;
    if (spans + events + metrics === 0) return;
    this.ctx.logger.error('the process exits before the parquet exporter finished its shutdown: the rows it held are lost', {
      rows: spans + events + metrics, spans, events, metrics, path: this.config.path,
    });
  };

  /** One line per table and field (then summaries): the first bad item of each kind is described. */
  private reportInvalid<T>(def: TableDef<T>, item: T, problem: RowProblem): void {
    this.ctx.problems.report(`invalid_item:${def.table}.${problem.field.replace(/\[\d+\]/g, '[]')}`, 'parquet exporter dropped an item it cannot write; the rest of its batch is written', {
      table: def.table, field: problem.field, problem: problem.problem, value: problem.value, item: def.describe(item),
    });
  }

  private call(message: ToWorker, transfer?: ArrayBuffer[]): Promise<Done> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.failure || !this.worker) {
        resolve({ op: 'done', id, error: this.failure?.message ?? 'parquet worker not running' });
        return;
      }
      this.waiting.set(id, resolve);
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private receive(message: FromWorker): void {
    switch (message.op) {
      case 'done': {
        const resolve = this.waiting.get(message.id);
        this.waiting.delete(message.id);
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
        this.ctx.reportStatus(message.status);
        return;
      case 'buffered':
        this.buffered = message.rows;
        return;
      case 'committed':
        this.onCommitted?.(message.through);
        return;
    }
  }

  /** The worker died: every waiting call fails, and so does every later export. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.ctx.logger.error('parquet worker failed', { error: error.message });
    this.ctx.reportStatus({ healthy: false, reason: `parquet worker failed: ${error.message}` });
    for (const [id, resolve] of this.waiting) resolve({ op: 'done', id, error: error.message });
    this.waiting.clear();
  }
}
