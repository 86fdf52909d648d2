/**
 * The parquet exporter when things go wrong, with real parts: spans arrive
 * through the real OTLP/HTTP receiver (and the push receiver, for items OTLP
 * cannot carry), the archive lives on a real, small tmpfs that fills up, and
 * DuckDB reads back what was written. Mounting needs root (the suite's
 * machines run as root); without it these tests fail, saying so.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPipeline, type MetricPoint, type Pipeline, type ScopeEvent, type Span } from '../../src/index.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { queryArchive } from '../../src/archive/query.js';
import { captureLogger, freePort, promValue, smallDisk, startDaemon, tempDir, until, type Line } from '../helpers.js';

const BASE = 1_764_000_000_123_456_789n; // 2025-11-24T16:00:00.123456789Z
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** One OTLP/JSON span; `i` makes its ids and time. */
function otlpSpan(i: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const start = BASE + BigInt(i) * 1_000n;
  return {
    traceId: hex((i >> 3) + 1, 32),
    spanId: hex(i + 1, 16),
    name: `GET /users/${i % 50}`,
    kind: 2,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 5_000n + BigInt(i % 7)),
    attributes: [
      { key: 'http.route', value: { stringValue: `/users/${i % 50}` } },
      { key: 'n', value: { intValue: String(i) } },
      { key: 'note', value: { stringValue: `request ${i} of the reliability test` } },
    ],
    status: {},
    ...overrides,
  };
}

interface Answer { status: number; retryAfter: string | null; body: Record<string, unknown> }

