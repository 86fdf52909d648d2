/**
 * The worker's side of the columnar hand-off: the rows of a row group, cut
 * from the column chunks the pipeline's thread built (chunks.ts), become one
 * Arrow record batch (apache-arrow, over the same typed arrays where a chunk
 * is taken whole), which parquet-wasm (arrow-rs' Parquet writer compiled to
 * wasm) encodes as a one-row-group Parquet file. part_file.ts appends that
 * file's column chunks to the archive file and keeps its row-group metadata
 * for the footer, which it writes itself with the archive's schema (the JSON
 * annotation, which arrow-rs does not write for a string column).
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

/** Rows start … end of one chunk's column. */
interface Slice<P extends ColumnPayload = ColumnPayload> {
  payload: P;
  start: number;
  end: number;
}

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

/** Arrow's validity bitmap of slices' one-byte-per-row `valid`; undefined when every row is present. */
function bitmap(slices: ReadonlyArray<Slice>, rows: number): { bitmap?: Uint8Array; nulls: number } {
  if (!slices.some((s) => (s.payload as { valid?: Uint8Array }).valid)) return { nulls: 0 };
  const bits = new Uint8Array((rows + 7) >> 3);
  let at = 0;
  let nulls = 0;
  for (const { payload, start, end } of slices) {
    const valid = (payload as { valid?: Uint8Array }).valid;
    for (let i = start; i < end; i++, at++) {
      if (valid === undefined || valid[i] === 1) bits[at >> 3] |= 1 << (at & 7);
      else nulls++;
    }
  }
  return nulls === 0 ? { nulls } : { bitmap: bits, nulls };
}

function concatTyped<A extends Int32Array | BigInt64Array | Float64Array | Uint8Array>(slices: ReadonlyArray<Slice>, rows: number, make: (n: number) => A): A {
  const first = slices[0];
  const values = (first.payload as unknown as { values: A }).values;
  // One chunk taken whole: its array as it is.
  if (slices.length === 1 && first.start === 0 && first.end === values.length) return values;
  const out = make(rows);
  let at = 0;
  for (const { payload, start, end } of slices) {
    out.set((payload as unknown as { values: A }).values.subarray(start, end) as never, at);
    at += end - start;
  }
  return out;
}

function utf8Data(type: arrow.Utf8, slices: ReadonlyArray<Slice<ColumnPayload & { kind: 'utf8' }>>, rows: number): arrow.Data {
  const { bitmap: nullBitmap, nulls } = bitmap(slices, rows);
  let offsets: Int32Array;
  let bytes: Uint8Array;
  const first = slices[0];
  if (slices.length === 1 && first.start === 0 && first.end === first.payload.offsets.length - 1) {
    ({ offsets, bytes } = first.payload);
  } else {
    let total = 0;
    for (const { payload, start, end } of slices) total += payload.offsets[end] - payload.offsets[start];
    offsets = new Int32Array(rows + 1);
    bytes = new Uint8Array(total);
    let row = 0;
    let at = 0;
    for (const { payload, start, end } of slices) {
      const base = payload.offsets[start];
      for (let i = start; i < end; i++) offsets[++row] = payload.offsets[i + 1] - base + at;
      const length = payload.offsets[end] - base;
      bytes.set(payload.bytes.subarray(base, base + length), at);
      at += length;
    }
  }
  return makeData({ type, length: rows, nullCount: nulls, nullBitmap, valueOffsets: offsets, data: bytes });
}

function boolData(type: arrow.Bool, slices: ReadonlyArray<Slice<ColumnPayload & { kind: 'bool' }>>, rows: number): arrow.Data {
  const { bitmap: nullBitmap, nulls } = bitmap(slices, rows);
  const bits = new Uint8Array((rows + 7) >> 3);
  let at = 0;
  for (const { payload, start, end } of slices) {
    for (let i = start; i < end; i++, at++) if (payload.values[i]) bits[at >> 3] |= 1 << (at & 7);
  }
  return makeData({ type, length: rows, nullCount: nulls, nullBitmap, data: bits });
}

