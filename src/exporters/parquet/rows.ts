/**
 * An item's row for the archive, built and checked when the item arrives,
 * before it joins a partition's pending rows: a value the writer cannot
 * encode (or DuckDB could not read back) is found here, for that item alone,
 * and never in the middle of encoding a row group, where it would take the
 * whole group (and the partition's open file) with it.
 *
 * Each column's check follows from its Parquet schema element: timestamps in
 * DuckDB's TIMESTAMP_NS range, INT64 and INT32 in range, strings well-formed
 * UTF-16 (a lone surrogate has no UTF-8), JSON that DuckDB's parser accepts,
 * ids of the right length in hex, required values present. The checks cost
 * a type test per cell, a native `isWellFormed` per string and a substring
 * search per JSON document; the JSON text is made here once, as the encoder
 * needs it anyway.
 */
import type { SchemaElement } from 'hyparquet-writer';
import type { Column } from '../../archive/tables.js';
import type { AttributeValue } from '../../model/types.js';
import { batchDocuments, LONE_SURROGATE_ESCAPE, LONE_SURROGATE_PROBLEM, type BatchDocuments } from './documents.js';

/**
 * DuckDB's TIMESTAMP_NS: 1677-09-22T00:00:00Z … 2262-04-11T23:47:16.854775806Z.
 * INT64 holds more, but DuckDB refuses to read anything earlier (the whole
 * query fails) and reads ±(2^63 − 1) as ±infinity.
 */
export const MIN_TIMESTAMP_NS = -9_223_286_400_000_000_000n;
export const MAX_TIMESTAMP_NS = 9_223_372_036_854_775_806n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

/** Why an item cannot be written: the column (`start_time`, `events[2].attributes`), what is wrong, and the value, shortened. */
export interface RowProblem {
  field: string;
  problem: string;
  value: string;
}

class InvalidValue extends Error {
  constructor(
    readonly problem: string,
    readonly value: unknown,
    /** Below the column: `[2].time` for a list element's field. */
    readonly path = '',
  ) {
    super(problem);
  }
}

type Check = (value: unknown) => unknown;

const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();


function text(value: unknown): string {
  if (typeof value !== 'string') throw new InvalidValue('must be a string', value);
  if (!isWellFormed(value)) throw new InvalidValue('holds a lone UTF-16 surrogate, which has no UTF-8 encoding', value);
  return value;
}

function jsonText(value: string): string {
  if (value.includes('\\u') && LONE_SURROGATE_ESCAPE.test(value)) {
    throw new InvalidValue(LONE_SURROGATE_PROBLEM, value);
  }
  return value;
}

const LOWER_HEX = /^[0-9a-f]*$/;
const ANY_HEX = /^[0-9a-fA-F]*$/;

function hexId(digits: number): Check {
  return (value) => {
    if (typeof value !== 'string') throw new InvalidValue(`must be ${digits} hex digits`, value);
    if (value.length === digits) {
      if (LOWER_HEX.test(value)) return value;
      // The archive's ids are lowercase, so that pasted ids match.
      if (ANY_HEX.test(value)) return value.toLowerCase();
    }
    throw new InvalidValue(`must be ${digits} hex digits (${digits / 2} bytes); it has ${value.length} characters`, value);
  };
}

interface LeafOptions {
  /** Lowercase hex of this many digits. */
  hexDigits?: number;
  /** A JSON field nested in a list: its value is a JS value, made JSON text here. */
  nestedJson?: boolean;
}

