/**
 * The parquet exporter: spans, events and metric points into a Hive-partitioned
 * Parquet archive (see src/archive/layout.ts). Each item's row is built and
 * checked as it arrives (rows.ts); rows wait in memory per partition until a
 * row group is full, row groups go to a temporary file, and a file is
 * completed (footer, fsync, rename into its partition) at max_file_rows,
 * max_file_bytes or max_file_age, and at shutdown.
 *
 * Failures (README, "Failures"):
 * - an item that cannot be written is dropped alone and reported to the
 *   pipeline as `dropped` (`invalid_item`); the rest of its batch is written;
 * - a disk that refuses writes for want of room (ENOSPC, EDQUOT, EROFS, or no
 *   file descriptor left) blocks the archive: what was taken stays (in memory,
 *   or unflushed in its file), the exporter reports itself unhealthy and
 *   answers every batch with a retryable failure, so the pipeline's queue
 *   keeps it and pushes back on receivers; each batch retry and each age tick
 *   tries the refused writes again, and the first that succeeds unblocks;
 * - any other write error gives up that partition's file and rows (counted,
 *   `write_error`) and the other partitions go on;
 * - at shutdown, what still cannot be written is removed from `_tmp/`,
 *   counted (`disk_full`), and shutdown() fails, so the process exits 1.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import type { ComponentStatus, Exporter, ExportResult, QueueReceipt } from '../../component/types.js';
import type { Logger, ProblemReporter } from '../../util/logger.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { tableDir, TEMP_SUFFIX, tempDir } from '../../archive/layout.js';
import type { SchemaElement } from 'hyparquet-writer';
import { ARCHIVE_SCHEMA_VERSION, parquetSchema, SCHEMA_VERSION_KEY, type Column, type TableName } from '../../archive/tables.js';
import type { Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import { compressionOptions } from './compression.js';
import type { ParquetExporterConfig, PartitionKey } from './config.js';
import { createParquetInstruments, type ParquetInstruments } from './metrics.js';
import { lockArchive, type ArchiveLock } from './lock.js';
import { FileLostError, PartFile, rawSchema } from './part_file.js';
import { textSchema, type RowProblem } from './rows.js';
import { encodeStrings } from './utf8.js';
import { expirePartitions } from './retention.js';
import { addSeq, CommitLog, type SeqRanges } from './commit_log.js';
import type { ColumnChunk } from './chunks.js';
import { GroupPreparer, preparedFor, type GroupJob, type PreparedGroup } from './prepare.js';
import { Router, tableDefs, type TableDef } from './router.js';
import type { GroupEncoder } from './encode.js';

type WriterOptions = Awaited<ReturnType<typeof compressionOptions>>;

/** Errors after which writing can succeed later without anyone changing the data: room or descriptors come back. */
const RESOURCE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EMFILE', 'ENFILE']);

function resourceError(error: unknown): NodeJS.ErrnoException | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && RESOURCE_ERRORS.has(code) ? (error as NodeJS.ErrnoException) : undefined;
}

