/**
 * The archive's tables: one definition per table (spans, events, metrics)
 * giving each column's Parquet schema, its DuckDB type (for empty views) and
 * how to read it from a model item. The parquet exporter writes with these;
 * `scope-pipeline query` reads with them.
 */
import type { SchemaElement } from 'hyparquet-writer';
import type { AttributeValue, Attributes, MetricPoint, ScopeEvent, Span } from '../model/types.js';
import { EVENT_KEY_COLUMNS, keyColumnName, keyValues, storedEventAttributes } from './event_keys.js';

/**
 * Bumped when a column changes meaning or type; recorded in every file's
 * metadata. Not when a column is added: readers union files by column name,
 * and a file without the column reads NULL there.
 */
export const ARCHIVE_SCHEMA_VERSION = 1;
export const SCHEMA_VERSION_KEY = 'scope.archive.schema_version';

export type TableName = 'spans' | 'events' | 'metrics';
export const TABLES: readonly TableName[] = ['spans', 'events', 'metrics'];

export interface Column<T> {
  name: string;
  /** The column's schema elements: one for a leaf, the group and its children for nested columns. */
  elements: SchemaElement[];
  duckdb: string;
  value(item: T): unknown;
  /**
   * Min/max statistics in the footer: for the columns whose ranges prune row
   * groups (times, numbers, nodes and services, mostly-NULL keys such as a
   * registered name). Not for ids, documents, or the strings every row has
   * and whose values spread over every row group (a pid, an event type, a
   * span name): their range never excludes one, and computing it costs the
   * writer up to a tenth of a microsecond per row and column.
   */
  statistics: boolean;
  /**
   * `text`: a top-level string or JSON column whose values are strings (or
   * null), which the exporter encodes to UTF-8 itself; `value`: anything else
   * (numbers, bigints, nested lists), handed to the writer as is.
   */
  values: 'text' | 'value';
  /** Nearly every value differs (ids, attribute documents): written without a dictionary, which would only cost time. */
  unique: boolean;
  /**
   * A JSON column holding an item's attribute map: `of` gives the map. The
   * exporter serialises a batch's maps with one call (parquet/documents.ts);
   * `shared`: the same object for many items (a span's resource), whose text
   * is made once per batch instead.
   */
  document?: { of(item: T): AttributeValue | undefined; shared: boolean };
}

type Repetition = 'REQUIRED' | 'OPTIONAL';

/*
 * Timestamps are INT64 TIMESTAMP(NANOS) holding UTC, written without the
 * isAdjustedToUTC flag: DuckDB reads UTC-adjusted nanosecond timestamps as
 * TIMESTAMPTZ and truncates them to microseconds, losing the nanoseconds.
 */
const ts = (name: string, repetition: Repetition = 'REQUIRED'): SchemaElement =>
  ({ name, type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' }, repetition_type: repetition });
const str = (name: string, repetition: Repetition = 'REQUIRED'): SchemaElement =>
  ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: repetition });
const json = (name: string, repetition: Repetition = 'REQUIRED'): SchemaElement =>
  ({ name, type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: repetition });
const int64 = (name: string, repetition: Repetition = 'REQUIRED'): SchemaElement => ({ name, type: 'INT64', repetition_type: repetition });
const int32 = (name: string): SchemaElement => ({ name, type: 'INT32', repetition_type: 'REQUIRED' });
const double = (name: string, repetition: Repetition = 'REQUIRED'): SchemaElement => ({ name, type: 'DOUBLE', repetition_type: repetition });
const bool = (name: string): SchemaElement => ({ name, type: 'BOOLEAN', repetition_type: 'OPTIONAL' });

/** A LIST of STRUCTs in the standard three-level layout. */
function listOf(name: string, fields: SchemaElement[]): SchemaElement[] {
  return [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'REQUIRED', num_children: fields.length },
    ...fields,
  ];
}

