/**
 * The columnar writer (columns built on the pipeline's thread, transferred,
 * encoded by apache-arrow + parquet-wasm on the worker) against the archive's
 * schema: DuckDB reads every column of every table with the type the table
 * definition gives, every value back exactly (NULLs, nanoseconds, JSON that
 * json_extract reads, lists of structs), with statistics
 * where the definitions ask for them; and the writer before (rows mode,
 * hyparquet-writer) writes the same values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { metrics as otelMetrics } from '@opentelemetry/api';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ComponentContext } from '../../src/component/types.js';
import { ParquetWorkerExporter } from '../../src/exporters/parquet/proxy.js';
import type { ArchiveWriterMode } from '../../src/exporters/parquet/archive.js';
import type { ParquetExporterConfig } from '../../src/exporters/parquet/config.js';
import { eventColumns, metricColumns, spanColumns } from '../../src/archive/tables.js';
import type { MetricPoint, ScopeEvent, Span } from '../../src/model/types.js';
import { ProblemReporter, silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers.js';

const BASE = 1_764_000_000_123_456_789n;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

function span(i: number): Span {
  const start = BASE + BigInt(i) * 1_001n;
  return {
    traceId: hex(i >> 2, 32), spanId: hex(i + 1, 16), ...(i % 4 ? { parentSpanId: hex(i, 16) } : {}), ...(i % 5 === 0 ? { traceState: 'k=v' } : {}),
    name: i % 7 === 0 ? `GET /café/${i % 3} ☕` : `GET /users/${i % 50}`, spanKind: i % 2 ? 'server' : 'internal',
    startTimeUnixNano: start, endTimeUnixNano: start + BigInt(i % 1000) + 1n,
    attributes: { 'http.route': `/users/${i % 50}`, 'http.response.status_code': 200 + (i % 3), nested: { a: [i, 'x'] }, ...(i % 9 === 0 ? { raw: new Uint8Array([i & 255]) } : {}) },
    events: i % 3 === 0 ? [] : Array.from({ length: i % 3 }, (_, k) => ({ name: `e${k}`, timeUnixNano: start + BigInt(k) + 1n, attributes: { 'exception.type': `T${i}`, k } })),
    links: i % 4 === 0 ? [{ traceId: hex(i + 7, 32), spanId: hex(i + 7, 16), ...(i % 8 === 0 ? { traceState: 'a=b' } : {}), attributes: { why: 'follows' } }] : [],
    status: i % 6 === 0 ? { code: 'error', message: `bad ${i}` } : { code: 'unset' },
    resource: { 'service.name': 'shop', 'beam.node': i % 2 ? 'a@h' : 'b@h' },
    ...(i % 3 === 0 ? { scope: { name: 'sc', version: '1' } } : {}),
  };
}

function event(i: number): ScopeEvent {
  return {
    id: `ev-${hex(i, 6)}`, type: (['message.send', 'message.receive', 'custom.x'] as const)[i % 3], schemaVersion: 1, time: BASE + BigInt(i) * 7n,
    source: { node: i % 2 ? 'a@h' : 'b@h', component: 'test', ...(i % 4 === 0 ? { app: 'shop' } : {}) },
    ...(i % 3 !== 2 ? { pid: `<0.${i % 40}.0>` } : {}), ...(i % 5 === 0 ? { traceId: hex(i, 32), spanId: hex(i, 16) } : {}),
    ...(i % 6 === 0 ? { causationId: `ev-${hex(i - 1, 6)}` } : {}),
    attributes: { 'beam.peer_pid': `<0.${(i * 3) % 40}.0>`, 'beam.message': `{ping,"ü${i}"}`, ...(i % 2 ? { 'beam.message.kind': 'cast' } : {}), n: i },
    ...(i % 7 === 0 ? { body: { text: `b${i}` } } : {}), ...(i % 10 === 0 ? { resource: { 'service.name': 'svc' } } : {}),
  };
}

function metric(i: number): MetricPoint {
  const base = { name: `m${i % 4}`, timeUnixNano: BASE + BigInt(i), attributes: { k: i % 3 }, resource: { 'service.name': 'shop' } };
  switch (i % 4) {
    case 0: return { ...base, type: 'gauge', value: i / 3, unit: 'ms', description: 'a gauge' };
    case 1: return { ...base, type: 'sum', value: i, monotonic: i % 2 === 1, startTimeUnixNano: BASE - 1n };
    case 2: return { ...base, type: 'histogram', value: 10.5, histogram: { count: i, sum: 10.5, explicitBounds: [1, 5], bucketCounts: [1, 2, i - 3], min: 0.25, max: 9 } };
    default: return { ...base, type: 'summary', value: 3, summary: { count: 2, sum: 3, quantiles: [{ quantile: 0.5, value: 1.5 }] } };
  }
}

function config(path: string): ParquetExporterConfig {
  return {
    path, partition_by: ['beam_node'], max_file_rows: 300, max_file_bytes: '1GiB', max_file_age: '1h', row_group_size: 97, compression: 'zstd',
    retention: { spans: '0', events: '0', metrics: '0', check_interval: '0' },
    promoted_attributes: { spans: ['http.route'], events: ['n'], metrics: ['k'] },
  };
}

const context = (): ComponentContext => ({
  id: 'parquet', type: 'parquet', kind: 'exporter', logger: silentLogger, problems: new ProblemReporter(silentLogger),
  meter: otelMetrics.getMeter('test'), reportStatus: () => {},
}) as unknown as ComponentContext;

const COUNT = 1500;

/** Writes COUNT spans, events and metric points in batches of uneven sizes (so row groups cut across batches and partitions). */
async function write(dir: string, mode: ArchiveWriterMode): Promise<void> {
  const exporter = new ParquetWorkerExporter(config(dir), context(), mode);
  await exporter.start();
  for (let at = 0, k = 0; at < COUNT; k++) {
    const n = Math.min(COUNT - at, [1, 250, 33, 400, 7][k % 5]);
    const ids = Array.from({ length: n }, (_, j) => at + j);
    const result = await exporter.export({ spans: ids.map(span), events: ids.map(event), metrics: ids.map(metric) });
    assert.ok(result.ok && !result.dropped, JSON.stringify(result));
    at += n;
  }
  await exporter.shutdown();
}

