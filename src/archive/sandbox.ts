/**
 * The sandbox `scope-pipeline query` runs SQL in (unless --unsafe): one
 * read-only statement over the archive's views, no file access outside the
 * archive, no extensions, no settings changes.
 *
 * Two layers, both DuckDB's own:
 *
 * - Settings (lockDown): `allowed_directories` = the archive (the views read
 *   its files when a query runs, not when they are created) and a private
 *   spill directory, then `enable_external_access = false` (no other local
 *   file, no http/s3, no ATTACH of a file, no INSTALL/LOAD of an extension),
 *   no extension autoloading, and `lock_configuration = true` (no SET/RESET,
 *   PRAGMA setting or RESET can undo any of it).
 * - The statement (preparedReadOnly): DuckDB's parser must find exactly one
 *   statement (extract_statements), and that statement must be a query:
 *   `json_serialize_sql` serialises SELECT statements only (SELECT, WITH, FROM,
 *   VALUES, TABLE, SHOW, DESCRIBE, SUMMARIZE and PIVOT with an IN list are
 *   SELECTs in DuckDB's parse tree; PRAGMA, CALL, COPY, ATTACH, SET, INSTALL,
 *   CREATE… are not), and its prepared type must be SELECT. `EXPLAIN [ANALYZE]`
 *   is allowed when what follows the keywords is such a query on its own and
 *   the whole statement prepares as EXPLAIN. A statement that is refused is
 *   never prepared or run.
 *
 * The statement check matters because allowed_directories lets DuckDB write
 * inside the archive too (COPY … TO, ATTACH, EXPORT DATABASE would): only
 * queries reach the engine, and queries do not write.
 */
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import { StatementType } from '../util/duckdb.js';
import { ScopeError } from '../util/errors.js';

/** The statement kinds the sandbox runs, for messages. */
export const READ_ONLY_STATEMENTS = 'SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, and EXPLAIN [ANALYZE] of one of those';

const sqlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/**
 * Restricts the connection's database for good: only files under
 * `directories` can be opened, nothing can be installed, loaded or
 * reconfigured. Call after the views are created.
 */
export async function lockDown(connection: DuckDBConnection, directories: readonly string[], spillDirectory: string): Promise<void> {
  // Directories end with "/" so that /data/archive does not also allow /data/archive-old.
  const dirs = directories.map((d) => sqlString(d.endsWith('/') ? d : `${d}/`));
  await connection.run(`SET allowed_directories = [${dirs.join(', ')}]`);
  await connection.run(`SET temp_directory = ${sqlString(spillDirectory)}`);
  await connection.run('SET enable_external_access = false');
  await connection.run('SET autoinstall_known_extensions = false');
  await connection.run('SET autoload_known_extensions = false');
  await connection.run('SET lock_configuration = true');
}

function refused(message: string): ScopeError {
  return new ScopeError('QUERY_FAILED', `query: ${message}`);
}

/** The first word of the statement (after whitespace and comments), for messages only. */
function firstWord(sql: string): string | undefined {
  return /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*([A-Za-z_]+)/.exec(sql)?.[1].toUpperCase();
}

interface Parsed {
  /** Every statement is a SELECT statement (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE…). */
  selects: boolean;
  /** How many statements, when they are all SELECTs. */
  count: number;
  /** The parser refused the text (a syntax error). */
  syntaxError: boolean;
}

/** DuckDB's parser alone on `text` (json_serialize_sql: no binding, no PRAGMA handling, nothing run). */
async function parse(connection: DuckDBConnection, text: string): Promise<Parsed> {
  const statement = await connection.prepare('SELECT json_serialize_sql($1::VARCHAR)');
  try {
    statement.bindVarchar(1, text);
    const reader = await statement.runAndReadAll();
    const parsed = JSON.parse(String(reader.getRows()[0][0])) as { error: boolean; error_type?: string; statements?: unknown[] };
    return { selects: parsed.error === false, count: parsed.statements?.length ?? 0, syntaxError: parsed.error_type === 'parser' };
  } finally {
    statement.destroySync();
  }
}

const EXPLAIN = /^\s*explain(?:\s+analy[sz]e)?\s+/i;