function listData(type: arrow.List<arrow.Struct>, slices: ReadonlyArray<Slice<ColumnPayload & { kind: 'list' }>>, rows: number): arrow.Data {
  const { bitmap: nullBitmap, nulls } = bitmap(slices, rows);
  const offsets = new Int32Array(rows + 1);
  let row = 0;
  let at = 0;
  for (const { payload, start, end } of slices) {
    const base = payload.offsets[start];
    for (let i = start; i < end; i++) offsets[++row] = payload.offsets[i + 1] - base + at;
    at += payload.offsets[end] - base;
  }
  const elements = at;
  const structType = type.children[0].type;
  const children = structType.children.map((field, f) => columnData(field.type, slices.map(({ payload, start, end }) => ({
    payload: payload.fields[f], start: payload.offsets[start], end: payload.offsets[end],
  })), elements));
  const struct = makeData({ type: structType, length: elements, nullCount: 0, children });
  return makeData({ type, length: rows, nullCount: nulls, nullBitmap, valueOffsets: offsets, child: struct });
}

function columnData(type: arrow.DataType, slices: ReadonlyArray<Slice>, rows: number): arrow.Data {
  const kind = slices[0]?.payload.kind;
  if (arrow.DataType.isUtf8(type)) return utf8Data(type, slices as Slice<ColumnPayload & { kind: 'utf8' }>[], rows);
  if (arrow.DataType.isList(type)) return listData(type as arrow.List<arrow.Struct>, slices as Slice<ColumnPayload & { kind: 'list' }>[], rows);
  if (arrow.DataType.isBool(type)) return boolData(type, slices as Slice<ColumnPayload & { kind: 'bool' }>[], rows);
  const { bitmap: nullBitmap, nulls } = bitmap(slices, rows);
  const data = kind === 'i64' ? concatTyped(slices, rows, (n) => new BigInt64Array(n))
    : kind === 'i32' ? concatTyped(slices, rows, (n) => new Int32Array(n))
      : concatTyped(slices, rows, (n) => new Float64Array(n));
  return makeData({ type: type as arrow.Int32, length: rows, nullCount: nulls, nullBitmap, data: data as Int32Array });
}

/** Where a row group's rows come from: chunks in order, the first from `start`, `rows` in all. */
export interface GroupSource {
  chunks: ReadonlyArray<ColumnChunk>;
  /** Rows of chunks[0] already written. */
  start: number;
  rows: number;
}

const CODECS: Record<Compression, wasm.Compression> = {
  zstd: wasm.Compression.ZSTD, snappy: wasm.Compression.SNAPPY, gzip: wasm.Compression.GZIP, none: wasm.Compression.UNCOMPRESSED,
};

/** A table's row-group encoder: Arrow schema and writer settings made once. */
export class GroupEncoder {
  private readonly schema: arrow.Schema;
  private readonly codec: wasm.Compression;

  constructor(private readonly columns: readonly Column<unknown>[], compression: Compression) {
    this.schema = new arrow.Schema(columns.map(arrowField));
    this.codec = CODECS[compression];
  }

  /** The rows as a one-row-group Parquet file (arrow-rs' own footer, replaced by part_file.ts). */
  encode(source: GroupSource): Uint8Array {
    const { chunks, rows } = source;
    // Each chunk's rows in this group.
    const ranges: Array<{ chunk: ColumnChunk; start: number; end: number }> = [];
    let left = rows;
    for (let c = 0; c < chunks.length && left > 0; c++) {
      const start = c === 0 ? source.start : 0;
      const take = Math.min(left, chunks[c].rows - start);
      ranges.push({ chunk: chunks[c], start, end: start + take });
      left -= take;
    }
    if (left > 0) throw new Error(`a row group of ${rows} rows was asked of ${rows - left}`);
    const children = this.schema.fields.map((field, j) =>
      columnData(field.type, ranges.map(({ chunk, start, end }) => ({ payload: chunk.columns[j], start, end })), rows));
    const struct = makeData({ type: new arrow.Struct(this.schema.fields), length: rows, nullCount: 0, children });
    const ipc = arrow.tableToIPC(new arrow.Table([new arrow.RecordBatch(this.schema, struct as arrow.Data<arrow.Struct>)]), 'stream');
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
    for (const column of this.columns) {
      if (!column.statistics) builder = builder.setColumnStatisticsEnabled(column.name, wasm.EnabledStatistics.None);
      if (dictionaryColumn(column)) builder = builder.setColumnDictionaryEnabled(column.name, true);
    }
    return wasm.writeParquet(wasm.Table.fromIPCStream(ipc), builder.build());
  }
}