const files = (dir: string, table: string): string[] =>
  readdirSync(join(dir, `table=${table}`), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, `table=${table}`, f));

describe('parquet exporter, columnar writer', () => {
  it('DuckDB reads every column with its type and every value exactly, as the writer before wrote them', async (t) => {
    const root = tempDir(t);
    await write(join(root, 'columns'), 'columns');
    await write(join(root, 'rows'), 'rows');
    const db = await DuckDBInstance.create(':memory:');
    t.after(() => db.closeSync());
    const c = await db.connect();
    const q = async (sql: string): Promise<unknown[][]> => (await c.runAndReadAll(sql)).getRowsJson() as unknown[][];
    const list = (paths: string[]): string => `[${paths.map((p) => `'${p}'`).join(', ')}]`;

    const defs = { spans: spanColumns(['http.route']), events: eventColumns(['n']), metrics: metricColumns(['k']) };
    for (const [table, columns] of Object.entries(defs)) {
      const paths = files(join(root, 'columns'), table);
      assert.ok(paths.length >= 4, `${table}: ${paths.length} files`);
      // Every file: the table's columns in order, each with the DuckDB type its definition gives.
      for (const path of paths) {
        const types = await q(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path}', hive_partitioning = false))`);
        assert.deepEqual(types, columns.map((col) => [col.name, col.duckdb]), `${table} ${path}`);
      }
      const kv = await q(`SELECT DISTINCT decode(key), decode(value) FROM parquet_kv_metadata(${list(paths)}) ORDER BY 1`);
      assert.deepEqual(kv, [['scope.archive.schema_version', '1'], ['scope.table', table]]);
      // The same rows, value for value, as the writer before (hyparquet-writer) wrote them: every column as text, JSON parsed.
      const text = columns.map((col) => (col.duckdb.startsWith('TIMESTAMP') ? `epoch_ns("${col.name}")::VARCHAR` : `to_json("${col.name}")::VARCHAR`)).join(', ');
      const order = table === 'spans' ? 'span_id' : table === 'events' ? 'id' : 'time, name';
      const read = async (mode: string): Promise<unknown[][]> =>
        q(`SELECT ${text} FROM read_parquet(${list(files(join(root, mode), table))}, hive_partitioning = false) ORDER BY ${order}`);
      const [got, before] = [await read('columns'), await read('rows')];
      assert.equal(got.length, COUNT);
      assert.deepEqual(got, before, table);
    }

    const spans = files(join(root, 'columns'), 'spans');
    // Against the model: nanoseconds, NULLs, JSON through json_extract, lists of structs with their JSON.
    const rows = await q(`SELECT span_id, epoch_ns(start_time)::VARCHAR, parent_span_id, trace_state, status_message, scope_name,
        json_extract(attributes, '$.nested.a[0]')::INTEGER, attributes->>'$."http.route"', json_extract_string(attributes, '$.raw."$bytes"'),
        len(events), epoch_ns(events[1].time)::VARCHAR, json_extract_string(events[1].attributes, '$."exception.type"'),
        links[1].trace_id, links[1].trace_state, links[1].attributes->>'why', links IS NULL
      FROM read_parquet(${list(spans)}, hive_partitioning = false) ORDER BY span_id`);
    for (let i = 0; i < COUNT; i++) {
      const s = span(i);
      assert.deepEqual(rows[i], [
        s.spanId, String(s.startTimeUnixNano), s.parentSpanId ?? null, s.traceState ?? null, s.status.message ?? null, s.scope?.name ?? null,
        i, s.attributes['http.route'], i % 9 === 0 ? Buffer.from([i & 255]).toString('base64') : null,
        String(s.events.length), s.events[0] ? String(s.events[0].timeUnixNano) : null, s.events[0] ? `T${i}` : null,
        s.links[0]?.traceId ?? null, s.links[0]?.traceState ?? null, s.links[0] ? 'follows' : null, false,
      ], `span ${i}`);
    }
    const events = await q(`SELECT id, epoch_ns(time)::VARCHAR, pid, app, trace_id, causation_id, beam_message, beam_message_kind, attr_n,
        json_extract(attributes, '$.n')::INTEGER, body->>'text', resource_attributes->>'$."service.name"'
      FROM read_parquet(${list(files(join(root, 'columns'), 'events'))}, hive_partitioning = false) ORDER BY id`);
    for (let i = 0; i < COUNT; i++) {
      const e = event(i);
      assert.deepEqual(events[i], [
        e.id, String(e.time), e.pid ?? null, e.source.app ?? null, e.traceId ?? null, e.causationId ?? null, `{ping,"ü${i}"}`,
        i % 2 ? 'cast' : null, String(i), i, i % 7 === 0 ? `b${i}` : null, i % 10 === 0 ? 'svc' : null,
      ], `event ${i}`);
    }
    const points = await q(`SELECT name, type, unit, epoch_ns(time)::VARCHAR, epoch_ns(start_time)::VARCHAR, value, monotonic, count, min, max,
        json_extract(distribution, '$.bucketCounts[2]')::INTEGER, attr_k
      FROM read_parquet(${list(files(join(root, 'columns'), 'metrics'))}, hive_partitioning = false) ORDER BY time`);
    for (let i = 0; i < COUNT; i++) {
      const m = metric(i);
      const dist = m.histogram ?? m.summary;
      assert.deepEqual(points[i], [
        m.name, m.type, m.unit ?? null, String(m.timeUnixNano), m.startTimeUnixNano === undefined ? null : String(m.startTimeUnixNano), m.value,
        m.monotonic ?? null, dist ? String(dist.count) : null, m.histogram?.min ?? null, m.histogram?.max ?? null,
        m.histogram ? i - 3 : null, String(i % 3),
      ], `metric point ${i}`);
    }

    // Statistics where the table definitions ask for them (not for spread or unique text), dictionaries for repeating text.
    const chunks = await q(`SELECT DISTINCT path_in_schema, stats_min_value IS NOT NULL, encodings LIKE '%DICTIONARY%'
      FROM parquet_metadata('${spans[0]}') WHERE path_in_schema IN ('name', 'trace_id', 'attributes', 'start_time', 'duration_ns', 'service_name') ORDER BY 1`);
    assert.deepEqual(chunks, [
      ['attributes', false, false], ['duration_ns', true, false], ['name', false, true], ['service_name', true, true], ['start_time', true, false], ['trace_id', false, false],
    ]);
    const types = await q(`SELECT DISTINCT name, logical_type, converted_type FROM parquet_schema('${spans[0]}') WHERE name IN ('start_time', 'attributes', 'time') ORDER BY 1`);
    assert.deepEqual(types.map(([n, logical, converted]) => [n, String(logical), converted]), [
      // The JSON annotation as the archive's schema gives it (converted type JSON), which arrow-rs would not write for a string column.
      ['attributes', 'null', 'JSON'],
      ['start_time', 'TimestampType(isAdjustedToUTC=0, unit=TimeUnit(MILLIS=<null>, MICROS=<null>, NANOS=NanoSeconds()))', null],
      ['time', 'TimestampType(isAdjustedToUTC=0, unit=TimeUnit(MILLIS=<null>, MICROS=<null>, NANOS=NanoSeconds()))', null],
    ]);
  });
});