const notReadOnly = (found: string): ScopeError =>
  refused(`only one read-only statement is allowed (found ${found}; allowed: ${READ_ONLY_STATEMENTS}); use --unsafe`);

/**
 * Checks that `sql` is exactly one read-only statement and prepares it, on a
 * connection that lockDown() restricted. Throws ScopeError QUERY_FAILED with
 * the message the command prints (`query: …` for a refusal).
 */
export async function preparedReadOnly(connection: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  const whole = await parse(connection, sql);
  let explain: RegExpExecArray | null = null;
  if (whole.selects) {
    if (whole.count === 0) throw refused('no SQL statement given');
    if (whole.count !== 1) throw refused(`only one read-only statement is allowed (found ${whole.count})`);
  } else {
    // Not only SELECTs. extract_statements counts them (it also runs PRAGMA handlers, which is why
    // this happens in the locked-down sandbox and only to report what was refused).
    let count: number | undefined;
    try {
      count = (await connection.extractStatements(sql)).count;
    } catch (error) {
      if (whole.syntaxError) throw new ScopeError('QUERY_FAILED', duckdbMessage(error).replace(/^Failed to extract statements: /, ''));
    }
    if (count !== undefined && count !== 1) throw refused(`only one read-only statement is allowed (found ${count})`);
    // EXPLAIN is not a SELECT to the parser: check the query it explains instead. The keywords are
    // matched with whitespace only between them; anything else (comments, options) is refused.
    explain = EXPLAIN.exec(sql);
    const query = explain ? sql.slice(explain[0].length) : sql;
    const inner = explain ? await parse(connection, query) : whole;
    if (!explain || !inner.selects || inner.count !== 1) {
      // Without a count (a PRAGMA handler failed in the sandbox), the first word may not be the culprit.
      const word = count === undefined ? undefined : explain ? `EXPLAIN ${firstWord(query) ?? query.trim().slice(0, 20)}` : firstWord(sql);
      throw notReadOnly(word ?? 'a statement that is not a query');
    }
  }
  let prepared: DuckDBPreparedStatement;
  try {
    const extracted = await connection.extractStatements(sql);
    if (extracted.count !== 1) throw refused(`only one read-only statement is allowed (found ${extracted.count})`);
    prepared = await extracted.prepare(0);
  } catch (error) {
    throw queryError(error, sql);
  }
  const expected = explain ? StatementType.EXPLAIN : StatementType.SELECT;
  if (prepared.statementType !== expected) {
    prepared.destroySync();
    throw notReadOnly(StatementType[prepared.statementType] ?? firstWord(sql) ?? 'another statement');
  }
  return prepared;
}

function duckdbMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The call a DuckDB error points at (`read_csv('/etc/passwd')`): the `LINE n: …`
 * context and its caret give the position, the call is read from `sql`
 * itself (DuckDB shortens long context lines). Undefined when it cannot tell.
 */
function pointedCall(message: string, sql: string): string | undefined {
  const m = /\nLINE (\d+): (.*)\n( *)\^/.exec(message);
  if (!m || m[2].startsWith('...')) return undefined;
  const line = sql.split('\n')[Number(m[1]) - 1] ?? '';
  const rest = line.slice(Math.max(0, m[3].length - `LINE ${m[1]}: `.length));
  const name = /^[A-Za-z_][A-Za-z0-9_.]*\s*\(/.exec(rest);
  if (!name) return undefined;
  let depth = 0;
  let quote: string | null = null;
  for (let i = name[0].length - 1; i < rest.length; i++) {
    const c = rest[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && --depth === 0) {
      return rest.slice(0, i + 1);
    }
  }
  return undefined;
}

/** A DuckDB error as the command reports it: file access refused by the sandbox gets its own message. */
export function queryError(error: unknown, sql = ''): ScopeError {
  if (error instanceof ScopeError) return error;
  const message = duckdbMessage(error);
  const access = /^Permission Error: Cannot access (?:file|directory) "([^"]*)"/.exec(message);
  if (access) {
    return refused(`file access outside the archive is disabled (${pointedCall(message, sql) ?? access[1]}); use --unsafe`);
  }
  if (/^Permission Error: /.test(message)) return refused(`${message.split('\n')[0].replace(/^Permission Error: /, '')}; use --unsafe`);
  return new ScopeError('QUERY_FAILED', message);
}