/** Full row groups the writer may be behind by before exportChunks waits to answer (see `preparer`). */
const BACKLOG_GROUPS = 2;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * How row groups are made: `columns`, from column chunks built as batches
 * arrive (exportChunks; encode.ts, arrow-rs' writer in wasm); `rows`, from
 * items routed here (export; hyparquet-writer). An internal switch, kept for
 * the side-by-side benchmark.
 */
export type ArchiveWriterMode = 'columns' | 'rows';

interface Partition {
  /** Relative to the table directory: `date=…/hour=…[/key=value]`. */
  dir: string;
  /** rows mode: rows waiting for a row group, column by column (cells[j][i]: column j of the i-th row), so a group is a splice per column. */
  cells: unknown[][];
  /** columns mode: chunks waiting for a row group, in order; `chunkStart` rows of the first are written already. */
  chunks: ColumnChunk[];
  chunkStart: number;
  /** columns mode: the next row group, encoded ahead (prepare.ts). */
  prepared?: PreparedGroup;
  /** How many rows wait: the length of every column of `cells`. */
  pending: number;
  file?: PartFile;
  /** When the partition's current file (or its first pending row) was started. */
  since: number;
  /** Completing (by age, at shutdown): once its file is done and nothing is pending, the partition is forgotten. */
  retiring: boolean;
  /** Behind a disk queue: the queue seq of each pending row, and the seqs of the rows in `file`. */
  seqs: number[];
  fileSeqs: SeqRanges;
}

/** One table's rows: how to build them, where they go, and the partitions open for writing. */
class TableWriter<T> {
  readonly partitions = new Map<string, Partition>();
  readonly table: TableName;
  /** What a log line calls the item. */
  readonly describe: (item: T) => string;
  private readonly columns: Column<T>[];
  private readonly schema: SchemaElement[];
  private readonly writeSchema: SchemaElement[];
  private readonly router: Router<T>;
  /** columns mode: the row-group encoder and the footer's schema as raw Thrift (set by start()). */
  encoder?: GroupEncoder;
  private raw?: ReturnType<typeof rawSchema>;
  private readonly noStatistics: ReadonlySet<string>;

  constructor(def: TableDef<T>, by: PartitionKey | undefined) {
    this.table = def.table;
    this.describe = def.describe;
    this.columns = def.columns;
    this.schema = parquetSchema(def.columns);
    this.writeSchema = textSchema(this.schema);
    this.router = new Router(def, by);
    this.noStatistics = new Set(def.columns.filter((c) => !c.statistics).map((c) => c.name));
  }

  /** columns mode: row groups are encoded by `encoder`, and the footer is written around them. */
  useEncoder(encoder: GroupEncoder): void {
    this.encoder = encoder;
    this.raw = rawSchema(this.schema);
  }

  get columnDefs(): readonly Column<T>[] {
    return this.columns;
  }

  private partition(dir: string, now: number): Partition {
    let partition = this.partitions.get(dir);
    if (!partition) {
      partition = { dir, cells: this.columns.map(() => []), chunks: [], chunkStart: 0, pending: 0, since: now, retiring: false, seqs: [], fileSeqs: [] };
      this.partitions.set(dir, partition);
    }
    return partition;
  }

  /**
   * Builds every item's row and adds it to its partition; an item that cannot
   * be written goes to `invalid` instead. Returns the partitions that got rows.
   */
  route(items: readonly T[], now: number, invalid: (item: T, problem: RowProblem) => void, seq?: number, commits?: CommitLog): Partition[] {
    const touched = new Set<Partition>();
    for (const item of items) {
      const dir = this.router.route(item);
      if (typeof dir !== 'string') {
        invalid(item, dir);
        continue;
      }
      // A replayed entry: rows a renamed file of this partition holds already are not written twice.
      if (seq !== undefined && commits?.archivedAlready(this.table, dir, seq)) continue;
      const partition = this.partition(dir, now);
      const row = this.router.rows.row;
      const cells = partition.cells;
      for (let j = 0; j < cells.length; j++) cells[j].push(row[j]);
      partition.pending++;
      if (seq !== undefined) partition.seqs.push(seq);
      touched.add(partition);
    }
    return [...touched];
  }

  /** columns mode: a chunk (its rows built and checked already) joins its partition's pending rows. */
  take(chunk: ColumnChunk, now: number, seq?: number, commits?: CommitLog): Partition | undefined {
    if (chunk.rows === 0) return undefined;
    if (seq !== undefined && commits?.archivedAlready(this.table, chunk.dir, seq)) return undefined;
    const partition = this.partition(chunk.dir, now);
    partition.chunks.push(chunk);
    partition.pending += chunk.rows;
    if (seq !== undefined) for (let i = 0; i < chunk.rows; i++) partition.seqs.push(seq);
    return partition;
  }

  /** columns mode: encodes the first `rows` pending rows and appends them to the file as one row group; the chunks are released once it is in. */
  writeChunks(file: PartFile, partition: Partition, rows: number): void {
    const prepared = partition.prepared;
    partition.prepared = undefined;
    const encoded = preparedFor(prepared, partition.chunks[0], partition.chunkStart, rows)
      ? prepared.pieces
      : (this.encoder as GroupEncoder).encode({ chunks: partition.chunks, start: partition.chunkStart, rows });
    file.appendEncoded(encoded, rows);
    let left = rows;
    while (left > 0) {
      const first = partition.chunks[0];
      const available = first.rows - partition.chunkStart;
      if (available > left) {
        partition.chunkStart += left;
        break;
      }
      left -= available;
      partition.chunks.shift();
      partition.chunkStart = 0;
    }
  }

  /** The writer's column arrays for cells taken from a partition (one array per column, all the same length). */
  columnData(cells: readonly unknown[][]): Array<{ name: string; data: unknown[]; statistics: boolean; encoding?: 'PLAIN' }> {
    return this.columns.map((c, j) => ({
      name: c.name,
      data: c.values === 'text' ? encodeStrings(cells[j] as Array<string | null>, !c.unique) : cells[j],
      statistics: c.statistics,
      ...(c.unique ? { encoding: 'PLAIN' as const } : {}),
    }));
  }

  openFile(root: string, options: WriterOptions): PartFile {
    return new PartFile(tempDir(root), { write: this.writeSchema, footer: this.schema, raw: this.raw, noStatistics: this.noStatistics }, {
      ...options,
      kvMetadata: [{ key: SCHEMA_VERSION_KEY, value: String(ARCHIVE_SCHEMA_VERSION) }, { key: 'scope.table', value: this.table }],
    });
  }

  /** Rows taken and not yet in a completed file. */
  buffered(): number {
    let rows = 0;
    for (const p of this.partitions.values()) rows += p.pending + (p.file?.rows ?? 0);
    return rows;
  }
}

/** What the archive writer needs from its component context (it may run on a worker thread, with forwarding stand-ins). */
export interface ArchiveContext {
  logger: Logger;
  problems: Pick<ProblemReporter, 'report'>;
  meter: Pick<Meter, 'createCounter'>;
  /** The exporter's health: unhealthy while the archive cannot be written. */
  reportStatus?(status: ComponentStatus): void;
  /** Rows taken and not yet in a completed file, by table, after every change. */
  reportBuffered?(rows: Record<TableName, number>): void;
  /** Behind a disk queue: every entry through `through` is in renamed files. */
  reportCommitted?(through: number): void;
}

export class ParquetArchiveExporter implements Exporter {
  private readonly root: string;
  private readonly maxFileBytes: number;
  private readonly maxFileAgeMs: number;
  private readonly spans: TableWriter<Span>;
  private readonly events: TableWriter<ScopeEvent>;
  private readonly metrics: TableWriter<MetricPoint>;
  private readonly tables: ReadonlyArray<TableWriter<unknown>>;
  private readonly instruments: ParquetInstruments;
  private options?: WriterOptions;
  private ageTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private stopped = false;
  private lock?: ArchiveLock;
  /** The archive cannot be written for want of room: since when, and the error. */
  private blocked?: { since: number; error: NodeJS.ErrnoException };
  /** A write in the current pass was refused: the pass stops writing (the next writes would be refused too). */
  private stalled = false;
  /** Rows given up while shutting down: shutdown() fails when there are any. */
  private lostAtShutdown = 0;
  /** Behind a disk queue (trackCommits): what the archive holds of its entries, and the highest seq taken. */
  private commits?: CommitLog;
  private maxSeq = 0;
  private committedThrough = 0;
  /**
   * columns mode: row groups are encoded ahead, a piece per turn (prepare.ts),
   * and written as each is ready; exportChunks answers once its rows are
   * taken, and waits first while more than BACKLOG_GROUPS full groups are
   * still to be written (`roomWaiters`), so that the pipeline never runs
   * ahead of the encoder by more than that.
   */
  private readonly preparer = new GroupPreparer(() => this.nextGroup());
  private roomWaiters: Array<() => void> = [];

  constructor(
    private readonly config: ParquetExporterConfig,
    private readonly ctx: ArchiveContext,
    /** `columns`: batches arrive as column chunks (exportChunks); `rows`: as items (export). */
    readonly mode: ArchiveWriterMode = 'rows',
  ) {
    this.root = config.path;
    this.maxFileBytes = parseSize(config.max_file_bytes);
    this.maxFileAgeMs = parseDuration(config.max_file_age);
    const by = config.partition_by[0];
    const defs = tableDefs(config);
    this.spans = new TableWriter(defs.spans, by);
    this.events = new TableWriter(defs.events, by);
    this.metrics = new TableWriter(defs.metrics, by);
    this.tables = [this.spans, this.events, this.metrics] as ReadonlyArray<TableWriter<unknown>>;
    this.instruments = createParquetInstruments(ctx.meter);
  }

  async start(): Promise<void> {
    mkdirSync(tempDir(this.root), { recursive: true });
    this.lock = lockArchive(this.root);
    this.removeTemporaries();
    if (this.mode === 'columns') {
      // parquet-wasm is loaded only here, on the thread that writes (encode.ts).
      const { GroupEncoder, warmUp } = await import('./encode.js');
      warmUp(this.config.compression);
      for (const table of this.tables) table.useEncoder(new GroupEncoder(table.columnDefs as Column<unknown>[], this.config.compression));
      this.options = {};
    } else {
      this.options = await compressionOptions(this.config.compression);
    }
    this.expire();
    const tick = Math.max(50, Math.min(1000, this.maxFileAgeMs / 4));
    this.ageTimer = setInterval(() => this.completeAged(), tick);
    this.ageTimer.unref();
    const check = parseDuration(this.config.retention.check_interval);
    if (check > 0) {
      this.retentionTimer = setInterval(() => this.expire(), check);
      this.retentionTimer.unref();
    }
  }

  /** A disk queue sends its entries here: returns the seq through which they are archived (see commit_log.ts). */
  async trackCommits(queue: string): Promise<number> {
    this.commits ??= new CommitLog(this.root, this.ctx.logger);
    this.committedThrough = this.commits.open(queue);
    this.maxSeq = this.committedThrough;
    return this.committedThrough;
  }

  /**
   * A batch's time and queue seq, and the refusal while the archive cannot be
   * written (retryable). A batch sent `ahead` (proxy.ts) was acknowledged to
   * the pipeline when it was posted: it is taken even then, held like the
   * rows taken before, and the refusal only tells the proxy to stop sending
   * ahead.
   */
  private admit(receipt: QueueReceipt | undefined, ahead = false): { now: number; seq: number | undefined; refusal?: ExportResult } {
    let refusal: ExportResult | undefined;
    if (this.blocked && !this.resume()) {
      const { error, since } = this.blocked;
      refusal = {
        ok: false, retryable: true,
        error: new Error(`the archive ${this.root} cannot be written (${error.message}) for ${Math.round((Date.now() - since) / 1000)} s; ${this.bufferedTotal()} rows are held until it can`),
      };
      if (!ahead) return { now: Date.now(), seq: undefined, refusal };
    } else {
      this.stalled = false;
    }
    // Only a batch taken counts towards what the archive holds of the queue.
    const seq = this.commits ? receipt?.seq : undefined;
    if (seq !== undefined && seq > this.maxSeq) this.maxSeq = seq;
    return { now: Date.now(), seq, ...(refusal ? { refusal } : {}) };
  }

  async export(batch: Batch, receipt?: QueueReceipt): Promise<ExportResult> {
    if (!this.options || this.stopped) return { ok: false, retryable: false, error: new Error('parquet exporter is not started') };
    const { now, seq, refusal } = this.admit(receipt);
    if (refusal) return refusal;
    const invalid = this.add(this.spans, batch.spans, now, seq) + this.add(this.events, batch.events, now, seq) + this.add(this.metrics, batch.metrics, now, seq);
    this.publishBuffered();
    // The batch is taken even when a write was refused on the way: its rows are held like the others.
    return invalid > 0 ? { ok: true, dropped: { count: invalid, reason: 'invalid_item' } } : { ok: true };
  }

  /**
   * columns mode: a batch as column chunks, its rows built and checked as it
   * arrived (router.ts); `invalid` items were dropped there. Answers as
   * export() does; a batch sent `ahead` is taken even when the answer is a
   * refusal (see admit).
   */
  async exportChunks(chunks: readonly ColumnChunk[], invalid: number, receipt?: QueueReceipt, ahead = false): Promise<ExportResult> {
    if (!this.options || this.stopped) return { ok: false, retryable: false, error: new Error('parquet exporter is not started') };
    const { now, seq, refusal } = this.admit(receipt, ahead);
    if (refusal && !ahead) return refusal;
    // Taken before the first await (worker.ts relies on it).
    for (const chunk of chunks) (this[chunk.table] as TableWriter<unknown>).take(chunk, now, seq, this.commits);
    this.publishBuffered();
    this.preparer.kick();
    await this.room();
    if (refusal) return refusal;
    return invalid > 0 ? { ok: true, dropped: { count: invalid, reason: 'invalid_item' } } : { ok: true };
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // What is not encoded ahead yet is encoded now, as every partition is completed below.
    this.preparer.stop();
    this.wakeRoomWaiters();
    clearInterval(this.ageTimer);
    clearInterval(this.retentionTimer);
    if (!this.options) return this.lock?.release();
    // Every partition is completed; each tries on its own, as a little room may take a footer.
    for (const table of this.tables) {
      for (const partition of [...table.partitions.values()]) {
        partition.retiring = true;
        this.stalled = false;
        this.advance(table, partition);
        this.publishBuffered();
      }
    }
    // What the disk still refuses is lost: its temporary file is removed and its rows counted.
    for (const table of this.tables) {
      for (const partition of [...table.partitions.values()]) {
        const rows = (partition.file?.rows ?? 0) + partition.pending;
        partition.file?.discard();
        table.partitions.delete(partition.dir);
        if (rows === 0) continue;
        this.instruments.rowsLost.add(rows, { table: table.table, reason: 'disk_full' });
        this.lostAtShutdown += rows;
        this.ctx.logger.error('parquet exporter shutdown: rows the disk refused are lost', {
          table: table.table, partition: partition.dir, rows, error: this.blocked?.error.message,
        });
      }
    }
    this.publishBuffered();
    this.commits?.close();
    this.lock?.release();
    if (this.lostAtShutdown > 0) {
      throw new Error(`${this.lostAtShutdown} rows could not be written to the archive ${this.root} and are lost (scope_parquet_rows_lost)`);
    }
  }

  /** The rows of the next row group of a partition (a new file's when the open one is full). */
  private groupRows(partition: Partition): number {
    const file = partition.file;
    return Math.min(this.config.row_group_size, this.config.max_file_rows - (file && !this.fileFull(file) ? file.rows : 0));
  }

  /** The file takes no more rows: it is completed before the next group. */
  private fileFull(file: PartFile): boolean {
    return file.rows >= this.config.max_file_rows || file.bytes >= this.maxFileBytes;
  }

  /** Rows in full row groups still to be written, over every partition. */
  private backlog(): number {
    let rows = 0;
    for (const table of this.tables) {
      if (!table.encoder) continue;
      for (const p of table.partitions.values()) if (p.pending >= this.groupRows(p)) rows += p.pending;
    }
    return rows;
  }

  /** Resolves when the backlog of full groups is small again (or writing is blocked, or stopping: nothing to wait for). */
  private room(): Promise<void> | undefined {
    if (this.blocked || this.stopped || this.backlog() <= BACKLOG_GROUPS * this.config.row_group_size) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    if (!this.blocked && !this.stopped && this.backlog() > BACKLOG_GROUPS * this.config.row_group_size) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** The first partition whose next row group is full and not yet encoded ahead (prepare.ts). */
  private nextGroup(): GroupJob | undefined {
    if (this.blocked || this.stopped) return undefined;
    for (const table of this.tables) {
      const encoder = table.encoder;
      if (!encoder) continue;
      for (const partition of table.partitions.values()) {
        // A full group, or a retiring partition's last rows (retire).
        const full = this.groupRows(partition);
        const rows = partition.pending >= full ? full : partition.retiring ? partition.pending : 0;
        if (rows === 0 || preparedFor(partition.prepared, partition.chunks[0], partition.chunkStart, rows)) continue;
        return {
          encoder, source: { chunks: partition.chunks, start: partition.chunkStart, rows },
          done: (prepared) => {
            partition.prepared = prepared;
            this.writePrepared(table, partition);
          },
          // The group is encoded at once, where a failure is handled (writeGroup).
          failed: () => this.writePrepared(table, partition, false),
        };
      }
    }
    return undefined;
  }

  private writePrepared(table: TableWriter<unknown>, partition: Partition, preparedOnly = true): void {
    if (!this.blocked && !this.stopped && table.partitions.get(partition.dir) === partition) {
      this.stalled = false;
      this.advance(table, partition, preparedOnly);
      this.publishBuffered();
    }
    this.wakeRoomWaiters();
  }

  /** Builds and routes a table's items, then writes every row group that is full. Returns how many items were dropped as invalid. */
  private add<T>(table: TableWriter<T>, items: readonly T[], now: number, seq: number | undefined): number {
    if (items.length === 0) return 0;
    let invalid = 0;
    const touched = table.route(items, now, (item, problem) => {
      invalid++;
      // One line per table and field (then summaries): the first bad item of each kind is described.
      this.ctx.problems.report(`invalid_item:${table.table}.${problem.field.replace(/\[\d+\]/g, '[]')}`, 'parquet exporter dropped an item it cannot write; the rest of its batch is written', {
        table: table.table, field: problem.field, problem: problem.problem, value: problem.value, item: table.describe(item),
      });
    }, seq, this.commits);
    for (const partition of touched) {
      if (this.stalled) break;
      this.advance(table as TableWriter<unknown>, partition);
    }
    return invalid;
  }

  /**
   * Moves a partition as far as it goes: an interrupted write or completion
   * first, then full row groups, then (retiring) the rest. `preparedOnly`:
   * write no group but one encoded ahead (the writer's thread is not held by
   * encoding).
   */
  private advance(table: TableWriter<unknown>, partition: Partition, preparedOnly = false): void {
    try {
      const file = partition.file;
      if (file?.completing) this.finishFile(table, partition);
      else if (file?.refused) file.flush();
      this.writeFull(table, partition, preparedOnly);
      if (partition.retiring && partition.pending < this.groupRows(partition)) this.retire(table, partition, preparedOnly);
    } catch (error) {
      this.writeFailed(table, partition, error);
    }
  }

  /**
   * A retiring partition's last rows go into its file, which is completed.
   * `preparedOnly`: only with those rows encoded ahead (nextGroup), so an
   * age completion never holds the writer's thread; rows that came while
   * they were encoded stay pending, for the partition's next file.
   */
  private retire(table: TableWriter<unknown>, partition: Partition, preparedOnly: boolean): void {
    let rows = partition.pending;
    if (rows > 0 && preparedOnly) {
      const prepared = partition.prepared;
      if (!prepared || prepared.rows > rows || !preparedFor(prepared, partition.chunks[0], partition.chunkStart, prepared.rows)) {
        this.preparer.kick();
        return;
      }
      rows = prepared.rows;
    }
    if (rows > 0) this.writeGroup(table, partition, rows);
    this.finishFile(table, partition);
    if (partition.pending === 0) table.partitions.delete(partition.dir);
    else partition.retiring = false;
  }

  private writeFull(table: TableWriter<unknown>, partition: Partition, preparedOnly = false): void {
    for (;;) {
      // First a file that is full (also one whose last group the disk refused before it could be completed).
      const file = partition.file;
      if (file && this.fileFull(file)) {
        this.finishFile(table, partition);
        continue;
      }
      const take = this.groupRows(partition);
      if (partition.pending < take) return;
      if (preparedOnly && !preparedFor(partition.prepared, partition.chunks[0], partition.chunkStart, take)) {
        this.preparer.kick();
        return;
      }
      this.writeGroup(table, partition, take);
    }
  }

  /**
   * Writes the first `rows` pending rows as one row group. When the disk
   * refuses the bytes, the group is in the file all the same (its bytes wait
   * in memory) and the refusal is thrown.
   */
  private writeGroup(table: TableWriter<unknown>, partition: Partition, rows: number): void {
    if (!this.options) return;
    if (!partition.file) {
      partition.file = table.openFile(this.root, this.options);
      partition.since = partition.file.openedAt;
    }
    const file = partition.file;
    if (table.encoder) {
      // Encoding failed: the file is given up, and these rows with it (counted by the caller).
      table.writeChunks(file, partition, rows);
    } else {
      const group = partition.cells.map((column) => column.splice(0, rows));
      try {
        file.writeRowGroup(table.columnData(group), rows);
      } catch (error) {
        // Encoding failed: the file is given up, and these rows with it (counted by the caller).
        partition.cells = group.map((taken, j) => taken.concat(partition.cells[j]));
        throw error;
      }
    }
    partition.pending -= rows;
    if (partition.seqs.length > 0) for (const seq of partition.seqs.splice(0, rows)) addSeq(partition.fileSeqs, seq);
    const refused = file.refused;
    if (refused) throw refused;
  }

  /** Completes the partition's current file; rows still pending go to the next file. */
  private finishFile(table: TableWriter<unknown>, partition: Partition): void {
    const file = partition.file;
    if (!file) return;
    const dir = join(tableDir(this.root, table.table), partition.dir);
    // Recorded (and synced) before the rename: after a crash, the file's existence says whether its rows are archived.
    if (this.commits && partition.fileSeqs.length > 0 && !file.completing) this.commits.recordFile(table.table, partition.dir, file.finalPath(dir), partition.fileSeqs);
    file.complete(dir);
    partition.file = undefined;
    partition.fileSeqs = [];
    partition.since = Date.now();
    const attributes = { table: table.table };
    this.instruments.filesCompleted.add(1, attributes);
    this.instruments.rowsWritten.add(file.rows, attributes);
    this.instruments.bytesWritten.add(file.bytes, attributes);
  }

  private writeFailed(table: TableWriter<unknown>, partition: Partition, error: unknown): void {
    const lost = error instanceof FileLostError;
    const refusal = resourceError(lost ? error.cause : error);
    if (refusal && !lost) {
      this.block(table, partition, refusal);
      return;
    }
    this.fail(table, partition, error, refusal ? 'disk_full' : 'write_error');
    if (refusal) this.block(table, partition, refusal);
  }

  /** The disk refused a write: everything stays as it is, and batches are refused (retryable) until a retry succeeds. */
  private block(table: TableWriter<unknown>, partition: Partition, error: NodeJS.ErrnoException): void {
    this.stalled = true;
    if (this.blocked) return;
    this.blocked = { since: Date.now(), error };
    this.wakeRoomWaiters();
    const reason = `the archive ${this.root} cannot be written (${error.message}); batches are refused (retryable) until it can`;
    this.ctx.reportStatus?.({ healthy: false, reason });
    this.ctx.logger.error('parquet exporter cannot write the archive: holding what it has taken and refusing batches (retryable) until a write succeeds', {
      path: this.root, table: table.table, partition: partition.dir, error: error.message, rows_held: this.bufferedTotal(),
    });
  }

  /** Tries the refused writes again (every partition, as when it was blocked); true when they all went through. */
  private resume(): boolean {
    const blocked = this.blocked;
    if (!blocked) return true;
    this.stalled = false;
    for (const table of this.tables) {
      for (const partition of [...table.partitions.values()]) {
        this.advance(table, partition);
        if (this.stalled) {
          this.publishBuffered();
          return false;
        }
      }
    }
    this.blocked = undefined;
    this.publishBuffered();
    this.preparer.kick();
    this.ctx.reportStatus?.({ healthy: true });
    this.ctx.logger.info('parquet exporter writes the archive again', {
      path: this.root, blocked_ms: Date.now() - blocked.since, rows_held: this.bufferedTotal(),
    });
    return true;
  }

  /**
   * A write failed for good (permissions, a file in the way, a failed fsync):
   * the partition's file and pending rows are given up and counted. They were
   * already acknowledged to the pipeline, so the loss is counted here rather
   * than in a batch result.
   */
  private fail(table: TableWriter<unknown>, partition: Partition, error: unknown, reason: 'write_error' | 'disk_full'): void {
    const lost = (partition.file?.rows ?? 0) + partition.pending;
    this.instruments.rowsLost.add(lost, { table: table.table, reason });
    if (this.stopped) this.lostAtShutdown += lost;
    partition.file?.discard();
    partition.file = undefined;
    partition.cells = [];
    partition.chunks = [];
    partition.chunkStart = 0;
    partition.pending = 0;
    partition.seqs = [];
    partition.fileSeqs = [];
    table.partitions.delete(partition.dir);
    this.wakeRoomWaiters();
    this.ctx.problems.report(reason, 'parquet exporter cannot write', {
      table: table.table, partition: partition.dir, rows: lost, reason, error: message(error),
    });
  }

  private completeAged(): void {
    if (this.blocked && !this.resume()) return;
    const now = Date.now();
    this.stalled = false;
    for (const table of this.tables) {
      for (const partition of [...table.partitions.values()]) {
        if (this.stalled) break;
        if (!partition.retiring && now - partition.since < this.maxFileAgeMs) continue;
        partition.retiring = true;
        // columns mode: the last rows are encoded ahead first (retire).
        this.advance(table, partition, table.encoder !== undefined);
      }
    }
    this.publishBuffered();
  }

  private bufferedTotal(): number {
    return this.tables.reduce((n, t) => n + t.buffered(), 0);
  }

  private publishBuffered(): void {
    this.ctx.reportBuffered?.({ spans: this.spans.buffered(), events: this.events.buffered(), metrics: this.metrics.buffered() });
    if (this.commits) this.publishCommitted();
  }

  /** The queue may release every entry below the oldest one whose rows are still held here. */
  private publishCommitted(): void {
    let oldestHeld = Number.POSITIVE_INFINITY;
    for (const table of this.tables) {
      for (const p of table.partitions.values()) {
        if (p.fileSeqs.length > 0) oldestHeld = Math.min(oldestHeld, p.fileSeqs[0]);
        for (const seq of p.seqs) if (seq < oldestHeld) oldestHeld = seq;
      }
    }
    const through = oldestHeld === Number.POSITIVE_INFINITY ? this.maxSeq : oldestHeld - 1;
    if (through <= this.committedThrough) return;
    this.committedThrough = through;
    this.commits?.recordThrough(through);
    this.ctx.reportCommitted?.(through);
  }

  /** Temporary files can only be left by a run that ended without shutdown: remove them and say so. */
  private removeTemporaries(): void {
    const dir = tempDir(this.root);
    const leftovers = readdirSync(dir).filter((name) => name.endsWith(TEMP_SUFFIX));
    if (leftovers.length === 0) return;
    let bytes = 0;
    for (const name of leftovers) {
      bytes += statSync(join(dir, name)).size;
      rmSync(join(dir, name), { force: true });
    }
    this.instruments.tempFilesRemoved.add(leftovers.length);
    this.ctx.logger.warn('removed unfinished temporary files left by a run that did not shut down cleanly; their rows were not archived', {
      path: dir, files: leftovers.length, bytes,
    });
  }

  private expire(): void {
    const now = Date.now();
    for (const table of ['spans', 'events', 'metrics'] as const) {
      const maxAge = parseDuration(this.config.retention[table]);
      if (maxAge <= 0) continue;
      const deleted = expirePartitions(this.root, table, maxAge, now);
      if (deleted.length === 0) continue;
      this.instruments.partitionsExpired.add(deleted.length, { table });
      this.ctx.logger.info('retention deleted expired partitions', { table, partitions: deleted.length, first: deleted[0] });
    }
  }
}
