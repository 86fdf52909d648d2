/**
 * The worker's side of the columnar hand-off: each column chunk the
 * pipeline's thread built (chunks.ts) becomes an Arrow record batch over its
 * own typed arrays (apache-arrow), a row group's rows are those batches (or
 * slices of them where the group cuts a chunk), and parquet-wasm (arrow-rs'
 * Parquet writer compiled to wasm) encodes them as one-row-group Parquet
 * files of a few columns each, or of part of one column's rows (pieces),
 * which part_file.ts joins into one row group: it appends their column
 * chunks to the archive file and keeps their metadata for the footer,
 * which it writes itself with the archive's schema (the JSON annotation,
 * which arrow-rs does not write for a string column).
 *
 * parquet-wasm runs only on the writer's worker: its wasm memory grows with
 * the row groups, and growing it on a thread with a large heap (the
 * pipeline's) triggers repeated full GCs.
 */
import * as arrow from 'apache-arrow';
import * as wasm from 'parquet-wasm';
import type { SchemaElement } from 'hyparquet-writer';
import type { Column } from '../../archive/tables.js';
import type { ColumnChunk, ColumnPayload } from './chunks.js';
import type { Compression } from './config.js';

/** makeData without its per-type overloads, which the payload kinds cannot narrow. */
const makeData = arrow.makeData as unknown as (props: Record<string, unknown>) => arrow.Data;

function arrowLeafType(element: SchemaElement): arrow.DataType {
  switch (element.type) {
    case 'BYTE_ARRAY':
      return new arrow.Utf8();
    case 'INT64':
      // TIMESTAMP(NANOS) without a time zone: arrow-rs writes it with isAdjustedToUTC false (see archive/tables.ts).
      return element.logical_type?.type === 'TIMESTAMP' ? new arrow.TimestampNanosecond() : new arrow.Int64();
    case 'INT32':
      return new arrow.Int32();
    case 'DOUBLE':
      return new arrow.Float64();
    case 'BOOLEAN':
      return new arrow.Bool();
    default:
      throw new Error(`no Arrow type for column ${element.name} of type ${element.type}`);
  }
}

const nullable = (element: SchemaElement): boolean => element.repetition_type === 'OPTIONAL';

/** A top-level text column whose values repeat (not ids or per-item documents): written with a dictionary. */
function dictionaryColumn(column: Column<unknown>): boolean {
  return column.elements.length === 1 && column.elements[0].type === 'BYTE_ARRAY' && !column.unique;
}

/** The Arrow field of a table column, matching its Parquet schema elements. */
export function arrowField(column: Column<unknown>): arrow.Field {
  const [first] = column.elements;
  if (column.elements.length === 1) return new arrow.Field(column.name, arrowLeafType(first), nullable(first));
  const [group, , element, ...fields] = column.elements;
  const struct = new arrow.Struct(fields.map((f) => new arrow.Field(f.name, arrowLeafType(f), nullable(f))));
  return new arrow.Field(column.name, new arrow.List(new arrow.Field(element.name, struct, nullable(element))), nullable(group));
}

