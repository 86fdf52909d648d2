/**
 * A row group encoded in pieces (encode.ts, prepare.ts): the pieces are
 * consecutive columns, or consecutive rows of one large column, that
 * together are the table's; part_file.ts joins them into one row group that
 * DuckDB reads back, row by row; and a group encoded ahead
 * is used only for exactly the group it was made for.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { buildChunks, Router, tableDefs } from '../../src/exporters/parquet/router.js';
import { GroupEncoder, type Piece } from '../../src/exporters/parquet/encode.js';
import { PartFile, rawSchema } from '../../src/exporters/parquet/part_file.js';
import { preparedFor } from '../../src/exporters/parquet/prepare.js';
import { parquetSchema, type Column } from '../../src/archive/tables.js';
import type { ScopeEvent, Span } from '../../src/model/types.js';
import { tempDir } from '../helpers.js';

const events = (n: number): ScopeEvent[] => Array.from({ length: n }, (_, i) => ({
  id: `e${i}`, type: 'message.send', schemaVersion: 1, time: 1_764_000_000_000_000_000n + BigInt(i),
  source: { node: 'a@h', component: 'test' }, pid: `<0.${i % 50}.0>`,
  // beam.message is held in its column alone; beam.args keeps the attributes document large enough to cut.
  attributes: { 'beam.message': `{'$gen_call',{<0.${i}.0>,#Ref<0.1.2.${i}>},{add,<<"${'x'.repeat(150)}-${i}">>}}`, 'beam.args': `[${'a'.repeat(150)},${i}]`, n: i },
}));

/** Spans with an events list (a LIST of STRUCTs: three leaf columns) on every third, large enough to be cut by rows. */
const spans = (n: number): Span[] => Array.from({ length: n }, (_, i) => ({
  traceId: i.toString(16).padStart(32, '0'), spanId: (i + 1).toString(16).padStart(16, '0'), name: 'GET /users/:id', spanKind: 'server',
  startTimeUnixNano: 1_764_000_000_000_000_000n + BigInt(i), endTimeUnixNano: 1_764_000_000_000_001_000n + BigInt(i),
  attributes: { 'http.route': '/users/:id', n: i },
  events: i % 3 === 0 ? [{ name: `exception ${i}`, timeUnixNano: 1_764_000_000_000_000_500n + BigInt(i), attributes: { 'exception.message': `${'y'.repeat(200)} ${i}` } }] : [],
  links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop' },
}));

type Source = Parameters<GroupEncoder['pieces']>[0];

/** The group encoded in pieces and joined by part_file into a file of its own, and a DuckDB connection to read it. */
async function writtenGroup(t: TestContext, columns: Column<unknown>[], encoder: GroupEncoder, source: Source): Promise<{ path: string; c: DuckDBConnection }> {
  const dir = tempDir(t);
  const schema = parquetSchema(columns);
  const file = new PartFile(dir, { write: schema, footer: schema, raw: rawSchema(schema), noStatistics: new Set() }, {});
  file.appendEncoded(encoder.encode(source), source.rows);
  const path = file.complete(join(dir, 'out'));
  const db = await DuckDBInstance.create(':memory:');
  t.after(() => db.closeSync());
  return { path, c: await db.connect() };
}

/** The names of the columns some piece has only part of the rows of. */
const cutByRows = (pieces: Piece[], columns: Column<unknown>[], rows: number): Set<string> =>
  new Set(pieces.filter((p) => p.rows < rows).map((p) => columns[p.from].name));

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
    const cut = cutByRows(pieces, columns, source.rows);
    assert.ok(cut.has('beam_message') && cut.has('attributes'), `columns cut by rows: ${[...cut].join(', ')}`);
    // The other columns come several to a piece.
    assert.ok(pieces.some((p) => p.to - p.from > 1));

    const { path, c } = await writtenGroup(t, columns, encoder, source);
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

  it('cuts large leaf columns of spans by rows but never a list column (its leaves would interleave), read back list by list', async (t) => {
    const defs = tableDefs({ promoted_attributes: { spans: [], events: [], metrics: [] } });
    const columns = defs.spans.columns as Column<unknown>[];
    const chunks = await buildChunks(new Router(defs.spans, undefined), spans(24_000), () => assert.fail('no item is invalid'));
    const encoder = new GroupEncoder(columns, 'zstd');
    const source = { chunks, start: 0, rows: 24_000 };
    const pieces = encoder.pieces(source);
    const cut = cutByRows(pieces, columns, source.rows);
    assert.ok(cut.has('attributes'), `columns cut by rows: ${[...cut].join(', ')}`);
    // The events lists are big enough to be cut (~1.7 MB of text), and are not.
    const events = columns.findIndex((c) => c.name === 'events');
    assert.ok(pieces.some((p) => p.from <= events && p.to > events && p.rows === source.rows));

    const { path, c } = await writtenGroup(t, columns, encoder, source);
    const read = (await c.runAndReadAll(
      `SELECT span_id, len(events)::INTEGER, events[1].name, events[1].attributes->>'exception.message', epoch_ns(events[1].time)::VARCHAR FROM read_parquet('${path}')`,
    )).getRowsJson();
    const sent = spans(24_000);
    assert.equal(read.length, sent.length);
    read.forEach(([spanId, length, name, message, time], i) => {
      const event = sent[i].events[0];
      const expected = [sent[i].spanId, event ? 1 : 0, event?.name ?? null, event ? event.attributes['exception.message'] : null, event ? String(event.timeUnixNano) : null];
      if (JSON.stringify([spanId, length, name, message, time]) !== JSON.stringify(expected)) assert.fail(`row ${i}: ${JSON.stringify([spanId, length, name, message, time])}`);
    });
    const leaves = (await c.runAndReadAll(
      `SELECT path_in_schema, num_values::INTEGER FROM parquet_metadata('${path}') WHERE path_in_schema LIKE 'events%' ORDER BY column_id`,
    )).getRowsJson();
    assert.equal(leaves.length, 3, JSON.stringify(leaves));
    // A list's leaves count one value per element, and one (null) per empty list.
    for (const [, values] of leaves) assert.equal(values, 24_000);
  });
});