function leaf<T>(element: SchemaElement, duckdb: string, value: (item: T) => unknown): Column<T> {
  const text = element.converted_type === 'UTF8' || element.converted_type === 'JSON';
  return {
    name: element.name, elements: [element], duckdb, value,
    statistics: duckdb !== 'JSON' && !RANDOM_IDS.has(element.name) && !SPREAD.has(element.name),
    values: text ? 'text' : 'value',
    unique: RANDOM_IDS.has(element.name) || UNIQUE_DOCUMENTS.has(element.name),
  };
}

/** Text in every row whose values spread over every row group (see `statistics`). */
const SPREAD = new Set(['type', 'pid', 'name', 'kind', 'status_code']);
/** Random ids: their min/max never prune a row group, and they rarely repeat. */
const RANDOM_IDS = new Set(['trace_id', 'span_id', 'parent_span_id', 'id', 'causation_id']);
/** Per-item documents (a resource, by contrast, repeats and is kept in a dictionary). */
const UNIQUE_DOCUMENTS = new Set(['attributes', 'body', 'distribution']);

/** Whether a value holds bytes anywhere (a loop without allocation: it runs for every document written). */
export function containsBytes(value: AttributeValue): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (containsBytes(value[i])) return true;
    return false;
  }
  const map = value as { readonly [key: string]: AttributeValue };
  for (const key in map) {
    const v = map[key];
    if (typeof v === 'object' && v !== null && containsBytes(v)) return true;
  }
  return false;
}

function withBytesAsBase64(value: AttributeValue): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(withBytesAsBase64);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = withBytesAsBase64(v as AttributeValue);
    return out;
  }
  return value;
}

/**
 * A value for a JSON column: the value itself (the writer serialises it), or,
 * when it holds bytes, a copy with `{"$bytes": base64}` as in JSON lines.
 */
export function jsonValue(value: AttributeValue | undefined): unknown {
  if (value === undefined) return null;
  return containsBytes(value) ? withBytesAsBase64(value) : value;
}

/** JSON text for a JSON column (non-finite numbers become null, as in any JSON). */
export function jsonText(value: AttributeValue | undefined): string | null {
  return value === undefined ? null : JSON.stringify(containsBytes(value) ? withBytesAsBase64(value) : value);
}

/** A JSON column of an item's attribute map (Column.document). */
function documentColumn<T>(element: SchemaElement, of: (item: T) => AttributeValue | undefined, shared: boolean): Column<T> {
  return { ...leaf<T>(element, 'JSON', (item) => jsonText(of(item))), document: { of, shared } };
}

/** A promoted attribute as text: strings as they are, other scalars printed, lists and maps as JSON. */
export function promotedText(value: AttributeValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(withBytesAsBase64(value));
}

/** `http.route` → `attr_http_route`. */
export function promotedColumnName(key: string): string {
  return `attr_${key.replace(/[^A-Za-z0-9]+/g, '_')}`;
}

function promoted<T>(keys: readonly string[], attributes: (item: T) => Attributes): Column<T>[] {
  return keys.map((key) => leaf<T>(str(promotedColumnName(key), 'OPTIONAL'), 'VARCHAR', (item) => promotedText(attributes(item)[key])));
}

const text = (v: AttributeValue | undefined): string | null => (typeof v === 'string' ? v : v === undefined || v === null ? null : String(v));

function keyColumn(key: string, index: number, distinct: boolean): Column<ScopeEvent> {
  const column = leaf<ScopeEvent>(str(keyColumnName(key), 'OPTIONAL'), 'VARCHAR', (e) => promotedText(keyValues(e.attributes).values[index]));
  return distinct ? { ...column, statistics: false, unique: true } : column;
}

const EVENT_KEY_COLUMN_DEFS = EVENT_KEY_COLUMNS.map(({ key, distinct }, i) => keyColumn(key, i, distinct));