function leafCheck(element: SchemaElement, options: LeafOptions): Check {
  let check: Check;
  switch (element.type) {
    case 'INT64':
      check = element.logical_type?.type === 'TIMESTAMP'
        ? (v) => {
          if (typeof v !== 'bigint') throw new InvalidValue('must be Unix nanoseconds', v);
          if (v < MIN_TIMESTAMP_NS || v > MAX_TIMESTAMP_NS) throw new InvalidValue('is outside the TIMESTAMP_NS range (1677-09-22 to 2262-04-11)', v);
          return v;
        }
        : (v) => {
          if (typeof v !== 'bigint') throw new InvalidValue('must be an integer', v);
          if (v < MIN_INT64 || v > MAX_INT64) throw new InvalidValue('is outside the INT64 range', v);
          return v;
        };
      break;
    case 'INT32':
      check = (v) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new InvalidValue('must be a 32-bit integer', v);
        return v;
      };
      break;
    case 'DOUBLE':
      check = (v) => {
        if (typeof v !== 'number') throw new InvalidValue('must be a number', v);
        return v;
      };
      break;
    case 'BOOLEAN':
      check = (v) => {
        if (typeof v !== 'boolean') throw new InvalidValue('must be true or false', v);
        return v;
      };
      break;
    case 'BYTE_ARRAY':
      if (options.hexDigits !== undefined) check = hexId(options.hexDigits);
      else if (element.converted_type === 'JSON') {
        check = options.nestedJson
          ? (v) => (v === undefined ? null : jsonText(JSON.stringify(v)))
          : (v) => jsonText(text(v));
      } else check = text;
      break;
    default:
      throw new Error(`the parquet exporter has no check for column ${element.name} of type ${element.type}`);
  }
  if (element.repetition_type === 'OPTIONAL') {
    // An empty optional id is an absent one (OTLP's convention).
    const empty = options.hexDigits !== undefined ? '' : undefined;
    return (v) => (v === null || v === undefined || v === empty ? null : check(v));
  }
  return (v) => {
    if (v === null || v === undefined) throw new InvalidValue('is required', v);
    return check(v);
  };
}

/** A LIST of STRUCTs (listOf() in archive/tables.ts): the list, then each element's fields. */
function listCheck(column: Column<unknown>, ids: Readonly<Record<string, number>>): Check {
  const [group, repeated, element, ...fields] = column.elements;
  if (group.converted_type !== 'LIST' || repeated?.repetition_type !== 'REPEATED' || element?.num_children !== fields.length) {
    throw new Error(`the parquet exporter cannot check the nested column ${column.name}`);
  }
  const checks = fields.map((f) => ({ name: f.name, check: leafCheck(f, { hexDigits: ids[`${column.name}.${f.name}`], nestedJson: true }) }));
  const optional = group.repetition_type === 'OPTIONAL';
  return (v) => {
    if (v === null || v === undefined) {
      if (optional) return null;
      throw new InvalidValue('is required', v);
    }
    if (!Array.isArray(v)) throw new InvalidValue('must be a list', v);
    const out = new Array<Record<string, unknown>>(v.length);
    for (let i = 0; i < v.length; i++) {
      const item = v[i] as Record<string, unknown> | null;
      if (typeof item !== 'object' || item === null) throw new InvalidValue('must be an object', item, `[${i}]`);
      const row: Record<string, unknown> = {};
      for (const { name, check } of checks) {
        try {
          row[name] = check(item[name]);
        } catch (error) {
          if (error instanceof InvalidValue) throw new InvalidValue(error.problem, error.value, `[${i}].${name}`);
          throw new InvalidValue(`cannot be encoded: ${(error as Error).message}`, item[name], `[${i}].${name}`);
        }
      }
      out[i] = row;
    }
    return out;
  };
}

/** A value for a log line: short, and printable whatever it is. */
function preview(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
    return value.length > 64 ? `${s} (${value.length} characters)` : s;
  }
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return typeof value;
}

interface Cell<T> {
  name: string;
  value: (item: T) => unknown;
  check: Check;
  document?: { of(item: T): unknown; shared: boolean };
}

/**
 * What one batch's rows share: the batch's attribute documents as text
 * (by column index), and the last shared document seen per column with its
 * text (a resource, the same object for many items). One per batch, so that
 * batches built at once (each yields to the event loop) never mix.
 */
