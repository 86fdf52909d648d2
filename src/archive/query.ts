/**
 * SQL over an archive with DuckDB: `spans`, `events` and `metrics` are views
 * over their tables' partition files (with `date`, `hour` and any extra
 * partition key as columns). A table without files yet is an empty view of
 * the right columns, so queries work on a fresh archive too.
 *
 * By default the query runs sandboxed (see sandbox.ts): one read-only
 * statement, no file access outside the archive. `unsafe` runs the SQL as
 * given, with DuckDB's full powers.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DuckDBConnection, DuckDBResultReader } from '@duckdb/node-api';
import { DuckDBInstance } from '../util/duckdb.js';
import { ScopeError } from '../util/errors.js';
import { tableDir } from './layout.js';
import { lockDown, preparedReadOnly, queryError } from './sandbox.js';
import { tableView } from './event_keys.js';
import { emptySelect, eventColumns, metricColumns, spanColumns, TABLES, type TableName } from './tables.js';

export type QueryFormat = 'table' | 'json' | 'csv';

/** A JSON-safe cell: DuckDB's JSON rendering (BIGINT and timestamps as strings, lists and structs as JSON). */
export type Cell = string | number | boolean | null | Cell[] | { [key: string]: Cell };

export interface QueryResult {
  columns: string[];
  rows: Cell[][];
  /** With maxRows: there were more rows than these. */
  truncated?: boolean;
}

/**
 * One glob per partition layout under a table's directory: files directly in
 * `date=…/hour=…`, and in `date=…/hour=…/beam_node=…` after partition_by
 * changed, are different layouts, and DuckDB refuses to read both through one
 * hive-partitioned glob ("Hive partition mismatch"). `_`- and `.`-prefixed
 * directories are skipped, as Hive readers do.
 */
function layoutGlobs(dir: string): string[] {
  const layouts = new Set<string>();
  const walk = (path: string, levels: string[]): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) {
        const eq = entry.name.indexOf('=');
        walk(join(path, entry.name), [...levels, eq > 0 ? `${entry.name.slice(0, eq + 1)}*` : entry.name]);
      } else if (entry.isFile() && entry.name.endsWith('.parquet')) {
        layouts.add(join(dir, ...levels, '*.parquet'));
      }
    }
  };
  if (existsSync(dir)) walk(dir, []);
  return [...layouts].sort();
}

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;

function emptyView(table: TableName): string {
  const columns = table === 'spans' ? spanColumns() : table === 'events' ? eventColumns() : metricColumns();
  return emptySelect<unknown>(columns as never);
}

/**
 * The SELECT a table's view is: the table's current columns (no rows), then
 * its layouts' files, unioned by column name. So the view has every column in
 * the table's order (partition keys and `attr_*` after them), and a column
 * added after some files were written reads NULL in those files, even when no
 * file has it yet.
 */
function viewSource(root: string, table: TableName): string {
  return tableView(table, filesSource(root, table));
}

function filesSource(root: string, table: TableName): string {
  const globs = layoutGlobs(tableDir(root, table));
  if (globs.length === 0) return emptyView(table);
  // The `table=` directory level is the view's own name, not a column worth keeping.
  return [
    `(${emptyView(table)})`,
    ...globs.map((glob) => `SELECT * EXCLUDE ("table") FROM read_parquet(${quote(glob)}, hive_partitioning = true, union_by_name = true)`),
  ].join(' UNION ALL BY NAME ');
}

/** `spans`, `events` and `metrics` as views over the archive at `root` (the inspection layer uses them too). */
export async function defineViews(connection: DuckDBConnection, root: string, prefix = ''): Promise<void> {
  for (const table of TABLES) await connection.run(`CREATE VIEW ${prefix}${table} AS ${viewSource(root, table)}`);
}

export interface QueryOptions {
  /** Run the SQL without the sandbox: any number of statements, any file, extensions, settings. */
  unsafe?: boolean;
  /**
   * Read at most this many rows (streamed: a larger result is never held).
   * The result then carries `truncated` when there were more.
   */
  maxRows?: number;
}

/**
 * Runs one SQL statement over the archive at `root`: sandboxed (one read-only
 * statement, no file access outside the archive) unless `unsafe`.
 */
export async function queryArchive(root: string, sql: string, options: QueryOptions = {}): Promise<QueryResult> {
  if (!existsSync(root)) throw new ScopeError('ARCHIVE_NOT_FOUND', `no archive at ${root} (the parquet exporter's path)`);
  const archive = resolve(root);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  // Where DuckDB may spill a large sort or join: private, and removed afterwards.
  const spill = options.unsafe ? undefined : mkdtempSync(join(tmpdir(), 'scope-query-'));
  try {
    await defineViews(connection, archive);
    let reader: DuckDBResultReader;
    if (spill === undefined) {
      reader = await connection.runAndReadAll(sql);
    } else {
      await lockDown(connection, [archive], spill);
      const prepared = await preparedReadOnly(connection, sql);
      try {
        // One row past the cap tells whether the result was cut.
        reader = options.maxRows === undefined ? await prepared.runAndReadAll() : await prepared.streamAndReadUntil(options.maxRows + 1);
      } finally {
        prepared.destroySync();
      }
    }
    const rows = reader.getRowsJson() as Cell[][];
    if (options.maxRows !== undefined && rows.length > options.maxRows) {
      return { columns: reader.columnNames(), rows: rows.slice(0, options.maxRows), truncated: true };
    }
    return { columns: reader.columnNames(), rows };
  } catch (error) {
    throw queryError(error, sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
    if (spill !== undefined) rmSync(spill, { recursive: true, force: true });
  }
}

const cellText = (cell: Cell): string => (cell === null ? '' : typeof cell === 'object' ? JSON.stringify(cell) : String(cell));

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The result as text: an aligned table, one JSON array of row objects, or CSV with a header. */
export function formatResult(result: QueryResult, format: QueryFormat): string {
  if (format === 'json') {
    return JSON.stringify(result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])))) + '\n';
  }
  if (format === 'csv') {
    return [result.columns, ...result.rows.map((row) => row.map(cellText))].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  }
  const cells = result.rows.map((row) => row.map((c) => (c === null ? 'NULL' : cellText(c))));
  const widths = result.columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const fit = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width));
  const line = (r: string[]): string => r.map((t, i) => fit(t, widths[i])).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  const count = `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`;
  return [line(result.columns), rule, ...cells.map(line), count].join('\n') + '\n';
}
