/**
 * The events table's `beam_*` columns (EVENT_KEY_COLUMNS in archive/tables.ts):
 * written by the parquet exporter in a real daemon (jsonl → correlation →
 * parquet), read through `query` without JSON operators, and read as NULL
 * from a file written before they existed (a fixture the exporter wrote then:
 * fixtures/events-before-beam-columns.parquet, schema version 1, with the old
 * default `attr_beam_mfa` column). Also holds the README's warning about
 * DuckDB's `->>` precedence to this DuckDB.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EVENT_KEY_COLUMNS, keyColumnName } from '../../src/archive/event_keys.js';
import { queryArchive, type Cell } from '../../src/archive/query.js';
import { CLI, ROOT, promValue, startDaemon, until } from '../helpers.js';

const FIXTURE = join(ROOT, 'test/exporters/fixtures/events-before-beam-columns.parquet');
const DEMO = join(ROOT, 'examples/demo-capture.jsonl');
const COLUMNS = EVENT_KEY_COLUMNS.map((c) => keyColumnName(c.key));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const T = 1_764_000_001_000_000_000n;

/** A gen_server call, its reply and a cast as beam_trace_port writes them (message structure: kind and tag). */
const STRUCTURED = [
  { id: 'gs-1', type: 'message.send', pid: '<0.80.0>', attributes: { 'beam.peer_pid': '<0.95.0>', 'beam.message': "{'$gen_call',{<0.80.0>,#Ref<0.9.9.1>},total}", 'beam.message.kind': 'call', 'beam.call.tag': '#Ref<0.9.9.1>', 'beam.call.from': '<0.80.0>', 'beam.request': 'total' } },
  { id: 'gs-2', type: 'message.receive', pid: '<0.95.0>', attributes: { 'beam.message': "{'$gen_call',{<0.80.0>,#Ref<0.9.9.1>},total}", 'beam.message.kind': 'call', 'beam.call.tag': '#Ref<0.9.9.1>', 'beam.call.from': '<0.80.0>', 'beam.request': 'total' } },
  { id: 'gs-3', type: 'message.send', pid: '<0.95.0>', attributes: { 'beam.peer_pid': '<0.80.0>', 'beam.message': '{#Ref<0.9.9.1>,3998}', 'beam.message.kind': 'reply', 'beam.call.tag': '#Ref<0.9.9.1>', 'beam.reply': '3998' } },
  { id: 'gs-4', type: 'message.send', pid: '<0.80.0>', attributes: { 'beam.peer_pid': '<0.95.0>', 'beam.message': "{'$gen_cast',clear}", 'beam.message.kind': 'cast', 'beam.request': 'clear' } },
];
/**
 * Documents at the edges of storing a key in its column alone: a key column's
 * key with a value that is no string (kept in the document), JSON nulls, text
 * that needs escapes, a key named __proto__, every key in columns, none at all.
 */
const EDGES = [
  { id: 'edge-1', type: 'custom.edge', pid: '<0.81.0>', attributes: { 'beam.mfa': 42, 'beam.peer_pid': ['<0.1.0>', null], 'beam.reason': null, 'beam.message': 'say "hi"\n\u00e9 \u{1F600} \\', nested: { a: null, b: [1, null, { c: null }] }, ['__proto__']: 'a key' } },
  { id: 'edge-2', type: 'process.register', pid: '<0.82.0>', attributes: { 'beam.registered_name': 'cart_sup', 'beam.initial_call': 'supervisor:init/1' } },
  { id: 'edge-3', type: 'custom.edge', pid: '<0.83.0>', attributes: {} },
];
const WRITTEN = [...STRUCTURED, ...EDGES];
const LINES = WRITTEN.map((e, i) => JSON.stringify({
  kind: 'event', schemaVersion: 1, time: String(T + BigInt(i) * 1000n), source: { node: 'shop@localhost', component: 'beam_trace_port' }, ...e,
}));

function cli(archive: string, sql: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'query', '--archive', archive, '--format', 'csv', sql], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const rows = async (archive: string, sql: string): Promise<Cell[][]> => (await queryArchive(archive, sql)).rows;