export function spanColumns(promote: readonly string[] = []): Column<Span>[] {
  return [
    leaf(str('trace_id'), 'VARCHAR', (s) => s.traceId),
    leaf(str('span_id'), 'VARCHAR', (s) => s.spanId),
    leaf(str('parent_span_id', 'OPTIONAL'), 'VARCHAR', (s) => s.parentSpanId ?? null),
    leaf(str('trace_state', 'OPTIONAL'), 'VARCHAR', (s) => s.traceState ?? null),
    leaf(str('name'), 'VARCHAR', (s) => s.name),
    leaf(str('kind'), 'VARCHAR', (s) => s.spanKind),
    leaf(ts('start_time'), 'TIMESTAMP_NS', (s) => s.startTimeUnixNano),
    leaf(ts('end_time'), 'TIMESTAMP_NS', (s) => s.endTimeUnixNano),
    leaf(int64('duration_ns'), 'BIGINT', (s) => s.endTimeUnixNano - s.startTimeUnixNano),
    leaf(str('status_code'), 'VARCHAR', (s) => s.status.code),
    leaf(str('status_message', 'OPTIONAL'), 'VARCHAR', (s) => s.status.message || null),
    leaf(str('service_name', 'OPTIONAL'), 'VARCHAR', (s) => text(s.resource['service.name'])),
    leaf(str('beam_node', 'OPTIONAL'), 'VARCHAR', (s) => text(s.attributes['beam.node'] ?? s.resource['beam.node'])),
    leaf(str('pid', 'OPTIONAL'), 'VARCHAR', (s) => text(s.attributes['beam.pid'])),
    leaf(str('scope_name', 'OPTIONAL'), 'VARCHAR', (s) => s.scope?.name ?? null),
    leaf(str('scope_version', 'OPTIONAL'), 'VARCHAR', (s) => s.scope?.version ?? null),
    documentColumn(json('resource_attributes'), (s: Span) => s.resource, true),
    documentColumn(json('attributes'), (s: Span) => s.attributes, false),
    ...promoted<Span>(promote, (s) => s.attributes),
    {
      name: 'events',
      elements: listOf('events', [ts('time'), str('name'), json('attributes')]),
      duckdb: 'STRUCT("time" TIMESTAMP_NS, "name" VARCHAR, attributes JSON)[]',
      statistics: false,
      values: 'value',
      unique: false,
      value: (s) => s.events.map((e) => ({ time: e.timeUnixNano, name: e.name, attributes: jsonValue(e.attributes) })),
    },
    {
      name: 'links',
      elements: listOf('links', [str('trace_id'), str('span_id'), str('trace_state', 'OPTIONAL'), json('attributes')]),
      duckdb: 'STRUCT(trace_id VARCHAR, span_id VARCHAR, trace_state VARCHAR, attributes JSON)[]',
      statistics: false,
      values: 'value',
      unique: false,
      value: (s) => s.links.map((l) => ({ trace_id: l.traceId, span_id: l.spanId, trace_state: l.traceState ?? null, attributes: jsonValue(l.attributes) })),
    },
  ];
}

export function eventColumns(promote: readonly string[] = []): Column<ScopeEvent>[] {
  return [
    leaf(str('id'), 'VARCHAR', (e) => e.id),
    leaf(str('type'), 'VARCHAR', (e) => e.type),
    leaf(int32('schema_version'), 'INTEGER', (e) => e.schemaVersion),
    leaf(ts('time'), 'TIMESTAMP_NS', (e) => e.time),
    leaf(str('node'), 'VARCHAR', (e) => e.source.node),
    leaf(str('app', 'OPTIONAL'), 'VARCHAR', (e) => e.source.app ?? null),
    leaf(str('component'), 'VARCHAR', (e) => e.source.component),
    leaf(str('pid', 'OPTIONAL'), 'VARCHAR', (e) => e.pid ?? null),
    leaf(str('trace_id', 'OPTIONAL'), 'VARCHAR', (e) => e.traceId ?? null),
    leaf(str('span_id', 'OPTIONAL'), 'VARCHAR', (e) => e.spanId ?? null),
    leaf(str('causation_id', 'OPTIONAL'), 'VARCHAR', (e) => e.causationId ?? null),
    ...EVENT_KEY_COLUMN_DEFS,
    documentColumn(json('attributes'), (e: ScopeEvent) => storedEventAttributes(e.attributes), false),
    leaf(int32('attributes_in_columns'), 'INTEGER', (e) => keyValues(e.attributes).inColumns),
    leaf(json('body', 'OPTIONAL'), 'JSON', (e) => jsonText(e.body)),
    documentColumn(json('resource_attributes', 'OPTIONAL'), (e: ScopeEvent) => e.resource, true),
    ...promoted<ScopeEvent>(promote, (e) => e.attributes),
  ];
}

