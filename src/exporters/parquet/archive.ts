/**
 * The parquet exporter: spans, events and metric points into a Hive-partitioned
 * Parquet archive (see src/archive/layout.ts). Items wait in memory per
 * partition until a row group is full, row groups go to a temporary file, and
 * a file is completed (footer, fsync, rename into its partition) at
 * max_file_rows, max_file_bytes or max_file_age, and at shutdown.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import type { Exporter, ExportResult } from '../../component/types.js';
import type { Logger, ProblemReporter } from '../../util/logger.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { escapePartitionValue, hourIndex, hourPartition, tableDir, TEMP_SUFFIX, tempDir } from '../../archive/layout.js';
import type { SchemaElement } from 'hyparquet-writer';
import {
  ARCHIVE_SCHEMA_VERSION, encodingSchema, eventColumns, metricColumns, parquetSchema, SCHEMA_VERSION_KEY, spanColumns,
  type Column, type TableName,
} from '../../archive/tables.js';
import type { Attributes, Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import { compressionOptions } from './compression.js';
import type { ParquetExporterConfig, PartitionKey } from './config.js';
import { createParquetInstruments, type ParquetInstruments } from './metrics.js';
import { lockArchive, type ArchiveLock } from './lock.js';
import { PartFile } from './part_file.js';
import { encodeStrings } from './utf8.js';
import { expirePartitions } from './retention.js';

type WriterOptions = Awaited<ReturnType<typeof compressionOptions>>;

interface Partition<T> {
  /** Relative to the table directory: `date=…/hour=…[/key=value]`. */
  dir: string;
  pending: T[];
  file?: PartFile;
  /** When the partition's current file (or its first pending row) was started. */
  since: number;
}

interface PartitionValues {
  beam_node: string | null;
  service_name: string | null;
}

/** One table's rows: how to read them, where they go, and the partitions open for writing. */
class TableWriter<T> {
  readonly partitions = new Map<string, Partition<T>>();
  private readonly schema: SchemaElement[];
  private readonly writeSchema: SchemaElement[];

  constructor(
    readonly table: TableName,
    private readonly columns: Column<T>[],
    private readonly time: (item: T) => bigint,
    private readonly values: (item: T) => PartitionValues,
  ) {
    this.schema = parquetSchema(columns);
    this.writeSchema = encodingSchema(columns);
  }

  /** Items grouped by the partition they belong in. */
  route(items: readonly T[], by: PartitionKey | undefined, now: number): Partition<T>[] {
    const touched = new Set<Partition<T>>();
    let lastHour = Number.NaN;
    let hourDir = '';
    for (const item of items) {
      const hour = hourIndex(this.time(item));
      if (hour !== lastHour) {
        lastHour = hour;
        hourDir = hourPartition(hour);
      }
      const dir = by ? `${hourDir}/${by}=${escapePartitionValue(this.values(item)[by])}` : hourDir;
      let partition = this.partitions.get(dir);
      if (!partition) {
        partition = { dir, pending: [], since: now };
        this.partitions.set(dir, partition);
      }
      partition.pending.push(item);
      touched.add(partition);
    }
    return [...touched];
  }

  columnData(rows: readonly T[]): Array<{ name: string; data: unknown[]; statistics: boolean; encoding?: 'PLAIN' }> {
    return this.columns.map((c) => {
      const data = new Array<unknown>(rows.length);
      for (let i = 0; i < rows.length; i++) data[i] = c.value(rows[i]);
      return {
        name: c.name,
        data: c.values === 'text' ? encodeStrings(data as Array<string | null>, !c.unique) : data,
        statistics: c.statistics,
        ...(c.unique ? { encoding: 'PLAIN' as const } : {}),
      };
    });
  }

  openFile(root: string, options: WriterOptions): PartFile {
    return new PartFile(tempDir(root), { write: this.writeSchema, footer: this.schema }, {
      ...options,
      kvMetadata: [{ key: SCHEMA_VERSION_KEY, value: String(ARCHIVE_SCHEMA_VERSION) }, { key: 'scope.table', value: this.table }],
    });
  }
}

/** What the archive writer needs from its component context (it may run on a worker thread, with forwarding stand-ins). */
export interface ArchiveContext {
  logger: Logger;
  problems: Pick<ProblemReporter, 'report'>;
  meter: Pick<Meter, 'createCounter'>;
}

