/** The parquet exporter through the real daemon, read back by real DuckDB. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { createPipeline, eventToJson, silentLogger, spanToJson, type ScopeEvent, type Span } from '../../src/index.js';
import { queryArchive } from '../../src/archive/query.js';
import { bytesReviver } from '../../src/model/jsonl.js';
import { promValue, startDaemon, tempDir, until } from '../helpers.js';

const HOUR = 3_600_000_000_000n;
const BASE = 1_764_000_000_123_456_789n; // 2025-11-24T16:00:00.123456789Z: nanoseconds must survive

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

function makeSpan(i: number): Span {
  const start = BASE + BigInt(i % 3) * HOUR + BigInt(i) * 1_001n;
  return {
    traceId: hex(i >> 2, 32),
    spanId: hex(i + 1, 16),
    ...(i % 4 ? { parentSpanId: hex(i, 16) } : {}),
    ...(i % 50 === 0 ? { traceState: 'vendor=x' } : {}),
    name: i % 7 === 0 ? `GET /café/${i % 50} ☕` : `GET /users/${i % 50}`,
    spanKind: (['server', 'internal', 'client', 'consumer'] as const)[i % 4],
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(i % 1000) * 1_000n + 7n,
    attributes: {
      'http.route': `/users/${i % 50}`,
      'http.response.status_code': 200 + (i % 3),
      ratio: i / 7,
      ok: i % 2 === 0,
      tags: ['a', String(i)],
      nested: { depth: i % 5, name: 'n' },
      ...(i % 100 === 0 ? { raw: new Uint8Array([i & 255, 0, 255]) } : {}),
      'beam.pid': `<0.${i % 900}.0>`,
    },
    events: i % 10 === 0 ? [{ name: 'exception', timeUnixNano: start + 5n, attributes: { 'exception.type': 'ArgumentError', 'exception.message': `bad ${i}` } }] : [],
    links: i % 25 === 0 ? [{ traceId: hex(i + 9, 32), spanId: hex(i + 9, 16), attributes: { 'link.kind': 'follows' } }] : [],
    status: i % 10 === 0 ? { code: 'error', message: `bad ${i}` } : { code: i % 3 === 0 ? 'ok' : 'unset' },
    resource: { 'service.name': 'shop', 'beam.node': i % 2 ? 'shop@host-a' : 'shop@host/b' },
    ...(i % 7 === 0 ? { scope: { name: 'scope_beam', version: '0.1.0' } } : {}),
  };
}

function makeEvent(i: number): ScopeEvent {
  return {
    id: `ev-${hex(i, 8)}`,
    // Events without a pid are only valid for custom types.
    type: i % 9 === 0 ? 'custom.note' : (['message.send', 'process.spawn', 'function.call'] as const)[i % 3],
    schemaVersion: 1,
    time: BASE + BigInt(i % 3) * HOUR + BigInt(i) * 997n,
    source: { node: i % 2 ? 'shop@host-a' : 'shop@host/b', component: 'jsonl', ...(i % 5 === 0 ? { app: 'shop' } : {}) },
    ...(i % 9 ? { pid: `<0.${i % 900}.0>` } : {}),
    ...(i % 11 === 0 ? { traceId: hex(i, 32), spanId: hex(i, 16) } : {}),
    ...(i % 13 === 0 ? { causationId: `ev-${hex(i - 1, 8)}` } : {}),
    attributes: {
      'beam.mfa': `'Elixir.Shop':f/${i % 4}`, 'beam.peer_pid': '<0.81.0>', 'beam.message': i % 5 === 0 ? `{"naïve 🚀",${i}}` : `{ping,${i}}`,
      ...(i % 3 === 0 ? { 'beam.message.kind': 'call', 'beam.call.tag': `#Ref<0.1.2.${i}>` } : {}),
      // Not a string: the column has it printed (a list or map as JSON).
      ...(i % 4 === 0 ? { 'beam.reason': i % 8 === 0 ? i : ['shutdown', { n: i }] } : {}),
      ...(i % 6 === 0 ? { 'beam.registered_name': `worker_${i % 10}`, 'beam.initial_call': `'Elixir.Shop.Worker':init/1` } : {}),
      n: i, big: '90071992547409930', list: [1, 2.5, 'x'],
    },
    ...(i % 17 === 0 ? { body: { text: `body ${i}`, bytes: new Uint8Array([1, 2, i & 255]) } } : {}),
  };
}

async function writeJsonl(path: string, lines: Iterable<string>): Promise<void> {
  const stream = createWriteStream(path);
  for (const line of lines) if (!stream.write(line + '\n')) await once(stream, 'drain');
  stream.end();
  await once(stream, 'finish');
}

function* items(spans: number, events: number): Iterable<string> {
  for (let i = 0; i < Math.max(spans, events); i++) {
    if (i < spans) yield spanToJson(makeSpan(i));
    if (i < events) yield eventToJson(makeEvent(i));
  }
}

function files(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
}

/** A JSON column's value as the model had it (DuckDB gives JSON text, or a value when nested in to_json). */
const parseJson = (value: unknown): unknown =>
  value === null ? undefined : JSON.parse(typeof value === 'string' ? value : JSON.stringify(value), bytesReviver);
