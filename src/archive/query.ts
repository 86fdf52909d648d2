/**
 * SQL over an archive with DuckDB: `spans`, `events` and `metrics` are views
 * over their tables' partition globs (with `date`, `hour` and any extra
 * partition key as columns). A table without files yet is an empty view of
 * the right columns, so queries work on a fresh archive too.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ScopeError } from '../util/errors.js';
import { tableDir, tableGlob } from './layout.js';
import { emptySelect, eventColumns, metricColumns, spanColumns, TABLES, type TableName } from './tables.js';

export type QueryFormat = 'table' | 'json' | 'csv';

/** A JSON-safe cell: DuckDB's JSON rendering (BIGINT and timestamps as strings, lists and structs as JSON). */
export type Cell = string | number | boolean | null | Cell[] | { [key: string]: Cell };

export interface QueryResult {
  columns: string[];
  rows: Cell[][];
}

function hasParquet(dir: string): boolean {
  if (!existsSync(dir)) return false;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.parquet')) return true;
    if (entry.isDirectory() && hasParquet(join(dir, entry.name))) return true;
  }
  return false;
}

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;

function emptyView(table: TableName): string {
  const columns = table === 'spans' ? spanColumns() : table === 'events' ? eventColumns() : metricColumns();
  return emptySelect<unknown>(columns as never);
}

async function defineViews(connection: DuckDBConnection, root: string): Promise<void> {
  for (const table of TABLES) {
    const source = hasParquet(tableDir(root, table))
      // The `table=` directory level is the view's own name, not a column worth keeping.
      ? `SELECT * EXCLUDE ("table") FROM read_parquet(${quote(tableGlob(root, table))}, hive_partitioning = true, union_by_name = true)`
      : emptyView(table);
    await connection.run(`CREATE VIEW ${table} AS ${source}`);
  }
}

/** Runs one SQL statement over the archive at `root`. */
export async function queryArchive(root: string, sql: string): Promise<QueryResult> {
  if (!existsSync(root)) throw new ScopeError('ARCHIVE_NOT_FOUND', `no archive at ${root} (the parquet exporter's path)`);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await defineViews(connection, root);
    const reader = await connection.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowsJson() as Cell[][] };
  } catch (error) {
    if (error instanceof ScopeError) throw error;
    throw new ScopeError('QUERY_FAILED', error instanceof Error ? error.message : String(error));
  } finally {
    connection.closeSync();
    instance.closeSync();
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
