/**
 * A row group encoded in pieces (encode.ts, prepare.ts): the pieces are
 * consecutive columns, or consecutive rows of one large column, that
 * together are the table's; part_file.ts joins them into one row group that
 * DuckDB reads back, row by row; and a group encoded ahead
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
  it('splits a group into pieces of columns, or of one column\'s rows, that part_file joins into one row group DuckDB reads back', async (t) => {
    const defs = tableDefs({ promoted_attributes: { spans: [], events: [], metrics: [] } });
    const columns = defs.events.columns as Column<unknown>[];
    const chunks = await buildChunks(new Router(defs.events, undefined), events(12_000), () => assert.fail('no item is invalid'));
    const encoder = new GroupEncoder(columns, 'zstd');
    // The group starts inside the first chunk: rows 1000 … 11 999.
    const source = { chunks, start: 1000, rows: 11_000 };
    const pieces = encoder.pieces(source);
    assert.ok(pieces.length > 1, `${pieces.length} pieces`);
    // Every column's rows, once, in order: one piece of whole columns, or consecutive pieces of its rows.
    let next = { column: 0, row: 0 };
    for (const piece of pieces) {
      assert.deepEqual({ column: piece.from, row: piece.start }, next, `piece ${JSON.stringify(piece)}`);
      if (piece.rows === source.rows) next = { column: piece.to, row: 0 };
      else {
        assert.equal(piece.to, piece.from + 1, 'a piece cut by rows is one column');
        assert.equal(columns[piece.from].statistics || !columns[piece.from].unique, false, `${columns[piece.from].name}: no dictionary, no statistics`);
        const end = piece.start + piece.rows;
        next = end === source.rows ? { column: piece.to, row: 0 } : { column: piece.from, row: end };
      }
    }
    assert.deepEqual(next, { column: columns.length, row: 0 });
    const cut = new Set(pieces.filter((p) => p.rows < source.rows).map((p) => columns[p.from].name));
    assert.ok(cut.has('beam_message') && cut.has('attributes'), `columns cut by rows: ${[...cut].join(', ')}`);
    // The other columns come several to a piece.
    assert.ok(pieces.some((p) => p.to - p.from > 1));

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
    // Row by row, in order, the joined columns hold what was sent.
    const read = (await c.runAndReadAll(`SELECT id, beam_message, (attributes->>'n')::INTEGER FROM read_parquet('${path}')`)).getRowsJson();
    const sent = events(12_000).slice(1000);
    assert.equal(read.length, sent.length);
    read.forEach(([id, message, n], i) => {
      if (id !== sent[i].id || message !== sent[i].attributes['beam.message'] || n !== i + 1000) assert.fail(`row ${i}: ${JSON.stringify([id, message, n])}`);
    });
    const chunkMeta = (await c.runAndReadAll(
      `SELECT count(DISTINCT row_group_id)::INTEGER, count(*)::INTEGER, min(num_values)::INTEGER, max(num_values)::INTEGER FROM parquet_metadata('${path}')`,
    )).getRowsJson();
    assert.deepEqual(chunkMeta, [[1, columns.length, 11_000, 11_000]], 'one row group, one chunk of every row per column');
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