const nullable = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

function config(dir: string, input: string, exporter: string): string {
  const path = join(dir, 'pipeline.yaml');
  writeFileSync(path, `
receivers:
  jsonl: { path: ${input} }
processors:
  batch: { send_batch_size: 5000, timeout: 50ms }
exporters:
  parquet:
${exporter}
service:
  pipelines: { p: { receivers: [jsonl], processors: [batch], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
  return path;
}

describe('parquet exporter', () => {
  it('archives 200 000 spans and 200 000 events that DuckDB reads back exactly, row by row', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const input = join(dir, 'in.jsonl');
    const COUNT = 200_000;
    await writeJsonl(input, items(COUNT, COUNT));
    const daemon = startDaemon(['--config', config(dir, input, `
    path: ${archive}
    partition_by: [beam_node]
    max_file_rows: 30000
    row_group_size: 7000
    max_file_age: 1h
    retention: { spans: 0, events: 0 }`)]);
    t.after(() => daemon.child.kill('SIGKILL'));
    const metrics = await daemon.metricsUrl();
    await until(async () => {
      const text = await (await fetch(metrics)).text();
      return promValue(text, 'scope_receiver_accepted_items_total') + promValue(text, 'scope_receiver_refused_items_total') >= 2 * COUNT;
    }, 90_000, 'every item taken in')
      .catch(async (error: Error) => assert.fail(`${error.message}\n${(await (await fetch(metrics)).text()).split('\n').filter((l) => l.startsWith('scope_')).join('\n')}\n${daemon.stderr().slice(-2000)}`));
    assert.equal(promValue(await (await fetch(metrics)).text(), 'scope_receiver_refused_items_total'), 0, daemon.stderr());
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr());

    // Hive layout, one level per partition key; files rolled at max_file_rows; nothing temporary left.
    const parts = files(archive, '.parquet');
    assert.deepEqual(files(archive, '.tmp'), []);
    assert.ok(parts.length >= 2 * Math.ceil(COUNT / 30_000), `${parts.length} files`);
    const dirs = new Set(parts.map((p) => relative(archive, p).split('/').slice(0, -1).join('/')));
    assert.ok(dirs.has('table=spans/date=2025-11-24/hour=16/beam_node=shop@host-a'), [...dirs].join('\n'));
    assert.ok(dirs.has('table=events/date=2025-11-24/hour=18/beam_node=shop@host%2Fb'), [...dirs].join('\n'));

    const spans = await queryArchive(archive, `
      SELECT trace_id, span_id, parent_span_id, trace_state, name, kind, epoch_ns(start_time)::VARCHAR, epoch_ns(end_time)::VARCHAR,
             duration_ns::VARCHAR, status_code, status_message, service_name, beam_node, pid, scope_name, scope_version,
             resource_attributes::VARCHAR, attributes::VARCHAR, attr_http_route, attr_http_response_status_code,
             to_json(list_transform(events, e -> {'time': epoch_ns(e.time)::VARCHAR, 'name': e.name, 'attributes': e.attributes}))::VARCHAR,
             to_json(links)::VARCHAR, hour
      FROM spans ORDER BY span_id`);
    assert.equal(spans.rows.length, COUNT);
    for (let i = 0; i < COUNT; i++) {
      const s = makeSpan(i);
      const row = spans.rows[i];
      const events = JSON.parse(String(row[20])) as Array<{ time: string; name: string; attributes: unknown }> | null;
      const links = JSON.parse(String(row[21])) as Array<{ trace_id: string; span_id: string; trace_state: string | null; attributes: unknown }> | null;
      assert.deepEqual({
        traceId: row[0], spanId: row[1], parentSpanId: row[2], traceState: row[3], name: row[4], kind: row[5],
        start: BigInt(String(row[6])), end: BigInt(String(row[7])), duration: BigInt(String(row[8])),
        status: row[9], message: row[10], service: row[11], node: row[12], pid: row[13], scope: row[14], version: row[15],
        resource: parseJson(row[16]), attributes: parseJson(row[17]), route: row[18], code: row[19],
        events: (events ?? []).map((e) => ({ name: e.name, timeUnixNano: BigInt(e.time), attributes: parseJson(e.attributes) })),
        links: (links ?? []).map((l) => ({ traceId: l.trace_id, spanId: l.span_id, ...(l.trace_state ? { traceState: l.trace_state } : {}), attributes: parseJson(l.attributes) })),
        hour: Number(row[22]),
      }, {
        traceId: s.traceId, spanId: s.spanId, parentSpanId: nullable(s.parentSpanId), traceState: nullable(s.traceState), name: s.name, kind: s.spanKind,
        start: s.startTimeUnixNano, end: s.endTimeUnixNano, duration: s.endTimeUnixNano - s.startTimeUnixNano,
        status: s.status.code, message: nullable(s.status.message), service: 'shop', node: s.resource['beam.node'], pid: s.attributes['beam.pid'],
        scope: nullable(s.scope?.name), version: nullable(s.scope?.version),
        resource: s.resource, attributes: s.attributes, route: s.attributes['http.route'], code: String(s.attributes['http.response.status_code']),
        events: s.events, links: s.links, hour: 16 + (i % 3),
      }, `span ${i}`);
    }

    const events = await queryArchive(archive, `
      SELECT id, type, schema_version, epoch_ns(time)::VARCHAR, node, app, component, pid, trace_id, span_id, causation_id,
             attributes::VARCHAR, body::VARCHAR, resource_attributes::VARCHAR,
             beam_peer_pid, beam_mfa, beam_reason, beam_message, beam_message_kind, beam_call_tag, beam_registered_name, beam_initial_call
      FROM events ORDER BY id`);
    const keyColumn = (v: unknown): string | null => (v === undefined ? null : typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v));
    assert.equal(events.rows.length, COUNT);
    for (let i = 0; i < COUNT; i++) {
      const e = makeEvent(i);
      const row = events.rows[i];
      assert.deepEqual({
        id: row[0], type: row[1], schemaVersion: row[2], time: BigInt(String(row[3])), node: row[4], app: row[5], component: row[6],
        pid: row[7], traceId: row[8], spanId: row[9], causationId: row[10], attributes: parseJson(row[11]), body: parseJson(row[12]),
        resource: row[13], keys: row.slice(14),
      }, {
        id: e.id, type: e.type, schemaVersion: 1, time: e.time, node: e.source.node, app: nullable(e.source.app), component: 'jsonl',
        pid: nullable(e.pid), traceId: nullable(e.traceId), spanId: nullable(e.spanId), causationId: nullable(e.causationId),
        attributes: e.attributes, body: e.body, resource: null,
        keys: ['beam.peer_pid', 'beam.mfa', 'beam.reason', 'beam.message', 'beam.message.kind', 'beam.call.tag', 'beam.registered_name', 'beam.initial_call']
          .map((k) => keyColumn(e.attributes[k])),
      }, `event ${i}`);
    }

    // Typed columns, and the schema version in every file's metadata.
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    t.after(() => db.closeSync());
    const types = await connection.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${parts[0]}'))`);
    const typeOf = Object.fromEntries(types.getRowsJson().map(([n, ty]) => [n, ty]));
    assert.equal(typeOf.attributes, 'JSON');
    assert.ok(typeOf.start_time === 'TIMESTAMP_NS' || typeOf.time === 'TIMESTAMP_NS', JSON.stringify(typeOf));
    const versions = await connection.runAndReadAll(`SELECT DISTINCT decode(value) FROM parquet_kv_metadata('${archive}/table=*/**/*.parquet') WHERE decode(key) = 'scope.archive.schema_version'`);
    assert.deepEqual(versions.getRowsJson(), [['1']]);
  });

  it('leaves no unreadable file when killed mid-write, and the next start removes the temporaries and says so', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const input = join(dir, 'in.jsonl');
    await writeJsonl(input, items(150_000, 150_000));
    const exporter = `
    path: ${archive}
    max_file_rows: 40000
    row_group_size: 5000
    max_file_age: 1h
    retention: { spans: 0, events: 0 }`;
    const daemon = startDaemon(['--config', config(dir, input, exporter)]);
    t.after(() => daemon.child.kill('SIGKILL'));
    // Kill once some files are complete and others are still being written.
    await until(() => files(archive, '.parquet').length >= 2 && files(archive, '.tmp').length >= 1, 60_000, 'complete and unfinished files');
    daemon.child.kill('SIGKILL');
    await daemon.exited();

    const complete = files(archive, '.parquet');
    const temporaries = files(archive, '.tmp');
    assert.ok(temporaries.length >= 1);
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    t.after(() => db.closeSync());
    for (const file of complete) {
      const rows = await connection.runAndReadAll(`SELECT count(*) FROM read_parquet('${file}')`);
      assert.ok(Number(rows.getRowsJson()[0][0]) > 0, file);
    }
    // The whole archive as the query command sees it.
    const total = await queryArchive(archive, 'SELECT (SELECT count(*) FROM spans) + (SELECT count(*) FROM events)');
    assert.ok(Number(total.rows[0][0]) > 0);

    writeFileSync(join(dir, 'none.jsonl'), '');
    const again = startDaemon(['--config', config(dir, join(dir, 'none.jsonl'), exporter)]);
    t.after(() => again.child.kill('SIGKILL'));
    await until(() => again.stderr().includes('pipeline started'), 10_000, 'restart');
    assert.match(again.stderr(), /removed unfinished temporary files left by a run that did not shut down cleanly.*"files":\d+/);
    assert.deepEqual(files(archive, '.tmp'), []);
    assert.deepEqual(files(archive, '.parquet').sort(), complete.sort(), 'complete files are kept');
    again.child.kill('SIGTERM');
    assert.equal((await again.exited()).code, 0, again.stderr());
  });

  it('a partition that cannot be written is counted as lost, the other partitions are archived, and the shutdown says so', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    // A file where the spans' hour directory must go: completing that partition's file fails.
    mkdirSync(join(archive, 'table=spans', 'date=2025-11-24'), { recursive: true });
    writeFileSync(join(archive, 'table=spans', 'date=2025-11-24', 'hour=16'), 'in the way');
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters: { parquet: { path: archive, retention: { spans: 0, events: 0 } } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['parquet'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const spans = [0, 3, 6].map(makeSpan); // all in hour 16
    const events = [1, 2, 4, 5].map(makeEvent); // hours 17 and 18
    assert.equal((await pipeline.push({ spans, events, metrics: [] })).status, 'accepted');
    // The spans' file is completed at shutdown and cannot be placed (ENOTDIR, not a matter of room): lost, so not drained (exit 1).
    assert.deepEqual(await pipeline.shutdown(), { drained: false });
    assert.equal(await pipeline.metrics.sum('scope_parquet_rows_lost', { table: 'spans', reason: 'write_error' }), 3);
    assert.equal(await pipeline.metrics.sum('scope_parquet_rows_lost'), 3);
    assert.equal(await pipeline.metrics.sum('scope_parquet_rows_written', { table: 'events' }), 4);
    assert.deepEqual(files(archive, '.tmp'), [], 'the failed file is removed');
    const archived = await queryArchive(archive, 'SELECT id FROM events ORDER BY id');
    assert.deepEqual(archived.rows.map((r) => r[0]), events.map((e) => e.id).sort());
  });

  it('completes files by age and by size, and compresses with each codec DuckDB reads', async (t) => {
    const dir = tempDir(t);
    const codecs = ['zstd', 'snappy', 'gzip', 'none'] as const;
    const exporters: Record<string, Record<string, unknown>> = Object.fromEntries(codecs.map((codec) => [`parquet/${codec}`, {
      path: join(dir, codec), compression: codec, max_file_age: '200ms', row_group_size: 10, retention: { spans: 0 },
    }]));
    exporters['parquet/small'] = { path: join(dir, 'small'), max_file_bytes: 1, max_file_age: '1h', row_group_size: 10, retention: { spans: 0 } };
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters,
      service: { pipelines: { p: { receivers: ['push'], exporters: Object.keys(exporters) } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    t.after(() => pipeline.shutdown());
    const spans = Array.from({ length: 35 }, (_, i) => makeSpan(i * 3)); // one hour partition
    assert.equal((await pipeline.push({ spans, events: [], metrics: [] })).status, 'accepted');
    // By age: complete while the daemon runs, no shutdown needed.
    await until(() => codecs.every((codec) => files(join(dir, codec), '.parquet').length === 1), 5000, 'files completed by age');
    // By size: every 10-row group makes its file too big, so it is completed at once; the last 5 rows wait.
    await until(() => files(join(dir, 'small'), '.parquet').length === 3, 5000, 'files completed by size');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    t.after(() => db.closeSync());
    for (const codec of codecs) {
      const [file] = files(join(dir, codec), '.parquet');
      const meta = await connection.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
      assert.deepEqual(meta.getRowsJson(), [[codec === 'none' ? 'UNCOMPRESSED' : codec.toUpperCase()]]);
      const rows = await connection.runAndReadAll(`SELECT count(*)::INTEGER, count(DISTINCT span_id)::INTEGER FROM read_parquet('${file}')`);
      assert.deepEqual(rows.getRowsJson(), [[35, 35]]);
      const groups = await connection.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INTEGER FROM parquet_metadata('${file}')`);
      assert.deepEqual(groups.getRowsJson(), [[4]], 'row_group_size 10');
    }
  });

  it('refuses a second writer on the same archive, and takes over a lock whose process is gone', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const twice = createPipeline({
      receivers: { push: {} },
      exporters: { 'parquet/a': { path: archive }, 'parquet/b': { path: archive } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['parquet/a', 'parquet/b'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await assert.rejects(twice.start(), /the archive .* is being written by process \d+ \(one parquet exporter per path\)/);
    await twice.shutdown();
    // A lock left by a process that no longer exists (the SIGKILL test covers a real one) is stale.
    mkdirSync(join(archive, '_tmp'), { recursive: true });
    writeFileSync(join(archive, '_tmp', 'writer.lock'), '2147483646');
    const once = createPipeline({
      receivers: { push: {} },
      exporters: { parquet: { path: archive } },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['parquet'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await once.start();
    assert.deepEqual(await once.shutdown(), { drained: true });
    assert.equal(existsSync(join(archive, '_tmp', 'writer.lock')), false, 'released at shutdown');
  });

  it('retention deletes only hour partitions older than each table\'s limit', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const input = join(dir, 'in.jsonl');
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const ages = { fresh: 0n, day2: 48n * HOUR, day10: 240n * HOUR };
    await writeJsonl(input, Object.entries(ages).flatMap(([name, age], k) => [
      spanToJson({ ...makeSpan(k), name, startTimeUnixNano: nowNs - age, endTimeUnixNano: nowNs - age + 1n }),
      eventToJson({ ...makeEvent(k), type: `custom.${name}`, time: nowNs - age }),
    ]));
    const run = async (retention: string): Promise<void> => {
      const daemon = startDaemon(['--config', config(dir, input, `
    path: ${archive}
    retention: ${retention}`)]);
      t.after(() => daemon.child.kill('SIGKILL'));
      const metrics = await daemon.metricsUrl();
      await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_receiver_accepted_items_total') >= 6, 20_000, 'items accepted');
      daemon.child.kill('SIGTERM');
      assert.equal((await daemon.exited()).code, 0, daemon.stderr());
    };
    // First run keeps everything; the second (reading the same input again) expires at start, before writing.
    await run('{ spans: 0, events: 0 }');
    const names = async (table: string): Promise<string[]> =>
      (await queryArchive(archive, table === 'spans' ? 'SELECT DISTINCT name FROM spans ORDER BY 1' : 'SELECT DISTINCT type FROM events ORDER BY 1')).rows.map((r) => String(r[0]));
    assert.deepEqual(await names('spans'), ['day10', 'day2', 'fresh']);
    const oldHour = (age: bigint): string => {
      const iso = new Date(Number((nowNs - age) / 1_000_000n)).toISOString();
      return join(archive, 'table=spans', `date=${iso.slice(0, 10)}`, `hour=${iso.slice(11, 13)}`);
    };
    assert.ok(existsSync(oldHour(ages.day10)));
    await run('{ spans: 7d, events: 24h, check_interval: 0 }');
    // Expired before the second run wrote: day10 spans are gone (then rewritten once); day2 and fresh ones twice.
    const counts = await queryArchive(archive, 'SELECT name, count(*)::INTEGER FROM spans GROUP BY 1 ORDER BY 1');
    assert.deepEqual(counts.rows, [['day10', 1], ['day2', 2], ['fresh', 2]]);
    const eventCounts = await queryArchive(archive, 'SELECT type, count(*)::INTEGER FROM events GROUP BY 1 ORDER BY 1');
    assert.deepEqual(eventCounts.rows, [['custom.day10', 1], ['custom.day2', 1], ['custom.fresh', 2]]);
    assert.ok(statSync(oldHour(ages.day2)).isDirectory());
  });
});
