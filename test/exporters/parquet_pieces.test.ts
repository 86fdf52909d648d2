/**
 * A row group encoded in pieces (encode.ts, prepare.ts): the pieces are
 * consecutive columns that together are the table's; part_file.ts joins
 * them into one row group that DuckDB reads back; and a group encoded ahead
 * is used only for exactly the group it was made for.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { buildChunks, Router, tableDefs } from '../../src/exporters/parquet/router.js';
import { GroupEncoder } from '../../src/exporters/parquet/encode.js';
import { PartFile, rawSchema } from '../../src/exporters/parquet/part_file.js';
import { preparedFor } from '../../src/exporters/parquet/prepare.js';
import { parquetSchema, type Column } from '../../src/archive/tables.js';
import type { ScopeEvent } from '../../src/model/types.js';
import { tempDir } from '../helpers.js';

const events = (n: number): ScopeEvent[] => Array.from({ length: n }, (_, i) => ({
  id: `e${i}`, type: 'message.send', schemaVersion: 1, time: 1_764_000_000_000_000_000n + BigInt(i),
  source: { node: 'a@h', component: 'test' }, pid: `<0.${i % 50}.0>`,
  attributes: { 'beam.message': `{'$gen_call',{<0.${i}.0>,#Ref<0.1.2.${i}>},{add,<<"${'x'.repeat(150)}-${i}">>}}`, n: i },
}));

describe('parquet exporter: row groups in pieces', () => {
  it('splits a group into consecutive column pieces that part_file joins into one row group DuckDB reads back', async (t) => {
    const defs = tableDefs({ promoted_attributes: { spans: [], events: [], metrics: [] } });
    const columns = defs.events.columns as Column<unknown>[];
    const chunks = await buildChunks(new Router(defs.events, undefined), events(12_000), () => assert.fail('no item is invalid'));
    const encoder = new GroupEncoder(columns, 'zstd');
    // The group starts inside the first chunk: rows 1000 … 11 999.
    const source = { chunks, start: 1000, rows: 11_000 };
    const pieces = encoder.pieces(source);
    assert.ok(pieces.length > 1, `${pieces.length} pieces`);
    assert.equal(pieces[0][0], 0);
    assert.equal(pieces.at(-1)?.[1], columns.length);
    for (let k = 1; k < pieces.length; k++) assert.equal(pieces[k][0], pieces[k - 1][1], 'consecutive');

    const dir = tempDir(t);
    const schema = parquetSchema(columns);
    const file = new PartFile(dir, { write: schema, footer: schema, raw: rawSchema(schema), noStatistics: new Set() }, {});
    file.appendEncoded(encoder.encode(source), source.rows);
    const path = file.complete(join(dir, 'out'));
    const db = await DuckDBInstance.create(':memory:');
    t.after(() => db.closeSync());
    const c = await db.connect();
    const rows = (await c.runAndReadAll(
      `SELECT count(*)::INTEGER, min(id), max((attributes->>'n')::INTEGER), count(DISTINCT pid)::INTEGER FROM read_parquet('${path}')`,
    )).getRowsJson();
    assert.deepEqual(rows, [[11_000, 'e1000', 11_999, 50]]);
    const groups = (await c.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INTEGER FROM parquet_metadata('${path}')`)).getRowsJson();
    assert.deepEqual(groups, [[1]], 'one row group');
  });

  it('uses a group encoded ahead only for the group it was made for', () => {
    const [a, b] = [{}, {}] as unknown as Parameters<typeof preparedFor>[1][];
    const prepared = { first: a!, start: 10, rows: 100, pieces: [] };
    assert.equal(preparedFor(prepared, a, 10, 100), true);
    assert.equal(preparedFor(prepared, b, 10, 100), false, 'another first chunk');
    assert.equal(preparedFor(prepared, a, 20, 100), false, 'another start');
    assert.equal(preparedFor(prepared, a, 10, 90), false, 'another size (the file nearly full)');
    assert.equal(preparedFor(undefined, a, 10, 100), false);
  });
});
