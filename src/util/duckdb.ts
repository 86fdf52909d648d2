/**
 * @duckdb/node-api, loaded with require(): the package is CommonJS, and
 * importing it as ESM makes Node scan every one of its files for named
 * exports first — a further 0.1–0.2 s before `inspect` can answer. Values
 * come from here; types from the package itself (`import type`).
 */
import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';

const duckdb = createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDB;

export const DuckDBInstance: typeof DuckDB.DuckDBInstance = duckdb.DuckDBInstance;
export const listValue: typeof DuckDB.listValue = duckdb.listValue;
export const StatementType: typeof DuckDB.StatementType = duckdb.StatementType;