/** Histogram, exponential histogram and summary details, as their model objects. */
function distribution(m: MetricPoint): unknown {
  return m.histogram ?? m.exponentialHistogram ?? m.summary ?? null;
}

export function metricColumns(promote: readonly string[] = []): Column<MetricPoint>[] {
  return [
    leaf(str('name'), 'VARCHAR', (m) => m.name),
    leaf(str('type'), 'VARCHAR', (m) => m.type),
    leaf(str('unit', 'OPTIONAL'), 'VARCHAR', (m) => m.unit || null),
    leaf(str('description', 'OPTIONAL'), 'VARCHAR', (m) => m.description || null),
    leaf(ts('time'), 'TIMESTAMP_NS', (m) => m.timeUnixNano),
    leaf(ts('start_time', 'OPTIONAL'), 'TIMESTAMP_NS', (m) => m.startTimeUnixNano ?? null),
    leaf(double('value'), 'DOUBLE', (m) => m.value),
    leaf(bool('monotonic'), 'BOOLEAN', (m) => m.monotonic ?? null),
    leaf(int64('count', 'OPTIONAL'), 'BIGINT', (m) => {
      const count = (m.histogram ?? m.exponentialHistogram ?? m.summary)?.count;
      return count === undefined ? null : BigInt(count);
    }),
    leaf(double('min', 'OPTIONAL'), 'DOUBLE', (m) => (m.histogram ?? m.exponentialHistogram)?.min ?? null),
    leaf(double('max', 'OPTIONAL'), 'DOUBLE', (m) => (m.histogram ?? m.exponentialHistogram)?.max ?? null),
    leaf(json('distribution', 'OPTIONAL'), 'JSON', (m) => (distribution(m) === null ? null : JSON.stringify(distribution(m)))),
    leaf(str('service_name', 'OPTIONAL'), 'VARCHAR', (m) => text(m.resource['service.name'])),
    leaf(str('beam_node', 'OPTIONAL'), 'VARCHAR', (m) => text(m.attributes['beam.node'] ?? m.resource['beam.node'])),
    documentColumn(json('resource_attributes'), (m: MetricPoint) => m.resource, true),
    documentColumn(json('attributes'), (m: MetricPoint) => m.attributes, false),
    ...promoted<MetricPoint>(promote, (m) => m.attributes),
  ];
}

/** The Parquet schema of a table: the root, then every column's elements. */
export function parquetSchema<T>(columns: readonly Column<T>[]): SchemaElement[] {
  return [{ name: 'root', num_children: columns.length }, ...columns.flatMap((c) => c.elements)];
}

/**
 * The schema the row groups are encoded with: top-level JSON columns as plain
 * UTF-8 (the same bytes), because the writer would JSON-serialise what it is
 * given again. The file's footer gets parquetSchema(), with the JSON annotation.
 */
export function encodingSchema<T>(columns: readonly Column<T>[]): SchemaElement[] {
  return parquetSchema(columns).map((e, i) => (i > 0 && e.converted_type === 'JSON' && columns.some((c) => c.elements[0] === e) ? { ...e, converted_type: 'UTF8' } : e));
}

/** `SELECT … WHERE false` with the table's columns: the view for a table that has no files yet. */
export function emptySelect<T>(columns: readonly Column<T>[]): string {
  return `SELECT ${columns.map((c) => `NULL::${c.duckdb} AS "${c.name}"`).join(', ')} WHERE false`;
}
