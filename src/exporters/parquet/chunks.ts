/**
 * The columnar hand-off between the pipeline's thread and the archive
 * writer's worker: a batch's checked rows (rows.ts) are appended column by
 * column into typed arrays and UTF-8 bytes with offsets, one chunk per
 * partition, and the chunk's ArrayBuffers are
 * transferred to the worker (no structured clone of the items). The worker
 * (encode.ts) turns chunks into Arrow record batches and Parquet row groups.
 *
 * Nulls travel as one byte per row (`valid`, absent when the column has none)
 * so that the worker can cut chunks at any row; it packs them into Arrow's
 * bitmaps when it builds a row group.
 */
import type { SchemaElement } from 'hyparquet-writer';
import type { Column } from '../../archive/tables.js';
import type { BatchDocuments } from './documents.js';

export type ColumnPayload =
  | { kind: 'utf8'; offsets: Int32Array; bytes: Uint8Array; valid?: Uint8Array }
  | { kind: 'i64'; values: BigInt64Array; valid?: Uint8Array }
  | { kind: 'i32'; values: Int32Array; valid?: Uint8Array }
  | { kind: 'f64'; values: Float64Array; valid?: Uint8Array }
  | { kind: 'bool'; values: Uint8Array; valid?: Uint8Array }
  /** A LIST of STRUCTs: row i's elements are offsets[i] … offsets[i + 1] of every field. */
  | { kind: 'list'; offsets: Int32Array; valid?: Uint8Array; fields: ColumnPayload[] };

/** A table's rows for one partition, from one batch. */
export interface ColumnChunk {
  table: 'spans' | 'events' | 'metrics';
  /** The partition, relative to the table directory (`date=…/hour=…[/key=value]`). */
  dir: string;
  rows: number;
  columns: ColumnPayload[];
}

interface Builder {
  append(value: unknown): void;
  finish(): ColumnPayload;
}

/** Grows a typed array (doubling), keeping what it holds. */
function grow<A extends Int32Array | BigInt64Array | Float64Array | Uint8Array>(array: A, need: number): A {
  if (need <= array.length) return array;
  const next = new (array.constructor as new (n: number) => A)(Math.max(need, array.length * 2, 64));
  next.set(array as never);
  return next;
}

class Validity {
  private bytes?: Uint8Array;
  constructor(private readonly optional: boolean) {}

  mark(i: number, present: boolean): void {
    if (present) {
      if (this.bytes) {
        this.bytes = grow(this.bytes, i + 1);
        this.bytes[i] = 1;
      }
      return;
    }
    if (!this.optional) throw new Error('a required column got a null');
    if (!this.bytes) {
      this.bytes = new Uint8Array(Math.max(64, i * 2));
      this.bytes.fill(1, 0, i);
    }
    this.bytes = grow(this.bytes, i + 1);
    this.bytes[i] = 0;
  }

  finish(length: number): Uint8Array | undefined {
    return this.bytes?.slice(0, length);
  }
}

/**
 * UTF-8 of a string column: the strings are kept until finish(), then joined
 * and encoded with one call (when every character is ASCII, as ids, names,
 * pids and most JSON are, the offsets follow from the string lengths).
 */
class Utf8Builder implements Builder {
  private values: Array<string | null> = [];
  constructor(private readonly optional: boolean) {}

  append(value: unknown): void {
    this.values.push(value as string | null);
  }

  finish(): ColumnPayload {
    return utf8Payload(this.values, this.optional);
  }
}

export function utf8Payload(values: ReadonlyArray<string | null>, optional: boolean): ColumnPayload & { kind: 'utf8' } {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let valid: Uint8Array | undefined;
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) {
      if (!optional) throw new Error('a required column got a null');
      if (!valid) (valid = new Uint8Array(n)).fill(1);
      valid[i] = 0;
    } else {
      chars += v.length;
    }
    offsets[i + 1] = chars;
  }
  // join() writes null as nothing, as the offsets have it.
  const joined = values.join('');
  const byteLength = Buffer.byteLength(joined, 'utf8');
  // Its own ArrayBuffer (never the Buffer pool's): it is transferred to the worker.
  const bytes = Buffer.allocUnsafeSlow(byteLength);
  if (byteLength === chars) {
    bytes.write(joined, 0, 'latin1');
  } else {
    let at = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v !== null) at += bytes.write(v, at, 'utf8');
      offsets[i + 1] = at;
    }
  }
  return { kind: 'utf8', offsets, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, byteLength), ...(valid ? { valid } : {}) };
}

/**
 * A batch document column (documents.ts): each row's cell is its index into
 * the batch's documents; a chunk that has the whole batch in order takes the
 * batch's bytes as they are, others copy their rows' out.
 */
class DocumentBuilder implements Builder {
  private rows = new Int32Array(256);
  private length = 0;
  constructor(private readonly documents: BatchDocuments) {}

  append(value: unknown): void {
    this.rows = grow(this.rows, this.length + 1);
    this.rows[this.length++] = value as number;
  }

  finish(): ColumnPayload {
    const { bytes, offsets } = this.documents;
    const n = this.length;
    let whole = n === offsets.length - 1;
    for (let k = 0; whole && k < n; k++) whole = this.rows[k] === k;
    if (whole) return { kind: 'utf8', offsets, bytes };
    const out = new Int32Array(n + 1);
    for (let k = 0; k < n; k++) out[k + 1] = out[k] + offsets[this.rows[k] + 1] - offsets[this.rows[k]];
    const copy = new Uint8Array(out[n]);
    for (let k = 0; k < n; k++) copy.set(bytes.subarray(offsets[this.rows[k]], offsets[this.rows[k] + 1]), out[k]);
    return { kind: 'utf8', offsets: out, bytes: copy };
  }
}