export class BatchState<T> {
  readonly documents: Array<BatchDocuments | undefined>;
  private readonly lastDoc: unknown[];
  private readonly lastText: unknown[];

  /** `documents`: by column index, the batch's documents of each batch document column (RowBuilder.batch). */
  constructor(documents: Array<BatchDocuments | undefined>) {
    this.documents = documents;
    this.lastDoc = this.documents.map(() => undefined);
    this.lastText = this.documents.map(() => undefined);
  }

  /** A shared document's checked text, when `doc` is the object seen last in this column. */
  shared(j: number, doc: unknown): unknown {
    return doc !== undefined && doc === this.lastDoc[j] ? this.lastText[j] : undefined;
  }

  remember(j: number, doc: unknown, text: unknown): void {
    this.lastDoc[j] = doc;
    this.lastText[j] = text;
  }
}

/** Builds each item's row: one cell per column, in column order, or the first problem found. */
export class RowBuilder<T> {
  private readonly cells: Array<Cell<T>>;
  /** The last item's cells, when build() found no problem: one array, reused by the next call (copy them out). */
  readonly row: unknown[];

  /** `ids`: columns (`trace_id`, or `links.span_id` inside a list) holding hex ids of that many digits. */
  constructor(columns: readonly Column<T>[], ids: Readonly<Record<string, number>> = {}) {
    this.cells = columns.map((c) => ({
      name: c.name,
      value: c.value,
      check: c.elements.length === 1 ? leafCheck(c.elements[0], { hexDigits: ids[c.name] }) : listCheck(c as Column<unknown>, ids),
      ...(c.document ? { document: c.document } : {}),
    }));
    this.row = new Array<unknown>(this.cells.length);
  }

  /** A batch's shared state: its attribute documents serialised together (documents.ts). */
  batch(items: readonly T[]): BatchState<T> {
    return new BatchState(this.cells.map((c) => (c.document && !c.document.shared ? batchDocuments(items, c.document.of as (item: T) => AttributeValue) : undefined)));
  }

  /**
   * Fills `row` with the item's cells; returns what makes the item unwritable,
   * or null. With a batch (`index`: the item's place in it), a batch document
   * column's cell is the item's index into the batch's documents.
   */
  build(item: T, batch?: BatchState<T>, index = -1): RowProblem | null {
    const row = this.row;
    const cells = this.cells;
    let i = 0;
    let value: unknown;
    try {
      for (; i < cells.length; i++) {
        const cell = cells[i];
        value = undefined;
        if (batch !== undefined && cell.document !== undefined) {
          const documents = batch.documents[i];
          if (documents !== undefined) {
            const problem = documents.problems?.get(index);
            if (problem) throw new InvalidValue(problem.problem, problem.value);
            row[i] = index;
            continue;
          }
          const doc = cell.document.of(item);
          const known = batch.shared(i, doc);
          if (known !== undefined) {
            row[i] = known;
            continue;
          }
          value = cell.value(item);
          row[i] = cell.check(value);
          batch.remember(i, doc, row[i]);
          continue;
        }
        value = cell.value(item);
        row[i] = cell.check(value);
      }
      return null;
    } catch (error) {
      const name = cells[i].name;
      if (error instanceof InvalidValue) return { field: name + error.path, problem: error.problem, value: preview(error.value) };
      // The column's own conversion threw: JSON.stringify of a BigInt or of a cycle, BigInt() of a fraction.
      return { field: name, problem: `cannot be encoded: ${(error as Error).message}`, value: preview(value) };
    }
  }
}

/** The schema row groups are encoded with: every JSON column and field as UTF-8, because the cells already hold JSON text. */
export function textSchema(schema: readonly SchemaElement[]): SchemaElement[] {
  return schema.map((e, i) => (i > 0 && e.converted_type === 'JSON' ? { ...e, converted_type: 'UTF8' } : e));
}
