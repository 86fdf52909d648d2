/**
 * The daemon's live window in the inspection layer: fetched from the
 * inspector extension as JSON lines, loaded into DuckDB tables built from the
 * archive's own column definitions (archive/tables.ts), and unioned with the
 * archive's views, so every question reads both the same way. An item both
 * in the window and already in a file (or seen by two pipelines) counts once.
 */
import { get as httpGet } from 'node:http';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { tableView } from '../archive/event_keys.js';
import { eventColumns, spanColumns, type Column, type TableName } from '../archive/tables.js';
import { parseJsonLine, type Item } from '../model/jsonl.js';
import type { ScopeEvent, Span } from '../model/types.js';
import { ScopeError } from '../util/errors.js';

/** More than this from one daemon is refused (the window's own default max_size is 256 MiB). */
const MAX_WINDOW_BYTES = 1 << 30;

export interface LiveSource {
  /** The inspector extension's base URL (http://127.0.0.1:4320). */
  url: string;
  token?: string;
}

export async function fetchWindow(source: LiveSource, sinceNs: bigint): Promise<Item[]> {
  let url: URL;
  try {
    url = new URL('/v1/window', source.url);
  } catch {
    throw new ScopeError('QUERY_FAILED', `--daemon "${source.url}" is not a URL: give the inspector extension's endpoint, e.g. http://127.0.0.1:4320`);
  }
  if (url.protocol !== 'http:') throw new ScopeError('QUERY_FAILED', `--daemon "${source.url}": the inspector extension answers plain http:// (on loopback)`);
  url.searchParams.set('since', sinceNs.toString());
  const text = await getText(url, source);
  const items: Item[] = [];
  for (const line of text.split('\n')) if (line.length > 0) items.push(parseJsonLine(line));
  return items;
}

/**
 * GET with node:http rather than fetch (undici alone takes a tenth of a second
 * to load, and `inspect` answers a crash seconds old), the body counted as it
 * arrives and refused past MAX_WINDOW_BYTES (the window streams: no length).
 */
function getText(url: URL, source: LiveSource): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (message: string): void => reject(new ScopeError('QUERY_FAILED', message));
    const request = httpGet(url, { headers: source.token ? { authorization: `Bearer ${source.token}` } : {}, timeout: 30_000 }, (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_WINDOW_BYTES) {
          response.destroy();
          fail(`the live window is larger than ${MAX_WINDOW_BYTES} bytes; narrow it with --since`);
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => fail(`the daemon at ${source.url} broke off its answer (${error.message})`));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (status === 401) fail(`the daemon at ${source.url} wants its inspector token (--token or SCOPE_INSPECTOR_TOKEN)`);
        else if (status !== 200) fail(`the daemon at ${source.url} answered ${status}: ${body.slice(0, 200)}`);
        else resolve(body);
      });
    });
    request.on('timeout', () => request.destroy(new Error('no answer in 30 s')));
    request.on('error', (error: NodeJS.ErrnoException) => {
      fail(`cannot reach the daemon's live window at ${source.url} (${error.code ?? error.message}): is the inspector extension on?`);
    });
  });
}

/** The SQL type a live column is stored as, and how its view reads it back as the archive's type. */
function storage(duckdb: string): { type: string; read: (name: string) => string } | null {
  switch (duckdb) {
    case 'VARCHAR': return { type: 'VARCHAR', read: (n) => n };
    case 'JSON': return { type: 'VARCHAR', read: (n) => `${n}::JSON` };
    case 'TIMESTAMP_NS': return { type: 'BIGINT', read: (n) => `make_timestamp_ns(${n})` };
    case 'BIGINT': case 'INTEGER': case 'DOUBLE': case 'BOOLEAN': return { type: duckdb, read: (n) => n };
    default: return null; // lists of structs (span events, links): not needed to inspect, left out
  }
}

function append(appender: DuckDBAppender, duckdb: string, value: unknown): void {
  if (value === null || value === undefined) return appender.appendNull();
  switch (duckdb) {
    case 'TIMESTAMP_NS': case 'BIGINT': return appender.appendBigInt(BigInt(value as bigint));
    case 'INTEGER': return appender.appendInteger(Number(value));
    case 'DOUBLE': return appender.appendDouble(Number(value));
    case 'BOOLEAN': return appender.appendBoolean(Boolean(value));
    default: return appender.appendVarchar(typeof value === 'string' ? value : JSON.stringify(value));
  }
}

async function loadTable<T>(connection: DuckDBConnection, table: TableName, columns: Column<T>[], items: readonly T[]): Promise<void> {
  const kept = columns.flatMap((c) => {
    const s = storage(c.duckdb);
    return s ? [{ column: c, ...s }] : [];
  });
  const q = (name: string): string => `"${name}"`;
  await connection.run(`CREATE TABLE live_raw_${table} (${kept.map((k) => `${q(k.column.name)} ${k.type}`).join(', ')})`);
  const appender = await connection.createAppender(`live_raw_${table}`);
  for (const item of items) {
    for (const k of kept) append(appender, k.column.duckdb, k.column.value(item));
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  const select = `SELECT ${kept.map((k) => `${k.read(q(k.column.name))} AS ${q(k.column.name)}`).join(', ')} FROM live_raw_${table}`;
  await connection.run(`CREATE VIEW live_${table} AS ${tableView(table, select)}`);
}

/**
 * Replaces the `events` and `spans` views (defined over the archive as
 * `archive_events`, `archive_spans`) with archive ∪ window, one row per id.
 */
export async function addLiveWindow(connection: DuckDBConnection, items: readonly Item[]): Promise<void> {
  const events = items.flatMap((i) => (i.kind === 'event' ? [i.item] : [])) as ScopeEvent[];
  const spans = items.flatMap((i) => (i.kind === 'span' ? [i.item] : [])) as Span[];
  await loadTable(connection, 'events', eventColumns(), events);
  await loadTable(connection, 'spans', spanColumns(), spans);
  await connection.run(`CREATE VIEW events AS SELECT * FROM (SELECT * FROM archive_events UNION ALL BY NAME SELECT * FROM live_events) QUALIFY row_number() OVER (PARTITION BY id) = 1`);
  await connection.run(`CREATE VIEW spans AS SELECT * FROM (SELECT * FROM archive_spans UNION ALL BY NAME SELECT * FROM live_spans) QUALIFY row_number() OVER (PARTITION BY trace_id, span_id) = 1`);
}