const serviceName = (resource: Attributes | undefined): string | null =>
  typeof resource?.['service.name'] === 'string' ? resource['service.name'] : null;
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export class ParquetArchiveExporter implements Exporter {
  private readonly root: string;
  private readonly maxFileBytes: number;
  private readonly maxFileAgeMs: number;
  private readonly partitionBy: PartitionKey | undefined;
  private readonly spans: TableWriter<Span>;
  private readonly events: TableWriter<ScopeEvent>;
  private readonly metrics: TableWriter<MetricPoint>;
  private readonly instruments: ParquetInstruments;
  private options?: WriterOptions;
  private ageTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private stopped = false;
  private lock?: ArchiveLock;

  constructor(
    private readonly config: ParquetExporterConfig,
    private readonly ctx: ArchiveContext,
  ) {
    this.root = config.path;
    this.maxFileBytes = parseSize(config.max_file_bytes);
    this.maxFileAgeMs = parseDuration(config.max_file_age);
    this.partitionBy = config.partition_by[0];
    const promote = config.promoted_attributes;
    this.spans = new TableWriter('spans', spanColumns(promote.spans), (s) => s.startTimeUnixNano, (s) => ({
      beam_node: text(s.attributes['beam.node'] ?? s.resource['beam.node']), service_name: serviceName(s.resource),
    }));
    this.events = new TableWriter('events', eventColumns(promote.events), (e) => e.time, (e) => ({
      beam_node: e.source.node, service_name: serviceName(e.resource) ?? e.source.app ?? null,
    }));
    this.metrics = new TableWriter('metrics', metricColumns(promote.metrics), (m) => m.timeUnixNano, (m) => ({
      beam_node: text(m.attributes['beam.node'] ?? m.resource['beam.node']), service_name: serviceName(m.resource),
    }));
    this.instruments = createParquetInstruments(ctx.meter);
  }

  async start(): Promise<void> {
    mkdirSync(tempDir(this.root), { recursive: true });
    this.lock = lockArchive(this.root);
    this.removeTemporaries();
    this.options = await compressionOptions(this.config.compression);
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

  async export(batch: Batch): Promise<ExportResult> {
    if (!this.options || this.stopped) return { ok: false, retryable: false, error: new Error('parquet exporter is not started') };
    const now = Date.now();
    this.add(this.spans, batch.spans, now);
    this.add(this.events, batch.events, now);
    this.add(this.metrics, batch.metrics, now);
    return { ok: true };
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ageTimer);
    clearInterval(this.retentionTimer);
    if (!this.options) return this.lock?.release();
    this.completeAgedIn(this.spans, Number.POSITIVE_INFINITY);
    this.completeAgedIn(this.events, Number.POSITIVE_INFINITY);
    this.completeAgedIn(this.metrics, Number.POSITIVE_INFINITY);
    this.lock?.release();
  }

  /** Routes items to partitions and writes every row group that is full. */
  private add<T>(table: TableWriter<T>, items: readonly T[], now: number): void {
    if (items.length === 0) return;
    for (const partition of table.route(items, this.partitionBy, now)) {
      try {
        this.writeFull(table, partition);
      } catch (error) {
        this.fail(table, partition, error);
      }
    }
  }

  private writeFull<T>(table: TableWriter<T>, partition: Partition<T>): void {
    const { row_group_size: groupSize, max_file_rows: maxRows } = this.config;
    for (;;) {
      const fileRows = partition.file?.rows ?? 0;
      const room = maxRows - fileRows;
      const take = Math.min(groupSize, room);
      if (partition.pending.length < take) return;
      this.writeGroup(table, partition, take);
      const file = partition.file;
      if (file && (file.rows >= maxRows || file.bytes >= this.maxFileBytes)) this.finishFile(table, partition);
    }
  }

  private writeGroup<T>(table: TableWriter<T>, partition: Partition<T>, rows: number): void {
    if (!this.options) return;
    const group = partition.pending.splice(0, rows);
    if (!partition.file) {
      partition.file = table.openFile(this.root, this.options);
      partition.since = partition.file.openedAt;
    }
    partition.file.writeRowGroup(table.columnData(group), group.length);
  }

  /** Completes the partition's current file (full by rows or bytes); rows still pending go to the next file. */
  private finishFile<T>(table: TableWriter<T>, partition: Partition<T>): void {
    const file = partition.file;
    if (!file) return;
    const path = file.complete(join(tableDir(this.root, table.table), partition.dir));
    partition.file = undefined;
    partition.since = Date.now();
    const attributes = { table: table.table };
    this.instruments.filesCompleted.add(1, attributes);
    this.instruments.rowsWritten.add(file.rows, attributes);
    this.instruments.bytesWritten.add(statSync(path).size, attributes);
  }

  /** Writes what is pending and completes the file (by age, at shutdown); the partition is forgotten until rows arrive again. */
  private complete<T>(table: TableWriter<T>, partition: Partition<T>): void {
    try {
      if (partition.pending.length > 0) this.writeGroup(table, partition, partition.pending.length);
      this.finishFile(table, partition);
      table.partitions.delete(partition.dir);
    } catch (error) {
      this.fail(table, partition, error);
    }
  }

  /**
   * A write failed (disk full, permissions): the partition's file and pending
   * rows are given up and counted. They were already acknowledged to the
   * pipeline, so the loss is counted here rather than in a batch result.
   */
  private fail<T>(table: TableWriter<T>, partition: Partition<T>, error: unknown): void {
    const lost = (partition.file?.rows ?? 0) + partition.pending.length;
    this.instruments.rowsLost.add(lost, { table: table.table, reason: 'write_error' });
    partition.file?.discard();
    partition.file = undefined;
    partition.pending = [];
    table.partitions.delete(partition.dir);
    this.ctx.problems.report('write_error', 'parquet exporter cannot write', {
      table: table.table, partition: partition.dir, rows: lost, error: error instanceof Error ? error.message : String(error),
    });
  }

  private completeAged(): void {
    const now = Date.now();
    this.completeAgedIn(this.spans, now);
    this.completeAgedIn(this.events, now);
    this.completeAgedIn(this.metrics, now);
  }

  private completeAgedIn<T>(table: TableWriter<T>, now: number): void {
    for (const partition of [...table.partitions.values()]) {
      if (now - partition.since >= this.maxFileAgeMs) this.complete(table, partition);
    }
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