describe('events: the hot attribute keys as columns', () => {
  const work = mkdtempSync(join(tmpdir(), 'scope-columns-'));
  /** The daemon's files (partitioned by node) and the old file (no partition key): two layouts, two column sets. */
  const archive = join(work, 'archive');
  /** Only the old file. */
  const oldOnly = join(work, 'old');
  const demoEvents = readFileSync(DEMO, 'utf8').split('\n').filter((l) => l.includes('"kind":"event"')).length;

  before(async () => {
    const input = join(work, 'in.jsonl');
    writeFileSync(input, readFileSync(DEMO, 'utf8').trimEnd() + '\n' + LINES.join('\n') + '\n');
    const config = join(work, 'p.yaml');
    writeFileSync(config, `
receivers: { jsonl: { path: ${input} } }
processors: { correlation: {} }
exporters: { parquet: { path: ${archive}, partition_by: [beam_node], retention: { spans: 0, events: 0, metrics: 0 } } }
service:
  pipelines: { p: { receivers: [jsonl], processors: [correlation], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const daemon = startDaemon(['--config', config]);
    try {
      const metrics = await daemon.metricsUrl();
      await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_receiver_accepted_items_total') >= demoEvents + WRITTEN.length, 10_000, 'the input read');
      daemon.child.kill('SIGTERM');
      assert.equal((await daemon.exited()).code, 0, daemon.stderr());
    } finally {
      daemon.child.kill('SIGKILL');
    }
    for (const root of [archive, oldOnly]) {
      const dir = join(root, 'table=events/date=2025-11-24/hour=16');
      mkdirSync(dir, { recursive: true });
      copyFileSync(FIXTURE, join(dir, 'part-00000000-0000-0000-0000-000000000000.parquet'));
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('the fixture is a file from before: schema version 1, none of the columns, attr_beam_mfa', async () => {
    const db = await DuckDBInstance.create(':memory:');
    try {
      const c = await db.connect();
      const names = (await c.runAndReadAll(`SELECT name FROM parquet_schema('${FIXTURE}')`)).getRowsJson().map((r) => String(r[0]));
      assert.ok(names.includes('attr_beam_mfa') && names.includes('attributes'), names.join(' '));
      assert.deepEqual(names.filter((n) => COLUMNS.includes(n)), []);
      const version = (await c.runAndReadAll(`SELECT decode(value) FROM parquet_kv_metadata('${FIXTURE}') WHERE decode(key) = 'scope.archive.schema_version'`)).getRowsJson();
      assert.deepEqual(version, [['1']]);
    } finally {
      db.closeSync();
    }
  });

  it('every beam_* column holds its attribute as text, for every event the exporter wrote', async () => {
    const [[total, ...nonNull]] = await rows(archive, `SELECT count(*), ${COLUMNS.map((c) => `count(${c})`).join(', ')} FROM events WHERE id NOT LIKE 'old-%'`);
    assert.equal(Number(total), demoEvents + WRITTEN.length + 1, 'the capture, the structured events and one process.crash');
    COLUMNS.forEach((c, i) => assert.ok(Number(nonNull[i]) > 0, `${c} holds values`));
    const mismatch = EVENT_KEY_COLUMNS.map(({ key }) => `${keyColumnName(key)} IS DISTINCT FROM json_extract_string(attributes, '$."${key}"')`).join(' OR ');
    assert.deepEqual(await rows(archive, `SELECT id FROM events WHERE id NOT LIKE 'old-%' AND (${mismatch})`), []);
  });

  it('stores a string under a column\'s key once, in its column, and the views give back every document whole', async () => {
    const db = await DuckDBInstance.create(':memory:');
    try {
      const c = await db.connect();
      const stored = new Map((await c.runAndReadAll(`SELECT id, attributes::VARCHAR, attributes_in_columns FROM read_parquet('${archive}/table=events/**/*.parquet', union_by_name = true) WHERE id LIKE 'gs-%' OR id LIKE 'edge-%'`))
        .getRowsJson().map((r) => [String(r[0]), { doc: JSON.parse(String(r[1])) as Record<string, unknown>, bits: Number(r[2]) }]));
      const bit = (key: string): number => 1 << EVENT_KEY_COLUMNS.findIndex((k) => k.key === key);
      assert.deepEqual(stored.get('gs-1'), { doc: { 'beam.call.from': '<0.80.0>', 'beam.request': 'total' }, bits: bit('beam.peer_pid') | bit('beam.message') | bit('beam.message.kind') | bit('beam.call.tag') });
      assert.deepEqual(stored.get('edge-1')?.bits, bit('beam.message'));
      assert.deepEqual(Object.keys(stored.get('edge-1')?.doc ?? {}).sort(), ['__proto__', 'beam.mfa', 'beam.peer_pid', 'beam.reason', 'nested']);
      assert.deepEqual(stored.get('edge-2'), { doc: {}, bits: bit('beam.registered_name') | bit('beam.initial_call') });
      assert.deepEqual(stored.get('edge-3'), { doc: {}, bits: 0 });
    } finally {
      db.closeSync();
    }
    const read = new Map((await rows(archive, `SELECT id, attributes::VARCHAR FROM events WHERE id LIKE 'gs-%' OR id LIKE 'edge-%'`)).map((r) => [String(r[0]), JSON.parse(String(r[1])) as unknown]));
    assert.equal(read.size, WRITTEN.length);
    for (const e of WRITTEN) assert.deepEqual(read.get(e.id), JSON.parse(JSON.stringify(e.attributes)), e.id);
    assert.equal(Object.hasOwn(read.get('edge-1') as object, '__proto__'), true, 'a key named __proto__ is a key');
    const described = (await rows(archive, 'DESCRIBE events')).map((r) => [r[0], r[1]]);
    assert.deepEqual(described.filter(([name]) => String(name).startsWith('attributes')), [['attributes', 'JSON']], 'attributes_in_columns is the files\' business');
  });

  it('answers the usual questions with no JSON operator', async () => {
    // The README's example, verbatim through the query command.
    const example = /Who sent to the process registered as `cart_42`, and how often:\n\n```sql\n([^]*?)```/.exec(README)?.[1];
    assert.ok(example, 'the README has the example');
    const readme = cli(archive, example);
    assert.equal(readme.code, 0, readme.stderr);
    assert.equal(readme.stdout, 'pid,sent\n<0.80.0>,4\n');

    // Each call with the reply that answered it, by tag.
    assert.deepEqual(await rows(archive, `
      SELECT c.pid, c.beam_peer_pid, r.beam_message FROM events c
      JOIN events r ON r.beam_call_tag = c.beam_call_tag AND r.type = 'message.send' AND r.beam_message_kind = 'reply'
      WHERE c.type = 'message.send' AND c.beam_message_kind = 'call'`), [['<0.80.0>', '<0.95.0>', '{#Ref<0.9.9.1>,3998}']]);

    // The crash: who (by name and by what it was started as) and why.
    assert.deepEqual(await rows(archive, `SELECT pid, beam_registered_name, beam_initial_call, beam_reason FROM events WHERE type = 'process.crash'`), [
      ['<0.95.0>', 'cart_42', "'Elixir.Shop.Cart':init/1", `{function_clause,[{'Elixir.Shop.Cart',handle_call,3,[{file,"lib/shop/cart.ex"},{line,41}]}]}`],
    ]);
    // The old file's call has no beam_mfa (below).
    assert.deepEqual(await rows(archive, `SELECT beam_mfa, count(*) FROM events WHERE type = 'function.call' GROUP BY 1 ORDER BY 1 NULLS LAST`), [
      ["'Elixir.Shop.Cart':handle_call/3", '2'], [null, '1'],
    ]);
  });

  it('an events file from before the columns reads beside the new files, NULL in them', async () => {
    const old = await rows(archive, `SELECT id, ${COLUMNS.join(', ')}, attr_beam_mfa, json_extract_string(attributes, '$."beam.peer_pid"') FROM events WHERE id LIKE 'old-%' ORDER BY id`);
    assert.deepEqual(old.map((r) => r[0]), ['old-1', 'old-2', 'old-3', 'old-4']);
    for (const r of old) assert.deepEqual(r.slice(1, 1 + COLUMNS.length), COLUMNS.map(() => null), String(r[0]));
    // What it has: the old default promoted column, and every key in attributes.
    assert.deepEqual(old.map((r) => r[1 + COLUMNS.length]), [null, 'shop:handle/1', null, null]);
    assert.deepEqual(old.map((r) => r[2 + COLUMNS.length]), ['<0.81.0>', null, null, null]);
    // The recipe for an archive that spans the change.
    assert.deepEqual(await rows(archive, `SELECT id, coalesce(beam_reason, attributes->>'beam.reason') FROM events WHERE type = 'process.exit' ORDER BY id`), [
      ['demo-0017', `{function_clause,[{'Elixir.Shop.Cart',handle_call,3,[{file,"lib/shop/cart.ex"},{line,41}]}]}`], ['old-3', 'badarg'],
    ]);
    // Everything at once, across both layouts: the new files' partition key is NULL in the old one.
    const all = await rows(archive, `SELECT count(*), count(beam_node), count(attr_beam_mfa) FROM (SELECT * FROM events)`);
    assert.deepEqual(all, [[String(demoEvents + WRITTEN.length + 1 + 4), String(demoEvents + WRITTEN.length + 1), '1']]);
  });

  it('an archive whose files all predate the columns still has them, NULL', async () => {
    assert.deepEqual(await rows(oldOnly, `SELECT count(*), ${COLUMNS.map((c) => `count(${c})`).join(', ')} FROM events`), [['4', ...COLUMNS.map(() => '0')]]);
    assert.deepEqual(await rows(oldOnly, `SELECT id FROM events WHERE beam_registered_name = 'shop_worker' OR json_extract_string(attributes, '$."beam.registered_name"') = 'shop_worker'`), [['old-4']]);
    const described = await rows(oldOnly, `SELECT column_name, column_type FROM (DESCRIBE events) WHERE column_name LIKE 'beam_%'`);
    assert.deepEqual(described, COLUMNS.map((c) => [c, 'VARCHAR']));
  });

  it('->> binds more loosely than AND, OR and NOT, as the README warns; parentheses or json_extract_string fix it', async () => {
    // The README's own expressions, over the old file's exit (the one with beam.reason.class).
    const readme = README.replace(/\s+/g, ' ');
    const trap = "type = 'process.exit' and attributes->>'beam.reason.class' = 'error'";
    const fixes = ["(attributes->>'beam.reason.class') = 'error'", `json_extract_string(attributes, '$."beam.reason.class"') = 'error'`];
    for (const text of [trap, "((type = 'process.exit' and attributes) ->> 'beam.reason.class') = 'error'", "attributes -> ('k' = 'v')", ...fixes]) {
      assert.ok(readme.includes(text), `the README says ${text}`);
    }
    await assert.rejects(queryArchive(archive, `SELECT id FROM events WHERE ${trap}`), /Conversion Error: Failed to cast value to numerical/);
    for (const fix of fixes) assert.deepEqual(await rows(archive, `SELECT id FROM events WHERE type = 'process.exit' and ${fix}`), [['old-3']], fix);

    // How DuckDB parses them: ((type = … and attributes) ->> 'beam.reason.class') = 'error', and attributes -> ('k' = 'v').
    type Node = { class: string; type: string; function_name?: string; children?: Node[]; left?: Node; lhs?: Node; expr?: Node };
    const parsed = async (expr: string): Promise<Node> => {
      const [[json]] = await rows(archive, `SELECT json_serialize_sql('SELECT ${expr.replace(/'/g, "''")}')`);
      return (JSON.parse(String(json)) as { statements: Array<{ node: { select_list: Node[] } }> }).statements[0].node.select_list[0];
    };
    const tree = await parsed(trap);
    assert.equal(tree.type, 'COMPARE_EQUAL');
    assert.equal(tree.left?.function_name, '->>');
    assert.equal(tree.left?.children?.[0].type, 'CONJUNCTION_AND');
    const lambda = await parsed("attributes->'k' = 'v'");
    assert.equal(lambda.class, 'LAMBDA');
    assert.equal(lambda.expr?.type, 'COMPARE_EQUAL');
    await assert.rejects(queryArchive(archive, `SELECT id FROM events WHERE attributes->'beam.reason.class' = '"error"'`), /Binder Error/);
    // First in a conjunction, ->> happens to work; parenthesised it works anywhere.
    assert.deepEqual(await rows(archive, `SELECT id FROM events WHERE attributes->>'beam.reason.class' = 'error' and type = 'process.exit'`), [['old-3']]);
  });
});
