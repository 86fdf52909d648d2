/**
 * The datadog exporter against the format of Datadog's own Node tracer:
 * dd-trace (a dev dependency) runs in a child process pointed at a local
 * capture server (DD_TRACE_AGENT_URL) and its /v0.4/traces payload is the
 * reference — same fields, same msgpack wire types, same headers. The agent
 * itself cannot run here; the capture server answers as its API documents
 * (200 with rate_by_service, or the error statuses under test).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { agentRateFor } from '../../src/util/agent_rates.js';
import { createPipeline, silentLogger, type Span } from '../../src/index.js';
import { ROOT, until } from '../helpers.js';
import { readTyped, spanShape, type Typed } from './msgpack_types.js';

interface Capture {
  port: number;
  requests: Array<{ url: string; method: string; headers: IncomingHttpHeaders; body: Buffer }>;
  /** Status to answer with, per request index (default 200). */
  status: (i: number) => number;
  server: Server;
}

async function capture(status: (i: number) => number = () => 200): Promise<Capture> {
  const c: Capture = { port: 0, requests: [], status, server: createServer() };
  c.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const i = c.requests.length;
      if (req.url?.startsWith('/v0.4/traces')) c.requests.push({ url: req.url, method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const code = req.url?.startsWith('/v0.4/traces') ? c.status(i) : 200;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(code === 200 ? '{"rate_by_service":{"service:,env:":1,"service:shop,env:prod":0.5}}' : code === 400 ? 'payload malformed: bad span' : 'overloaded');
    });
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', () => r()));
  c.port = (c.server.address() as { port: number }).port;
  return c;
}

const spansOf = (payload: Typed): Typed[] => (payload.value as Typed[]).flatMap((trace) => trace.value as Typed[]);
const field = (span: Typed, key: string): Typed | undefined => (span.value as Array<[Typed, Typed]>).find(([k]) => k.value === key)?.[1];
const family = (type: string): string => (type === 'uint64' ? 'uint64' : /^u?int/.test(type) ? 'integer' : type.startsWith('float') ? 'float' : type);

let reference: { spans: Typed[]; headers: IncomingHttpHeaders };

