/**
 * The inspection layer's access to an archive: DuckDB over the archive's
 * views, locked down as `query` is (no file access outside the archive, no
 * writes), and every question asked as a prepared statement with bound
 * parameters, so a pid or a node name is never SQL.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DuckDBConnection, DuckDBInstance as Instance, DuckDBValue } from '@duckdb/node-api';
import { DuckDBInstance } from '../util/duckdb.js';
import { ScopeError } from '../util/errors.js';
import { defineViews } from '../archive/query.js';
import { lockDown, queryError } from '../archive/sandbox.js';
import type { Cell } from '../archive/query.js';
import type { Item } from '../model/jsonl.js';
import { addLiveWindow } from './live.js';

export type Row = Record<string, Cell>;

export class ArchiveReader {
  private constructor(
    private readonly instance: Instance,
    private readonly connection: DuckDBConnection,
    private readonly spill: string,
    readonly root: string,
  ) {}

  /**
   * `live`: the daemon's live window (items fetched from its inspector
   * extension), read together with the archive; the archive may then not
   * exist yet (nothing rolled).
   */
  static async open(root: string, live?: readonly Item[]): Promise<ArchiveReader> {
    if (!existsSync(root) && !live) throw new ScopeError('ARCHIVE_NOT_FOUND', `no archive at ${root} (the parquet exporter's path; --archive DIR)`);
    const archive = resolve(root);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const spill = mkdtempSync(join(tmpdir(), 'scope-inspect-'));
    try {
      if (live) {
        await defineViews(connection, archive, 'archive_');
        await connection.run('CREATE VIEW metrics AS SELECT * FROM archive_metrics');
        await addLiveWindow(connection, live);
      } else {
        await defineViews(connection, archive);
      }
      await lockDown(connection, existsSync(archive) ? [archive] : [], spill);
    } catch (error) {
      connection.closeSync();
      instance.closeSync();
      rmSync(spill, { recursive: true, force: true });
      throw queryError(error);
    }
    return new ArchiveReader(instance, connection, spill, archive);
  }

  /** Runs one of the layer's own statements with `$1…` bound to `params`; rows as objects by column name. */
  async rows(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    try {
      const prepared = await this.connection.prepare(sql);
      try {
        if (params.length > 0) prepared.bind(params);
        const reader = await prepared.runAndReadAll();
        const names = reader.columnNames();
        return (reader.getRowsJson() as Cell[][]).map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
      } finally {
        prepared.destroySync();
      }
    } catch (error) {
      throw queryError(error, sql);
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
    rmSync(this.spill, { recursive: true, force: true });
  }
}