/** Arrow's validity bitmap of a payload's one-byte-per-row `valid`; undefined when every row is present. */
function bitmap(valid: Uint8Array | undefined, rows: number): { bitmap?: Uint8Array; nulls: number } {
  if (valid === undefined) return { nulls: 0 };
  const bits = new Uint8Array((rows + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < rows; i++) {
    if (valid[i] === 1) bits[i >> 3] |= 1 << (i & 7);
    else nulls++;
  }
  return nulls === 0 ? { nulls } : { bitmap: bits, nulls };
}

function boolBits(values: Uint8Array, rows: number): Uint8Array {
  const bits = new Uint8Array((rows + 7) >> 3);
  for (let i = 0; i < rows; i++) if (values[i]) bits[i >> 3] |= 1 << (i & 7);
  return bits;
}

/** A whole payload (`rows` of them) as Arrow data over the same arrays (booleans and validity packed into bits). */
function columnData(type: arrow.DataType, payload: ColumnPayload, rows: number): arrow.Data {
  const { bitmap: nullBitmap, nulls } = bitmap(payload.valid, rows);
  const common = { type, length: rows, nullCount: nulls, nullBitmap };
  switch (payload.kind) {
    case 'utf8':
      return makeData({ ...common, valueOffsets: payload.offsets, data: payload.bytes });
    case 'bool':
      return makeData({ ...common, data: boolBits(payload.values, rows) });
    case 'list': {
      const elements = payload.offsets[rows];
      const structType = (type as arrow.List<arrow.Struct>).children[0].type;
      const children = structType.children.map((field, f) => columnData(field.type, payload.fields[f], elements));
      const struct = makeData({ type: structType, length: elements, nullCount: 0, children });
      return makeData({ ...common, valueOffsets: payload.offsets, child: struct });
    }
    default:
      return makeData({ ...common, data: payload.values });
  }
}

/** Where a row group's rows come from: chunks in order, the first from `start`, `rows` in all. */
export interface GroupSource {
  chunks: ReadonlyArray<ColumnChunk>;
  /** Rows of chunks[0] already written. */
  start: number;
  rows: number;
}

/**
 * Encoding work per piece, in bytes of input plus VALUE_COST per value (a
 * null costs next to nothing): about 3 ms on one core here (zstd in wasm
 * runs at ~2.7 ns a byte of text, and each value costs ~0.13 µs more
 * whatever its size: levels, offsets, a dictionary's hashing), so that a row
 * group encoded a piece per turn never holds the writer's thread for long,
 * even when the pipeline's thread keeps the other core busy. A piece costs
 * ~0.2 ms of its own (a wasm call, a footer), and a column cut by rows
 * compresses in pages no larger than its pieces, so pieces are not made
 * smaller than this.
 */
const PIECE_COST = 1 << 20;
const VALUE_COST = 48;

/**
 * A piece of a row group: columns `from` … `to` (exclusive) for rows
 * `start` … `start + rows` of the group. A piece cut by rows is one leaf
 * column alone, without a dictionary or statistics, whose pages
 * part_file.ts joins into one column chunk.
 */
export interface Piece {
  from: number;
  to: number;
  start: number;
  rows: number;
}

/**
 * Whether a column's chunk can be made of pieces cut by rows: a leaf column
 * (a list's fields are column chunks of their own, which would be
 * interleaved) whose pages carry nothing that spans them (a dictionary,
 * min/max).
 */
function splitsByRows(column: Column<unknown>): boolean {
  return column.elements.length === 1 && !dictionaryColumn(column) && !column.statistics;
}

/** How many of rows start … end have a value. */
function presentValues(payload: ColumnPayload, start: number, end: number): number {
  const valid = payload.valid;
  if (valid === undefined) return end - start;
  let present = 0;
  for (let i = start; i < end; i++) present += valid[i];
  return present;
}

/** A payload's bytes for rows start … end (text, offsets, values, validity). */
function payloadBytes(payload: ColumnPayload, start: number, end: number): number {
  const rows = end - start;
  const valid = payload.valid ? rows : 0;
  switch (payload.kind) {
    case 'utf8':
      return payload.offsets[end] - payload.offsets[start] + 4 * rows + valid;
    case 'list': {
      const from = payload.offsets[start];
      const to = payload.offsets[end];
      return 4 * rows + valid + payload.fields.reduce((n, f) => n + payloadBytes(f, from, to), 0);
    }
    default:
      return payload.values.BYTES_PER_ELEMENT * rows + valid;
  }
}

const CODECS: Record<Compression, wasm.Compression> = {
  zstd: wasm.Compression.ZSTD, snappy: wasm.Compression.SNAPPY, gzip: wasm.Compression.GZIP, none: wasm.Compression.UNCOMPRESSED,
};

/**
 * Encodes a two-row table once: the first encoding of a process takes
 * ~30 ms more than any later one (the wasm code's first run), which the
 * writer pays at start instead of in the first row group it encodes.
 */
export function warmUp(compression: Compression): void {
  const table = arrow.tableFromArrays({ text: ['warm', 'up'], n: Int32Array.from([1, 2]), time: BigInt64Array.from([1n, 2n]) });
  const properties = new wasm.WriterPropertiesBuilder().setCompression(CODECS[compression]).setColumnDictionaryEnabled('text', true).build();
  wasm.writeParquet(wasm.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties);
}

/** A table's row-group encoder: Arrow schema and writer settings made once. */
export class GroupEncoder {
  private readonly schema: arrow.Schema;
  private readonly codec: wasm.Compression;
  private readonly batches = new WeakMap<ColumnChunk, arrow.RecordBatch>();

  constructor(private readonly columns: readonly Column<unknown>[], compression: Compression) {
    this.schema = new arrow.Schema(columns.map(arrowField));
    this.codec = CODECS[compression];
  }

  /** A chunk's rows as one record batch, made once (a chunk cut by a row group is in two). */
  private recordBatch(chunk: ColumnChunk): arrow.RecordBatch {
    let batch = this.batches.get(chunk);
    if (batch === undefined) {
      const children = this.schema.fields.map((field, j) => columnData(field.type, chunk.columns[j], chunk.rows));
      const struct = makeData({ type: new arrow.Struct(this.schema.fields), length: chunk.rows, nullCount: 0, children });
      batch = new arrow.RecordBatch(this.schema, struct as arrow.Data<arrow.Struct>);
      this.batches.set(chunk, batch);
    }
    return batch;
  }

  /** Each chunk's rows in the group, in order. */
  private ranges(source: GroupSource): Array<{ chunk: ColumnChunk; start: number; end: number }> {
    const { chunks, rows } = source;
    const ranges: Array<{ chunk: ColumnChunk; start: number; end: number }> = [];
    let left = rows;
    for (let c = 0; c < chunks.length && left > 0; c++) {
      const start = c === 0 ? source.start : 0;
      const take = Math.min(left, chunks[c].rows - start);
      ranges.push({ chunk: chunks[c], start, end: start + take });
      left -= take;
    }
    if (left > 0) throw new Error(`a row group of ${rows} rows was asked of ${rows - left}`);
    return ranges;
  }

  /**
   * The group's columns in pieces of at most PIECE_COST of work each:
   * consecutive columns together while they fit; a larger column alone, cut
   * by rows into pieces that fit when its pages allow (splitsByRows). Each
   * piece is encoded on its own, so a group can be encoded a piece per turn
   * of the event loop.
   */
  pieces(source: GroupSource): Piece[] {
    const ranges = this.ranges(source);
    const rows = source.rows;
    const out: Piece[] = [];
    let from = 0;
    let cost = 0;
    const flush = (to: number): void => {
      if (to > from) out.push({ from, to, start: 0, rows });
      from = to;
      cost = 0;
    };
    for (let j = 0; j < this.columns.length; j++) {
      let column = 0;
      for (const { chunk, start, end } of ranges) column += payloadBytes(chunk.columns[j], start, end) + VALUE_COST * presentValues(chunk.columns[j], start, end);
      if (column > PIECE_COST && splitsByRows(this.columns[j])) {
        flush(j);
        const parts = Math.min(rows, Math.ceil(column / PIECE_COST));
        const each = Math.ceil(rows / parts);
        for (let start = 0; start < rows; start += each) out.push({ from: j, to: j + 1, start, rows: Math.min(each, rows - start) });
        from = j + 1;
        continue;
      }
      if (j > from && cost + column > PIECE_COST) flush(j);
      cost += column;
    }
    flush(this.columns.length);
    return out;
  }

  /** Rows start … start + rows of the group, as a source of their own. */
  private within(source: GroupSource, start: number, rows: number): GroupSource {
    let c = 0;
    let at = source.start + start;
    while (at >= source.chunks[c].rows) at -= source.chunks[c++].rows;
    return { chunks: source.chunks.slice(c), start: at, rows };
  }

  /**
   * A piece of the group as a one-row-group Parquet file (arrow-rs' own
   * footer, which part_file.ts reads and replaces).
   */
  encodePiece(group: GroupSource, { from, to, start, rows }: Piece): Uint8Array {
    const source = start === 0 && rows === group.rows ? group : this.within(group, start, rows);
    const indices = Array.from({ length: to - from }, (_, k) => from + k);
    // One record batch per chunk, over the chunk's own arrays (a chunk cut by the piece is a slice of its batch):
    // arrow-rs puts every batch into the one row group, so nothing is concatenated here.
    const batches = this.ranges(source).map(({ chunk, start: first, end }) => {
      const batch = this.recordBatch(chunk).selectAt(indices);
      return first === 0 && end === chunk.rows ? batch : batch.slice(first, end);
    });
    const ipc = arrow.tableToIPC(new arrow.Table(this.schema.selectAt(indices), batches), 'stream');
    // Dictionaries only for the repeating text columns, from plain Arrow
    // strings: arrow-rs hashes each value of a dictionary column (cheap from
    // a string array, 0.1 µs a row from an Arrow dictionary, more than the
    // zstd of a numbers' column saves), and DuckDB filters and groups a
    // dictionary column 2–3× faster (parquet README, "Writer choice").
    let builder = new wasm.WriterPropertiesBuilder()
      .setCompression(this.codec)
      .setMaxRowGroupSize(rows + 1)
      .setCreatedBy('scope-pipeline')
      .setDictionaryEnabled(false)
      .setStatisticsEnabled(wasm.EnabledStatistics.Chunk);
    for (const column of this.columns.slice(from, to)) {
      if (!column.statistics) builder = builder.setColumnStatisticsEnabled(column.name, wasm.EnabledStatistics.None);
      if (dictionaryColumn(column)) builder = builder.setColumnDictionaryEnabled(column.name, true);
    }
    return wasm.writeParquet(wasm.Table.fromIPCStream(ipc), builder.build());
  }

  /** The whole group, every piece at once. */
  encode(source: GroupSource): Uint8Array[] {
    return this.pieces(source).map((piece) => this.encodePiece(source, piece));
  }
}