before(async () => {
  const c = await capture();
  const child = spawn(process.execPath, ['-e', `
    const tracer = require('dd-trace').init({ service: 'ref', env: 'test', version: '1.2.3', flushInterval: 50, startupLogs: false, remoteConfig: { enabled: false }, runtimeMetrics: false });
    const root = tracer.startSpan('web.request', { tags: { 'resource.name': 'GET /users/:id', 'span.type': 'web', 'span.kind': 'server', 'http.status_code': '200', custom: 'x', count: 5, ratio: 0.5 } });
    const child = tracer.startSpan('postgres.query', { childOf: root, tags: { 'resource.name': 'SELECT 1', 'span.type': 'sql', 'service.name': 'ref-db' } });
    child.setTag('error', new Error('boom'));
    child.finish();
    root.finish();
    setTimeout(() => process.exit(0), 1000);
  `], { cwd: ROOT, env: { ...process.env, DD_TRACE_AGENT_URL: `http://127.0.0.1:${c.port}`, DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false', DD_TRACE_STARTUP_LOGS: 'false' }, stdio: 'pipe' });
  await until(() => c.requests.length > 0, 20_000, 'dd-trace\'s payload');
  child.kill();
  c.server.close();
  reference = { spans: spansOf(readTyped(c.requests[0].body)), headers: c.requests[0].headers };
});

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

function span(overrides: Partial<Span> = {}): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b173', name: 'GET /users/:id', spanKind: 'server',
    startTimeUnixNano: 1_764_000_000_000_000_000n, endTimeUnixNano: 1_764_000_000_012_345_678n,
    attributes: { 'http.request.method': 'GET', 'http.route': '/users/:id', 'http.response.status_code': 200, 'beam.pid': '<0.90.0>', ratio: 0.5, ok: true },
    events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop', 'beam.node': 'shop@host' }, ...overrides,
  };
}

function pipeline(port: number, extra: Record<string, unknown> = {}) {
  return createPipeline({
    receivers: { push: {} },
    exporters: { datadog: { endpoint: `http://127.0.0.1:${port}`, env: 'prod', retry_on_failure: { initial_interval: '50ms', max_interval: '100ms' }, ...extra } },
    service: { pipelines: { p: { receivers: ['push'], exporters: ['datadog'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
}

describe('datadog exporter', () => {
  it('sends spans with the same fields, the same msgpack types and the same headers as dd-trace', async () => {
    const c = await capture();
    servers.push(c.server);
    const p = pipeline(c.port);
    await p.start();
    const error = span({
      spanId: 'eee19b7ec3c1b174', parentSpanId: 'eee19b7ec3c1b173', name: 'select users', spanKind: 'client',
      attributes: { 'db.system': 'postgresql', 'db.query.text': 'SELECT * FROM users WHERE id = ?', 'db.collection.name': 'users' },
      status: { code: 'error', message: 'timeout' },
      events: [{ name: 'exception', timeUnixNano: 1n, attributes: { 'exception.type': 'DBConnection.ConnectionError', 'exception.message': 'timeout', 'exception.stacktrace': 'lib/shop.ex:1' } }],
      resource: { 'service.name': 'shop-db' },
    });
    await p.push({ events: [], spans: [span(), error], metrics: [] });
    await p.shutdown();
    assert.equal(c.requests.length, 1);
    const ours = spansOf(readTyped(c.requests[0].body));
    assert.equal(ours.length, 2);

    const refShape = spanShape(reference.spans[0]);
    for (const s of ours) {
      const shape = spanShape(s);
      assert.deepEqual(Object.keys(shape).sort(), Object.keys(refShape).sort(), 'the same fields');
      for (const key of Object.keys(refShape)) {
        if (key === 'meta' || key === 'metrics') continue;
        assert.equal(family(shape[key]), family(refShape[key]), `${key}: ${shape[key]} vs dd-trace's ${refShape[key]}`);
      }
      assert.equal(shape.meta, 'map{str→str}', 'string-only meta, as dd-trace');
      const metricTypes = (field(s, 'metrics')?.value as Array<[Typed, Typed]>).map(([, v]) => family(v.type));
      const refMetricTypes = new Set((field(reference.spans[0], 'metrics')?.value as Array<[Typed, Typed]>).map(([, v]) => family(v.type)));
      for (const t of metricTypes) assert.ok(refMetricTypes.has(t), `metric type ${t} is one dd-trace uses`);
    }
    for (const h of ['content-type', 'datadog-meta-lang', 'datadog-meta-lang-version', 'datadog-meta-tracer-version', 'x-datadog-trace-count']) {
      assert.ok(reference.headers[h], `dd-trace sends ${h}`);
      assert.ok(c.requests[0].headers[h], `we send ${h}`);
    }
    assert.equal(c.requests[0].headers['content-type'], reference.headers['content-type']);
    assert.equal(c.requests[0].headers['x-datadog-trace-count'], '1');
    assert.equal(c.requests[0].method, 'PUT');

    // Values: ids, 128-bit trace id through _dd.p.tid, names, resources, services, errors.
    const [web, db] = ours;
    assert.equal((field(web, 'trace_id') as Typed).value, 0xd269b633813fc60cn);
    const meta = (s: Typed): Record<string, string> => Object.fromEntries((field(s, 'meta')?.value as Array<[Typed, Typed]>).map(([k, v]) => [k.value, v.value]));
    const metrics = (s: Typed): Record<string, unknown> => Object.fromEntries((field(s, 'metrics')?.value as Array<[Typed, Typed]>).map(([k, v]) => [k.value, Number(v.value)]));
    assert.equal(meta(web)['_dd.p.tid'], '5b8efff798038103');
    assert.equal(`${meta(web)['_dd.p.tid']}${(field(web, 'trace_id')?.value as bigint).toString(16).padStart(16, '0')}`, '5b8efff798038103d269b633813fc60c');
    assert.equal(field(db, 'parent_id')?.value, 0xeee19b7ec3c1b173n);
    assert.equal(field(web, 'parent_id')?.value, 0n);
    assert.deepEqual([field(web, 'name')?.value, field(web, 'resource')?.value, field(web, 'service')?.value, field(web, 'type')?.value], ['phoenix.request', 'GET /users/:id', 'shop', 'web']);
    assert.deepEqual([field(db, 'name')?.value, field(db, 'resource')?.value, field(db, 'service')?.value, field(db, 'type')?.value], ['ecto.query', 'SELECT * FROM users WHERE id = ?', 'shop-db', 'db']);
    assert.equal(field(db, 'error')?.value, 1n);
    assert.deepEqual([meta(db)['error.message'], meta(db)['error.type'], meta(db)['error.stack']], ['timeout', 'DBConnection.ConnectionError', 'lib/shop.ex:1']);
    assert.equal(field(web, 'duration')?.value, 12_345_678n);
    assert.equal(field(web, 'start')?.value, 1_764_000_000_000_000_000n);
    assert.equal(meta(web).env, 'prod');
    assert.equal(meta(web)['beam.pid'], '<0.90.0>');
    assert.equal(meta(web).ok, 'true');
    assert.equal(metrics(web)['http.response.status_code'], 200);
    assert.equal(metrics(web).ratio, 0.5);
    assert.equal(metrics(web)['_dd.top_level'], 1, 'the root is a service entry');
    assert.equal(metrics(db)['_dd.top_level'], 1, 'a child in another service is one too');
    assert.equal(metrics(web)['_sampling_priority_v1'], 1);
    assert.equal(agentRateFor('shop', 'prod'), 0.5, 'the agent\'s rate_by_service is shared for the sampling processor');
  });

  it('metrics: gauges, count deltas of cumulative sums and anomaly counts to DogStatsD, tag sets bounded', async () => {
    const udp = createSocket('udp4');
    const lines: string[] = [];
    udp.on('message', (msg) => lines.push(...msg.toString().split('\n')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const c = await capture();
    servers.push(c.server);
    const p = pipeline(c.port, { metrics: true, statsd_endpoint: `127.0.0.1:${udp.address().port}`, max_tag_sets_per_metric: 2 });
    await p.start();
    const point = (name: string, value: number, attributes: Record<string, string | number>, type: 'gauge' | 'sum' = 'gauge') => ({
      name, type, value, timeUnixNano: 1n, attributes, resource: { 'service.name': 'shop', 'beam.node': 'shop@host' }, ...(type === 'sum' ? { monotonic: true } : {}),
    });
    await p.push({
      events: [{ id: 'a1', type: 'anomaly.detected', schemaVersion: 1, time: 1n, source: { node: 'shop@host', component: 'anomaly' }, attributes: { 'anomaly.kind': 'mailbox_growth' } }],
      spans: [],
      metrics: [
        point('beam.process.message_queue_len', 12, { 'beam.pid': '<0.90.0>' }),
        point('beam.process.message_queue_len', 7, { 'beam.pid': '<0.91.0>' }),
        point('beam.process.message_queue_len', 3, { 'beam.pid': '<0.92.0>' }),
        point('scope_beam.forwarder.sent', 100, {}, 'sum'),
      ],
    });
    await p.push({ events: [], spans: [], metrics: [point('scope_beam.forwarder.sent', 130, {}, 'sum')] });
    await until(() => lines.some((l) => l.startsWith('scope_beam.forwarder.sent')), 5_000, 'the count delta');
    await p.shutdown();
    udp.close();
    assert.ok(lines.includes('beam.process.message_queue_len:12|g|#beam.node:shop@host,beam.pid:<0.90.0>,service:shop'), lines.join('\n'));
    assert.ok(lines.includes('beam.process.message_queue_len:7|g|#beam.node:shop@host,beam.pid:<0.91.0>,service:shop'));
    assert.ok(lines.includes('beam.process.message_queue_len:3|g|#beam.node:shop@host,service:shop'), 'the third tag set is over the bound: resource tags only');
    assert.ok(lines.includes('scope_beam.forwarder.sent:30|c|#beam.node:shop@host,service:shop'), 'cumulative sums as deltas');
    assert.ok(lines.includes('scope.anomaly.detected:1|c|#kind:mailbox_growth,beam.node:shop@host'));
  });

  it('503 for a while loses nothing within the queue; 400 drops the batch, counted once', async () => {
    const flaky = await capture((i) => (i < 3 ? 503 : 200));
    servers.push(flaky.server);
    const p = pipeline(flaky.port);
    await p.start();
    for (let b = 0; b < 5; b++) await p.push({ events: [], spans: Array.from({ length: 10 }, (_, i) => span({ traceId: `${b}`.padStart(32, '0'), spanId: `${b * 100 + i + 1}`.padStart(16, '0') })), metrics: [] });
    await until(async () => (await p.metrics.sum('scope_exporter_sent_items', { exporter: 'datadog' })) === 50, 15_000, 'all 50 spans after the 503s');
    await p.shutdown();
    const ids = flaky.requests.filter((_, i) => i >= 3).flatMap((r) => spansOf(readTyped(r.body)).map((s) => field(s, 'span_id')?.value));
    assert.equal(new Set(ids).size, 50, 'every span delivered');
    assert.equal(ids.length, 50, 'and once');

    const bad = await capture(() => 400);
    servers.push(bad.server);
    const q = pipeline(bad.port);
    await q.start();
    await q.push({ events: [], spans: [span(), span({ spanId: 'eee19b7ec3c1b175' })], metrics: [] });
    await until(async () => (await q.metrics.sum('scope_exporter_send_failed_items', { exporter: 'datadog' })) === 2, 10_000, 'the rejected batch counted');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bad.requests.length, 1, 'not retried');
    await q.shutdown();
  });

  it('splits a large batch into payloads of whole traces below max_payload_bytes', async () => {
    const c = await capture();
    servers.push(c.server);
    const p = pipeline(c.port, { max_payload_bytes: 4096 });
    await p.start();
    const spans = Array.from({ length: 200 }, (_, i) => span({ traceId: `${Math.floor(i / 4)}`.padStart(32, 'a'), spanId: `${i + 1}`.padStart(16, '0') }));
    await p.push({ events: [], spans, metrics: [] });
    await p.shutdown();
    assert.ok(c.requests.length > 5);
    let total = 0;
    for (const r of c.requests) {
      assert.ok(r.body.length <= 4096 + 5);
      const traces = readTyped(r.body).value as Typed[];
      assert.equal(r.headers['x-datadog-trace-count'], String(traces.length));
      for (const t of traces) assert.equal((t.value as Typed[]).length, 4, 'traces are never split');
      total += traces.length;
    }
    assert.equal(total, 50);
  });
});
