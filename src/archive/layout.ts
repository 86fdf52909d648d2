/**
 * Where things live in an archive directory:
 *
 *   <root>/table=spans/date=2026-11-24/hour=09[/beam_node=app@host]/part-<uuid>.parquet
 *   <root>/_tmp/<uuid>.parquet.tmp      files being written (renamed into place when complete)
 *
 * Hive-style `key=value` directories, so DuckDB, Spark, Trino and Athena see
 * `date`, `hour` (and the optional key) as columns. Readers skip `_`-prefixed
 * directories, and globs for `*.parquet` never match a temporary file.
 */
import { join } from 'node:path';
import type { TableName } from './tables.js';

export const TEMP_DIR = '_tmp';
export const TEMP_SUFFIX = '.parquet.tmp';
/** Hive's name for a partition whose value is missing. */
export const DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__';

const NS_PER_HOUR = 3_600_000_000_000n;

/** The hour (since the epoch, UTC) a time in Unix nanoseconds falls in. */
export function hourIndex(timeUnixNano: bigint): number {
  return Number(timeUnixNano / NS_PER_HOUR) - (timeUnixNano < 0n && timeUnixNano % NS_PER_HOUR !== 0n ? 1 : 0);
}

/** `date=2026-11-24/hour=09` for an hour index. */
export function hourPartition(hour: number): string {
  const iso = new Date(hour * 3_600_000).toISOString();
  return `date=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/** A partition value made safe as one path segment, Hive-style (%XX for anything else). */
export function escapePartitionValue(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return DEFAULT_PARTITION;
  return value.replace(/[^A-Za-z0-9@._+-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function tableDir(root: string, table: TableName): string {
  return join(root, `table=${table}`);
}

export function tempDir(root: string): string {
  return join(root, TEMP_DIR);
}

/** The DuckDB glob over every complete file of a table. */
export function tableGlob(root: string, table: TableName): string {
  return join(tableDir(root, table), '**', '*.parquet');
}

/** The end (exclusive, Unix ms) of the hour a `date=…/hour=…` pair names, or undefined if it names none. */
export function hourPartitionEndMs(date: string, hour: string): number | undefined {
  const d = /^date=(\d{4}-\d{2}-\d{2})$/.exec(date);
  const h = /^hour=(\d{2})$/.exec(hour);
  if (!d || !h) return undefined;
  const start = Date.parse(`${d[1]}T${h[1]}:00:00Z`);
  return Number.isNaN(start) ? undefined : start + 3_600_000;
}