async function postSpans(base: string, spans: Array<Record<string, unknown>>): Promise<Answer> {
  const res = await fetch(`${base}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }, { key: 'beam.node', value: { stringValue: 'shop@host' } }] },
        scopeSpans: [{ scope: { name: 'checkout' }, spans }],
      }],
    }),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? JSON.parse(text) as Record<string, unknown> : {};
  } catch {
    body = { text };
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, k) => from + k);

async function spanIds(archive: string): Promise<string[]> {
  return (await queryArchive(archive, 'SELECT span_id FROM spans ORDER BY span_id')).rows.map((r) => String(r[0]));
}

async function spanCount(archive: string): Promise<number> {
  return Number((await queryArchive(archive, 'SELECT count(*) FROM spans')).rows[0][0]);
}

function files(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(suffix));
}

async function health(pipeline: Pipeline): Promise<{ status: number; body: { status: string; components?: Record<string, string> } }> {
  const address = pipeline.telemetryAddress;
  assert.ok(address, 'the metrics/health server is listening');
  const res = await fetch(`http://127.0.0.1:${address.port}/healthz`);
  return { status: res.status, body: await res.json() as { status: string; components?: Record<string, string> } };
}

describe('parquet exporter: one bad item never takes its batch', () => {
  it('drops exactly the items it cannot write, counts and logs each, and DuckDB reads every other row', async (t) => {
    const dir = tempDir(t);
    const archive = join(dir, 'archive');
    const lines: Line[] = [];
    const asJson = (i: number, start?: string): string => {
      const s = otlpSpan(i);
      const startTime = start ?? String(s.startTimeUnixNano);
      return JSON.stringify({
        kind: 'span', traceId: s.traceId, spanId: s.spanId, name: s.name, spanKind: 'server', startTimeUnixNano: startTime, endTimeUnixNano: s.endTimeUnixNano,
        attributes: { 'http.route': `/users/${i % 50}` }, resource: { 'service.name': 'shop', 'beam.node': 'shop@host' },
      });
    };
    // Through the jsonl receiver (it takes times of up to 20 digits), 200 spans each. a: a start time past 2^64, as in
    // the review; b: the largest uint64, past INT64 (the writer used to throw "INT64 value out of range" in the middle
    // of a row group, losing the partition's file and rows).
    writeFileSync(join(dir, 'a.jsonl'), range(0, 200).map((i) => asJson(i, i === 77 ? '99999999999999999999' : undefined)).join('\n') + '\n');
    writeFileSync(join(dir, 'b.jsonl'), range(200, 200).map((i) => asJson(i, i === 205 ? '18446744073709551615' : undefined)).join('\n') + '\n');
    const pipeline = createPipeline({
      receivers: { 'jsonl/a': { path: join(dir, 'a.jsonl') }, 'jsonl/b': { path: join(dir, 'b.jsonl') }, push: {} },
      // Row groups of 64: every bad item sits in the middle of a group that is written without it.
      exporters: { parquet: { path: archive, partition_by: ['beam_node'], row_group_size: 64, max_file_age: '1h', retention: { spans: 0, events: 0, metrics: 0 } } },
      service: { pipelines: { p: { receivers: ['jsonl/a', 'jsonl/b', 'push'], exporters: ['parquet'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: captureLogger(lines) });
    await pipeline.start();
    t.after(() => pipeline.shutdown());
    await until(async () => (await pipeline.metrics.sum('scope_receiver_accepted_items')) === 400, 10_000, 'both files read');

    // Through the push receiver (the library API), which hands spans on as they are: one of each kind of bad item.
    const good = (i: number): Span => ({
      traceId: hex((i >> 3) + 1, 32), spanId: hex(i + 1, 16), name: `GET /users/${i % 50}`, spanKind: 'server',
      startTimeUnixNano: BASE + BigInt(i) * 1_000n, endTimeUnixNano: BASE + BigInt(i) * 1_000n + 5_000n,
      attributes: { 'http.route': `/users/${i % 50}` }, events: [], links: [], status: { code: 'unset' },
      resource: { 'service.name': 'shop', 'beam.node': 'shop@host' },
    });
    const bad: Record<number, { field: string; make: (s: Span) => Span }> = {
      601: { field: 'start_time', make: (s) => ({ ...s, startTimeUnixNano: -(1n << 63n) }) },
      603: { field: 'span_id', make: (s) => ({ ...s, spanId: hex(604, 15) }) },
      617: { field: 'trace_id', make: (s) => ({ ...s, traceId: 'x'.repeat(32) }) },
      631: { field: 'name', make: (s) => ({ ...s, name: 'GET /\ud800' }) },
      645: { field: 'attributes', make: (s) => ({ ...s, attributes: { note: 'half an emoji: \ud83d' } }) },
      659: { field: 'resource_attributes', make: (s) => ({ ...s, resource: { ...s.resource, big: 12345678901234567890n as unknown as number } }) },
      673: { field: 'end_time', make: (s) => ({ ...s, endTimeUnixNano: 1n << 63n }) },
      687: { field: 'events[0].time', make: (s) => ({ ...s, events: [{ name: 'exception', timeUnixNano: -(1n << 62n) * 3n, attributes: {} }] }) },
      701: { field: 'links[0].span_id', make: (s) => ({ ...s, links: [{ traceId: hex(9, 32), spanId: 'abc', attributes: {} }] }) },
      715: { field: 'beam_node', make: (s) => ({ ...s, resource: { ...s.resource, 'beam.node': 'n'.repeat(300) } }) },
    };
    const pushed = range(600, 200).map((i) => (bad[i] ? bad[i].make(good(i)) : good(i)));
    // Not bad: an uppercase id is written lowercase, an empty parent id as none.
    pushed[10] = { ...pushed[10], traceId: pushed[10].traceId.toUpperCase().replace(/^0/, 'A'), parentSpanId: '' };
    const metricGood: MetricPoint = { name: 'queue.length', type: 'gauge', timeUnixNano: BASE, value: 3, attributes: {}, resource: { 'service.name': 'shop' } };
    const metrics: MetricPoint[] = [
      metricGood,
      { ...metricGood, type: 'histogram', histogram: { count: 1.5, sum: 3, bucketCounts: [1], explicitBounds: [] } as unknown as MetricPoint['histogram'] },
      { ...metricGood, value: 'three' as unknown as number },
    ];
    const event: ScopeEvent = {
      id: 'ev-good', type: 'custom.note', schemaVersion: 1, time: BASE, source: { node: 'shop@host', component: 'test' }, attributes: { n: 1 },
    };
    const events: ScopeEvent[] = [event, { ...event, id: 'ev-bad', attributes: { text: 'lone \udc00 low surrogate' } }];
    assert.equal((await pipeline.push({ spans: pushed, events, metrics })).status, 'accepted');

    const taken = await pipeline.metrics.sum('scope_receiver_accepted_items');
    await until(async () => (await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: 'parquet' })) +
      (await pipeline.metrics.sum('scope_exporter_send_failed_items', { exporter: 'parquet' })) === taken, 10_000, 'every batch exported');
    assert.deepEqual(await pipeline.shutdown(), { drained: true });

    // Counted where the pipeline counts an exporter's partial drops: send_failed, reason invalid_item; nothing else is lost.
    const badItems = 2 + Object.keys(bad).length + 2 + 1; // jsonl spans, pushed spans, metrics, events
    assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items', { exporter: 'parquet', reason: 'invalid_item' }), badItems);
    assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items', { exporter: 'parquet' }), badItems);
    assert.equal(await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: 'parquet' }), 400 + 205 - badItems);
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items'), 0);
    assert.equal(await pipeline.metrics.sum('scope_parquet_rows_lost'), 0);

    // DuckDB reads every row (a lone surrogate in a JSON column would fail every query over the file).
    const expected = [
      ...range(0, 200).filter((i) => i !== 77), ...range(200, 200).filter((i) => i !== 205), ...range(600, 200).filter((i) => !bad[i]),
    ].map((i) => hex(i + 1, 16)).sort();
    assert.deepEqual(await spanIds(archive), expected);
    assert.equal(expected.length, 199 + 199 + 200 - Object.keys(bad).length);
    const everything = await queryArchive(archive, 'SELECT * EXCLUDE (attributes, resource_attributes), attributes::VARCHAR, resource_attributes::VARCHAR, to_json(events)::VARCHAR FROM spans');
    assert.equal(everything.rows.length, expected.length);
    const fixed = await queryArchive(archive, `SELECT trace_id, parent_span_id FROM spans WHERE span_id = '${hex(611, 16)}'`);
    assert.deepEqual(fixed.rows, [[pushed[10].traceId.toLowerCase(), null]]);
    assert.deepEqual((await queryArchive(archive, 'SELECT id FROM events')).rows, [['ev-good']]);
    assert.deepEqual((await queryArchive(archive, 'SELECT type, value FROM metrics')).rows, [['gauge', 3]]);

    // Logged once per table and field, naming the field, the problem and the item.
    const dropped = lines.filter((l) => l.message.startsWith('parquet exporter dropped an item it cannot write'));
    const fields = dropped.map((l) => `${String(l.fields.table)}.${String(l.fields.field)}`).sort();
    assert.deepEqual(fields, [
      'events.attributes', 'metrics.count', 'metrics.value',
      'spans.attributes', 'spans.beam_node', 'spans.end_time', 'spans.events[0].time', 'spans.links[0].span_id', 'spans.name',
      'spans.resource_attributes', 'spans.span_id', 'spans.start_time', 'spans.trace_id',
    ].sort(), JSON.stringify(dropped.map((l) => l.fields), null, 1));
    const startTime = dropped.find((l) => l.fields.field === 'start_time');
    assert.match(String(startTime?.fields.problem), /TIMESTAMP_NS range/);
    assert.match(String(startTime?.fields.value), /^(99999999999999999999|18446744073709551615)$/);
    assert.match(String(startTime?.fields.item), /^span "GET \/users\/\d+" \(span_id [0-9a-f]{16}\)$/);
    assert.match(String(dropped.find((l) => l.fields.field === 'span_id')?.fields.problem), /16 hex digits .* 15 characters/);
    const problem = (table: string, field: string): string => String(dropped.find((l) => l.fields.table === table && l.fields.field === field)?.fields.problem);
    assert.match(problem('spans', 'attributes'), /lone UTF-16 surrogate, which DuckDB's JSON reader rejects/);
    assert.match(problem('spans', 'name'), /lone UTF-16 surrogate, which has no UTF-8 encoding/);
    assert.match(problem('spans', 'resource_attributes'), /cannot be encoded: .*BigInt/);
    assert.match(problem('spans', 'beam_node'), /partition directory name of 310 bytes/);
    assert.match(problem('spans', 'events[0].time'), /TIMESTAMP_NS range/);
    assert.match(problem('metrics', 'count'), /cannot be encoded: .*BigInt/);
    assert.match(problem('metrics', 'value'), /must be a number/);
    // The second bad start time is counted but not logged again.
    assert.equal(dropped.filter((l) => l.fields.field === 'start_time').length, 1);
  });
});

interface DiskRun {
  pipeline: Pipeline;
  base: string;
  archive: string;
  filler: string;
  lines: Line[];
  accepted: number;
  next: number;
}

/** A pipeline (OTLP/HTTP → parquet) whose archive is on a 2 MiB tmpfs, most of it taken by a filler file. */
async function diskFullPipeline(t: { after(fn: () => Promise<void>): void }, shutdownTimeout: string): Promise<DiskRun> {
  let pipeline: Pipeline | undefined;
  const disk = smallDisk(t, '2m', async () => pipeline?.shutdown());
  const filler = join(disk, 'filler');
  // 1.5 MiB of the 2: room for about four files of 1000 spans.
  writeFileSync(filler, Buffer.alloc(1536 * 1024, 1));
  const archive = join(disk, 'archive');
  const port = await freePort();
  const lines: Line[] = [];
  pipeline = createPipeline({
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
    exporters: {
      parquet: {
        path: archive, row_group_size: 200, max_file_rows: 1000, max_file_age: '1h', compression: 'none',
        retention: { spans: 0, events: 0, metrics: 0, check_interval: 0 },
        // Push-back above 600 items (three requests); retried forever, every 50–100 ms.
        sending_queue: { queue_size: 1200 },
        retry_on_failure: { initial_interval: '50ms', max_interval: '100ms', max_elapsed_time: 0 },
      },
    },
    service: {
      pipelines: { p: { receivers: ['otlp'], exporters: ['parquet'] } },
      telemetry: { metrics: { endpoint: '127.0.0.1:0' } },
      shutdown_timeout: shutdownTimeout,
    },
  }, { logger: captureLogger(lines) });
  await pipeline.start();
  return { pipeline, base: `http://127.0.0.1:${port}`, archive, filler, lines, accepted: 0, next: 0 };
}

/**
 * Sends requests of 200 spans until the disk is full: until /healthz says the
 * exporter is unhealthy and then the receiver pushes back (429) because the
 * queue holds what the exporter refuses. A 429 before that (the sender is
 * faster than the writer) is waited out. Returns the push-back answer.
 */
async function fillUntilFull(run: Pick<DiskRun, 'base' | 'accepted' | 'next'>, unhealthy: () => Promise<boolean>): Promise<Answer> {
  let full = false;
  for (let request = 0; request < 500; request++) {
    const answer = await postSpans(run.base, range(run.next, 200).map((i) => otlpSpan(i)));
    if (answer.status === 429) {
      // The exporter may turn unhealthy just after it took the last batch it answered (it writes after answering).
      full ||= await unhealthy();
      if (full) return answer;
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.partialSuccess, undefined);
    run.accepted += 200;
    run.next += 200;
    full ||= await unhealthy();
  }
  assert.fail(`the disk never filled up (${run.accepted} spans accepted)`);
}

const unhealthyIn = (pipeline: Pipeline) => async (): Promise<boolean> => (await health(pipeline)).status === 503;

/** Accepted = in DuckDB + held by the exporter + waiting in its queue (+ counted as lost): read once the flow is frozen. */
async function accounts(run: DiskRun): Promise<{ duckdb: number; written: number; buffered: number; queued: number; lost: number; failed: number }> {
  const m = run.pipeline.metrics;
  return {
    duckdb: await spanCount(run.archive),
    written: await m.sum('scope_parquet_rows_written', { table: 'spans' }),
    buffered: await m.sum('scope_parquet_rows_buffered', { exporter: 'parquet', table: 'spans' }),
    queued: await m.sum('scope_exporter_queue_size', { exporter: 'parquet' }),
    lost: await m.sum('scope_parquet_rows_lost'),
    failed: await m.sum('scope_exporter_send_failed_items', { exporter: 'parquet' }),
  };
}

describe('parquet exporter: disk full', () => {
  it('turns unhealthy and pushes back without losing a span, then resumes when space returns', async (t) => {
    const run = await diskFullPipeline(t, '10s');
    const pushback = await fillUntilFull(run, unhealthyIn(run.pipeline));
    assert.ok(Number(pushback.retryAfter) >= 1, `429 with Retry-After (${pushback.retryAfter})`);
    assert.ok(run.accepted >= 2000, `${run.accepted} spans taken before the disk was full`);

    const sick = await health(run.pipeline);
    assert.equal(sick.status, 503);
    assert.match(sick.body.components?.['exporter:parquet'] ?? '', /ENOSPC/);
    assert.equal(run.lines.filter((l) => l.message.startsWith('parquet exporter cannot write the archive')).length, 1);

    // Nothing is dropped while the disk is full: every accepted span is in DuckDB, held by the exporter, or in its queue.
    const full = await accounts(run);
    assert.equal(full.duckdb, full.written);
    assert.ok(full.buffered > 0 && full.queued > 0, JSON.stringify(full));
    assert.equal(full.duckdb + full.buffered + full.queued, run.accepted, JSON.stringify({ ...full, accepted: run.accepted }));
    assert.equal(full.lost + full.failed, 0);
    assert.equal(files(join(run.archive, '_tmp'), '.parquet.tmp').length, 1, 'the unfinished file waits in _tmp/');
    // It stays that way: retries are refused, nothing moves, the receiver keeps pushing back.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await accounts(run), full);
    assert.equal((await postSpans(run.base, [otlpSpan(run.next)])).status, 429);
    assert.ok(await run.pipeline.metrics.sum('scope_receiver_refused_requests', { receiver: 'otlp', reason: 'queue_full' }) >= 2);

    // Space returns: the held rows go out, the queue empties, the exporter is healthy again.
    rmSync(run.filler);
    const freed = Date.now();
    await until(async () => (await health(run.pipeline)).status === 200, 10_000, '/healthz 200 again');
    const healedMs = Date.now() - freed;
    await until(async () => (await run.pipeline.metrics.sum('scope_exporter_queue_size', { exporter: 'parquet' })) === 0, 10_000, 'the queue emptied');
    assert.equal(run.lines.filter((l) => l.message === 'parquet exporter writes the archive again').length, 1);
    for (let k = 0; k < 5;) {
      const answer = await postSpans(run.base, range(run.next, 200).map((i) => otlpSpan(i)));
      if (answer.status === 429) {
        // The sender outruns the writer: ordinary push-back, not the disk (checked: the exporter stays healthy).
        assert.equal((await health(run.pipeline)).status, 200);
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      assert.equal(answer.status, 200);
      run.accepted += 200;
      run.next += 200;
      k++;
    }
    assert.deepEqual(await run.pipeline.shutdown(), { drained: true });

    const end = await accounts(run);
    assert.deepEqual({ ...end, duckdb: end.duckdb }, { duckdb: run.accepted, written: run.accepted, buffered: 0, queued: 0, lost: 0, failed: 0 });
    assert.deepEqual(await spanIds(run.archive), range(0, run.next).map((i) => hex(i + 1, 16)).sort());
    assert.deepEqual(files(run.archive, '.tmp'), []);
    // The file the disk refused was finished where it stopped: full files of 1000 rows in groups of 200, no empty group.
    const db = await DuckDBInstance.create(':memory:');
    t.after(() => db.closeSync());
    const groups = await (await db.connect()).runAndReadAll(`
      SELECT file_name, count(DISTINCT row_group_id)::INTEGER, sum(DISTINCT row_group_num_rows)::INTEGER, min(row_group_num_rows)::INTEGER
      FROM parquet_metadata('${run.archive}/table=spans/**/*.parquet') GROUP BY file_name`);
    const shapes = groups.getRowsJson().map(([, n, rows, min]) => `${String(n)}×${String(rows)}/${String(min)}`);
    const rest = run.accepted % 1000; // the last file, completed at shutdown
    const expectedShapes = [...Array.from({ length: Math.floor(run.accepted / 1000) }, () => '5×200/200'), ...(rest ? [`${rest / 200}×200/200`] : [])];
    assert.deepEqual(shapes.sort(), expectedShapes.sort(), 'files: row groups × rows per group / smallest group');
    t.diagnostic(`disk full after ${full.duckdb + full.buffered} spans taken (${full.duckdb} in completed files, ${full.buffered} held) + ${full.queued} queued; ` +
      `429 Retry-After ${pushback.retryAfter}; healthy ${healedMs} ms after space returned; all ${run.accepted} in DuckDB at the end`);
  });

  it('at shutdown, counts exactly what the full disk still refuses, removes its unfinished file, and does not report drained', async (t) => {
    const run = await diskFullPipeline(t, '2s');
    await fillUntilFull(run, unhealthyIn(run.pipeline));
    const full = await accounts(run);
    assert.equal(full.duckdb + full.buffered + full.queued, run.accepted);
    assert.deepEqual(await run.pipeline.shutdown(), { drained: false });
    // The exporter's own shutdown may still be finishing (see the README: the pipeline does not wait for it past the deadline).
    await until(() => !existsSync(join(run.archive, '_tmp', 'writer.lock')), 5_000, 'the exporter finished its shutdown');
    const m = run.pipeline.metrics;
    let end = await accounts(run);
    await until(async () => {
      end = await accounts(run);
      return end.duckdb + end.lost + end.failed === run.accepted;
    }, 5_000, 'every accepted span in DuckDB or counted as lost').catch((error: Error) => assert.fail(`${error.message}: ${JSON.stringify({ ...end, accepted: run.accepted })}`));
    assert.equal(end.duckdb, full.duckdb, 'nothing more could be written');
    assert.equal(end.lost, full.buffered, 'the exporter counts what it held');
    assert.equal(await m.sum('scope_parquet_rows_lost', { table: 'spans', reason: 'disk_full' }), full.buffered);
    assert.equal(end.failed, full.queued, 'the queue counts what it held');
    assert.equal(await m.sum('scope_exporter_send_failed_items', { exporter: 'parquet', reason: 'shutdown' }), full.queued);
    assert.equal(end.buffered, 0);
    assert.deepEqual(files(run.archive, '.tmp'), [], 'the unfinished file is removed');
    assert.ok(run.lines.some((l) => l.message === 'parquet exporter shutdown: rows the disk refused are lost' && l.fields.rows === full.buffered));
    t.diagnostic(`accepted ${run.accepted} = ${end.duckdb} in DuckDB + ${end.lost} lost in the exporter + ${end.failed} dropped from the queue`);
  });

  it('a read-only remount (EROFS) blocks and resumes the same way', async (t) => {
    let pipeline: Pipeline | undefined;
    const disk = smallDisk(t, '4m', async () => pipeline?.shutdown());
    const archive = join(disk, 'archive');
    const port = await freePort();
    const lines: Line[] = [];
    pipeline = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: {
        parquet: {
          path: archive, max_file_age: '200ms', retention: { spans: 0, events: 0, metrics: 0, check_interval: 0 },
          retry_on_failure: { initial_interval: '50ms', max_interval: '100ms', max_elapsed_time: 0 },
        },
      },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['parquet'] } }, telemetry: { metrics: { endpoint: '127.0.0.1:0' } } },
    }, { logger: captureLogger(lines) });
    await pipeline.start();
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await postSpans(base, range(0, 200).map((i) => otlpSpan(i)))).status, 200);
    await until(async () => (await pipeline.metrics.sum('scope_parquet_rows_written')) === 200, 5_000, 'the first file completed by age');
    // No file is open for writing now, so the filesystem can go read-only under the exporter.
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    try {
      assert.equal((await postSpans(base, range(200, 200).map((i) => otlpSpan(i)))).status, 200);
      await until(async () => (await health(pipeline)).status === 503, 5_000, '/healthz 503');
      assert.match((await health(pipeline)).body.components?.['exporter:parquet'] ?? '', /EROFS/);
      assert.equal((await postSpans(base, range(400, 200).map((i) => otlpSpan(i)))).status, 200);
      await until(async () => (await pipeline.metrics.sum('scope_exporter_queue_size', { exporter: 'parquet' })) === 200, 5_000, 'the queue holds the refused batch');
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', disk]);
    }
    await until(async () => (await health(pipeline)).status === 200, 5_000, '/healthz 200 again');
    assert.deepEqual(await pipeline.shutdown(), { drained: true });
    assert.deepEqual(await spanIds(archive), range(0, 600).map((i) => hex(i + 1, 16)).sort());
    assert.equal(await pipeline.metrics.sum('scope_parquet_rows_lost') + await pipeline.metrics.sum('scope_exporter_send_failed_items'), 0);
  });

  it('the daemon exits 1 when the disk is still full at shutdown', async (t) => {
    let daemon: ReturnType<typeof startDaemon> | undefined;
    const disk = smallDisk(t, '2m', async () => {
      daemon?.child.kill('SIGKILL');
      await daemon?.exited();
    });
    writeFileSync(join(disk, 'filler'), Buffer.alloc(1536 * 1024, 1));
    const dir = tempDir(t);
    const port = await freePort();
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(config, `
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:${port} } } }
exporters:
  parquet:
    path: ${join(disk, 'archive')}
    row_group_size: 200
    max_file_rows: 1000
    max_file_age: 1h
    compression: none
    retention: { spans: 0, check_interval: 0 }
    sending_queue: { queue_size: 1200 }
    retry_on_failure: { initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0 }
service:
  pipelines: { p: { receivers: [otlp], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
  shutdown_timeout: 2s
`);
    daemon = startDaemon(['--config', config]);
    const metricsUrl = await daemon.metricsUrl();
    const healthz = metricsUrl.replace(/\/metrics$/, '/healthz');
    await until(() => daemon.stderr().includes('pipeline started'), 10_000, 'the daemon started');
    const run = { base: `http://127.0.0.1:${port}`, accepted: 0, next: 0 };
    await fillUntilFull(run, async () => (await fetch(healthz)).status === 503);
    assert.match(await (await fetch(healthz)).text(), /ENOSPC/);
    const held = promValue(await (await fetch(metricsUrl)).text(), 'scope_parquet_rows_buffered', { table: 'spans' });
    assert.ok(held > 0);
    daemon.child.kill('SIGTERM');
    const exit = await daemon.exited();
    assert.equal(exit.code, 1, daemon.stderr().slice(-3000));
    const log = daemon.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(log.some((l) => l.msg === 'pipeline stopped' && l.drained === false));
    // What the exporter held is logged as lost: by its shutdown, or, when the process ends first, as it exits.
    const lost = log.filter((l) => l.msg === 'parquet exporter shutdown: rows the disk refused are lost' ||
      l.msg === 'the process exits before the parquet exporter finished its shutdown: the rows it held are lost');
    assert.equal(lost.reduce((n, l) => n + Number(l.rows), 0), held, JSON.stringify(lost));
    t.diagnostic(`daemon: exit ${exit.code}; ${held} held rows logged as lost by: ${lost.map((l) => l.msg).join('; ')}`);
  });
});