type NumberKind = 'i64' | 'i32' | 'f64' | 'bool';

class NumberBuilder implements Builder {
  private values: BigInt64Array | Int32Array | Float64Array | Uint8Array;
  private length = 0;
  private readonly validity: Validity;

  constructor(private readonly kind: NumberKind, optional: boolean) {
    this.values = kind === 'i64' ? new BigInt64Array(256) : kind === 'i32' ? new Int32Array(256) : kind === 'f64' ? new Float64Array(256) : new Uint8Array(256);
    this.validity = new Validity(optional);
  }

  append(value: unknown): void {
    const i = this.length++;
    this.values = grow(this.values, this.length);
    const present = value !== null && value !== undefined;
    this.validity.mark(i, present);
    if (!present) return;
    if (this.kind === 'bool') (this.values as Uint8Array)[i] = value ? 1 : 0;
    else (this.values as unknown as Array<unknown>)[i] = value;
  }

  finish(): ColumnPayload {
    const valid = this.validity.finish(this.length);
    const values = this.values.slice(0, this.length);
    return { kind: this.kind, values, ...(valid ? { valid } : {}) } as ColumnPayload;
  }
}

/** A LIST of STRUCTs (listOf() in archive/tables.ts): the rows' lists of objects, as checked by rows.ts. */
class ListBuilder implements Builder {
  private offsets = new Int32Array(257);
  private length = 0;
  private elements = 0;
  private readonly validity: Validity;

  constructor(
    private readonly names: string[],
    private readonly fields: Builder[],
    optional: boolean,
  ) {
    this.validity = new Validity(optional);
  }

  append(value: unknown): void {
    const i = this.length++;
    this.offsets = grow(this.offsets, this.length + 1);
    const list = value as Array<Record<string, unknown>> | null;
    this.validity.mark(i, list !== null && list !== undefined);
    if (list) {
      for (const item of list) {
        for (let f = 0; f < this.fields.length; f++) this.fields[f].append(item[this.names[f]] ?? null);
      }
      this.elements += list.length;
    }
    this.offsets[i + 1] = this.elements;
  }

  finish(): ColumnPayload {
    const valid = this.validity.finish(this.length);
    return { kind: 'list', offsets: this.offsets.slice(0, this.length + 1), fields: this.fields.map((f) => f.finish()), ...(valid ? { valid } : {}) };
  }
}

function leafBuilder(element: SchemaElement): Builder {
  const optional = element.repetition_type === 'OPTIONAL';
  switch (element.type) {
    case 'BYTE_ARRAY':
      return new Utf8Builder(optional);
    case 'INT64':
      return new NumberBuilder('i64', optional);
    case 'INT32':
      return new NumberBuilder('i32', optional);
    case 'DOUBLE':
      return new NumberBuilder('f64', optional);
    case 'BOOLEAN':
      return new NumberBuilder('bool', optional);
    default:
      throw new Error(`the parquet exporter has no column builder for ${element.name} of type ${element.type}`);
  }
}

function columnBuilder(column: Column<unknown>, documents: BatchDocuments | undefined): Builder {
  if (documents) return new DocumentBuilder(documents);
  if (column.elements.length === 1) return leafBuilder(column.elements[0]);
  const [group, , , ...fields] = column.elements;
  return new ListBuilder(fields.map((f) => f.name), fields.map((f) => leafBuilder(f)), group.repetition_type === 'OPTIONAL');
}

/** One partition's rows of a batch, column by column. */
export class ChunkBuilder {
  rows = 0;
  private readonly builders: Builder[];

  constructor(
    readonly table: ColumnChunk['table'],
    readonly dir: string,
    columns: readonly Column<unknown>[],
    /** The batch's documents of each batch document column (BatchState.documents). */
    documents: ReadonlyArray<BatchDocuments | undefined> = [],
  ) {
    this.builders = columns.map((c, j) => columnBuilder(c, documents[j]));
  }

  /** A row as RowBuilder made it: one checked cell per column. */
  append(row: readonly unknown[]): void {
    const builders = this.builders;
    for (let j = 0; j < builders.length; j++) builders[j].append(row[j]);
    this.rows++;
  }

  finish(): ColumnChunk {
    return { table: this.table, dir: this.dir, rows: this.rows, columns: this.builders.map((b) => b.finish()) };
  }

  /** finish(), a column at a time, calling `pause` between columns (which may let the event loop run). */
  async finishInSlices(pause: () => Promise<void> | undefined): Promise<ColumnChunk> {
    const columns: ColumnPayload[] = [];
    for (const b of this.builders) {
      await pause();
      columns.push(b.finish());
    }
    return { table: this.table, dir: this.dir, rows: this.rows, columns };
  }
}

/** The ArrayBuffers a chunk holds, to transfer with it. */
export function transferList(chunks: readonly ColumnChunk[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (c: ColumnPayload): void => {
    switch (c.kind) {
      case 'utf8':
        out.add(c.offsets.buffer as ArrayBuffer).add(c.bytes.buffer as ArrayBuffer);
        break;
      case 'list':
        out.add(c.offsets.buffer as ArrayBuffer);
        c.fields.forEach(add);
        break;
      default:
        out.add(c.values.buffer as ArrayBuffer);
    }
    if (c.valid) out.add(c.valid.buffer as ArrayBuffer);
  };
  for (const chunk of chunks) chunk.columns.forEach(add);
  return [...out];
}
