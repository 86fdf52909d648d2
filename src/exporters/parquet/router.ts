/**
 * Which rows go where: each table's columns, ids, time and partition values
 * (shared by the writer and the pipeline-side column building), and the
 * routing of a batch's items into per-partition column chunks (chunks.ts):
 * every item's row is built and checked (rows.ts) before it joins a chunk,
 * so an item that cannot be written is dropped alone.
 */
import { escapePartitionValue, hourIndex, hourPartition } from '../../archive/layout.js';
import { eventColumns, metricColumns, spanColumns, type Column, type TableName } from '../../archive/tables.js';
import type { Attributes, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import { ChunkBuilder, type ColumnChunk } from './chunks.js';
import type { ParquetExporterConfig, PartitionKey } from './config.js';
import { RowBuilder, type BatchState, type RowProblem } from './rows.js';

/** A partition directory name longer than this cannot be created (NAME_MAX). */
export const MAX_SEGMENT = 255;

export interface PartitionValues {
  beam_node: string | null;
  service_name: string | null;
}

export interface TableDef<T> {
  table: TableName;
  columns: Column<T>[];
  /** Columns (`trace_id`, or `links.span_id` inside a list) holding hex ids of that many digits. */
  ids: Record<string, number>;
  time(item: T): bigint;
  values(item: T): PartitionValues;
  /** What a log line calls the item. */
  describe(item: T): string;
}

const serviceName = (resource: Attributes | undefined): string | null =>
  typeof resource?.['service.name'] === 'string' ? resource['service.name'] : null;
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const short = (v: unknown): string => {
  const s = String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

export function tableDefs(config: Pick<ParquetExporterConfig, 'promoted_attributes'>): { spans: TableDef<Span>; events: TableDef<ScopeEvent>; metrics: TableDef<MetricPoint> } {
  const promote = config.promoted_attributes;
  return {
    spans: {
      table: 'spans', columns: spanColumns(promote.spans),
      ids: { trace_id: 32, span_id: 16, parent_span_id: 16, 'links.trace_id': 32, 'links.span_id': 16 },
      time: (s) => s.startTimeUnixNano,
      values: (s) => ({ beam_node: text(s.attributes['beam.node'] ?? s.resource['beam.node']), service_name: serviceName(s.resource) }),
      describe: (s) => `span "${short(s.name)}" (span_id ${short(s.spanId)})`,
    },
    events: {
      table: 'events', columns: eventColumns(promote.events), ids: { trace_id: 32, span_id: 16 },
      time: (e) => e.time,
      values: (e) => ({ beam_node: e.source?.node ?? null, service_name: serviceName(e.resource) ?? e.source?.app ?? null }),
      describe: (e) => `event ${short(e.id)} (${short(e.type)})`,
    },
    metrics: {
      table: 'metrics', columns: metricColumns(promote.metrics), ids: {},
      time: (m) => m.timeUnixNano,
      values: (m) => ({ beam_node: text(m.attributes['beam.node'] ?? m.resource['beam.node']), service_name: serviceName(m.resource) }),
      describe: (m) => `metric point "${short(m.name)}"`,
    },
  };
}

/** Routes items: builds and checks each row and finds its partition directory. */
export class Router<T> {
  readonly rows: RowBuilder<T>;
  private lastHour = Number.NaN;
  private hourDir = '';

  constructor(readonly def: TableDef<T>, private readonly by: PartitionKey | undefined) {
    this.rows = new RowBuilder(def.columns, def.ids);
  }

  /**
   * Builds the item's row (left in `rows.row`) and returns its partition
   * directory, or the problem that makes it unwritable. `batch`, `index`: the
   * batch being built and the item's place in it (RowBuilder.build).
   */
  route(item: T, batch?: BatchState<T>, index = -1): string | RowProblem {
    const problem = this.rows.build(item, batch, index);
    if (problem) return problem;
    // The row's time passed its range check, so the hour is a real date.
    const hour = hourIndex(this.def.time(item));
    if (hour !== this.lastHour) {
      this.lastHour = hour;
      this.hourDir = hourPartition(hour);
    }
    if (!this.by) return this.hourDir;
    const value = this.def.values(item)[this.by];
    const segment = `${this.by}=${escapePartitionValue(value)}`;
    if (segment.length > MAX_SEGMENT) {
      return { field: this.by, problem: `makes a partition directory name of ${segment.length} bytes (at most ${MAX_SEGMENT})`, value: `${String(value).slice(0, 64)}…` };
    }
    return `${this.hourDir}/${segment}`;
  }
}

/** Rows are built in slices: after this long, the builder lets the event loop run before going on. */
const SLICE_MS = 5;
const CHECK_EVERY = 256;

/**
 * A batch's items of one table as column chunks, one per partition. Yields to
 * the event loop whenever a slice has taken SLICE_MS, so building a large
 * batch never holds the thread for long.
 */
export async function buildChunks<T>(router: Router<T>, items: readonly T[], invalid: (item: T, problem: RowProblem) => void): Promise<ColumnChunk[]> {
  const chunks = new Map<string, ChunkBuilder>();
  let last: ChunkBuilder | undefined;
  const batch = router.rows.batch(items);
  let sliceStart = performance.now();
  const pause = (): Promise<void> | undefined => {
    if (performance.now() - sliceStart <= SLICE_MS) return undefined;
    return new Promise<void>((resolve) => setImmediate(() => {
      sliceStart = performance.now();
      resolve();
    }));
  };
  for (let i = 0; i < items.length; i++) {
    if (i % CHECK_EVERY === CHECK_EVERY - 1) await pause();
    const item = items[i];
    const dir = router.route(item, batch, i);
    if (typeof dir !== 'string') {
      invalid(item, dir);
      continue;
    }
    let chunk = last !== undefined && last.dir === dir ? last : chunks.get(dir);
    if (!chunk) {
      chunk = new ChunkBuilder(router.def.table, dir, router.def.columns as Column<unknown>[], batch.documents);
      chunks.set(dir, chunk);
    }
    last = chunk;
    chunk.append(router.rows.row);
  }
  const out: ColumnChunk[] = [];
  for (const chunk of chunks.values()) out.push(await chunk.finishInSlices(pause));
  return out;
}
