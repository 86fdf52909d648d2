/**
 * The correlation processor end to end: a real erl node traced through the IP
 * trace port (test/beam/correlation_workload.erl), its events correlated into
 * spans and crash chains.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, registerComponent, silentLogger, type ScopeEvent, type Span } from '../../src/index.js';
import { createServer } from 'node:http';
import { Collector, until } from '../helpers.js';
import { readTyped, type Typed } from '../exporters/msgpack_types.js';
import { compileErlang, freePort, startErl, type ErlNode } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('correlation_sink'));
let codePath = '';
before(() => {
  codePath = compileErlang('correlation_workload');
});

const nodes: ErlNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

interface Scenario {
  pids: Record<string, string>;
  measured: Record<string, number>;
  spans: () => Span[];
  events: () => ScopeEvent[];
}

/** Where the correlated spans go: straight to the sink, or over OTLP/gRPC into a second pipeline that feeds it. */
async function scenario(t: { after(fn: () => Promise<unknown>): void }, name: string, via: 'sink' | 'otlp' | 'datadog' = 'sink', datadogPort = 0): Promise<Scenario> {
  const port = await freePort();
  const node = startErl(codePath, 'correlation_workload', 'main', [String(port), name]);
  nodes.push(node);
  await node.line('port ');
  let exporters: Record<string, unknown> = { correlation_sink: {} };
  if (via === 'otlp') {
    const grpc = await freePort();
    const downstream = createPipeline({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${grpc}` } } } },
      exporters: { correlation_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['correlation_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await downstream.start();
    t.after(() => downstream.shutdown());
    exporters = { otlp: { endpoint: `127.0.0.1:${grpc}` } };
  }
  if (via === 'datadog') exporters = { correlation_sink: {}, datadog: { endpoint: `http://127.0.0.1:${datadogPort}`, timeout: '2s' } };
  const pipeline = createPipeline({
    receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}` } },
    processors: { correlation: { crash_window: '300ms' } },
    exporters,
    service: { pipelines: { p: { receivers: ['beam_trace_port'], processors: ['correlation'], exporters: Object.keys(exporters) } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
  t.after(() => pipeline.shutdown());
  await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'the receiver to connect');
  const first = sink.batches.length;
  node.send('go\n');
  await node.line('done');
  const pids: Record<string, string> = {};
  const measured: Record<string, number> = {};
  for (const l of node.lines) {
    const [kind, key, value] = l.split(' ');
    if (kind === 'pid') pids[key] = value;
    if (kind === 'measured') measured[key] = Number(value);
  }
  return {
    pids,
    measured,
    spans: () => sink.batches.slice(first).flatMap((b) => b.spans),
    events: () => sink.batches.slice(first).flatMap((b) => b.events),
  };
}

const durationMs = (s: Span): number => Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;

describe('correlation processor on a real erl node', () => {
  it('a gen_server call chain client → a → b → c is one trace across the processes, durations as the node measured them', async (t) => {
    const run = await scenario(t, 'chain');
    const handleCall = (pid: string) => run.spans().find((s) => s.name === 'correlation_workload:handle_call/3' && s.attributes['beam.pid'] === pid
      && s.attributes['beam.pid'] !== undefined && s.parentSpanId !== undefined);
    await until(() => ['a', 'b', 'c'].every((n) => handleCall(run.pids[n]) !== undefined), 10_000, 'the three handle_call spans');
    const [a, b, c] = ['a', 'b', 'c'].map((n) => handleCall(run.pids[n]) as Span);
    const byId = new Map(run.spans().map((s) => [s.spanId, s]));
    await until(() => byId.size > 0 && [a, b, c].every((s) => s.parentSpanId !== undefined && (byId.set(s.spanId, s), true)), 5_000, 'spans');

    // One trace.
    assert.equal(new Set([a.traceId, b.traceId, c.traceId]).size, 1, 'a, b and c in one trace');
    // a's handle_call runs inside a's handling of the client's call; the client's work began with its `go`
    // message from the (untraced) test process: that is the root.
    const aHandling = run.spans().find((s) => s.spanId === a.parentSpanId) as Span;
    assert.equal(aHandling.attributes['beam.pid'], run.pids.a);
    assert.equal(aHandling.spanKind, 'server');
    assert.equal(aHandling.attributes['beam.peer_pid'], run.pids.client);
    assert.equal(aHandling.name, 'correlation_workload handle_call work', 'named after the callback module (a was registered before tracing began)');
    await until(() => run.spans().some((s) => s.spanId === aHandling.parentSpanId), 5_000, 'the client span');
    const root = run.spans().find((s) => s.spanId === aHandling.parentSpanId) as Span;
    assert.equal(root.attributes['beam.pid'], run.pids.client);
    assert.equal(root.parentSpanId, undefined, 'the trace roots at a message from an untraced source');
    assert.equal(root.attributes['scope.untraced_sender'], true);
    assert.equal(root.traceId, a.traceId);
    // b's handling span is a child of a's handle_call (a's active span when it sent the call), and so on.
    const bHandling = run.spans().find((s) => s.spanId === b.parentSpanId) as Span;
    assert.equal(bHandling.attributes['beam.pid'], run.pids.b);
    assert.equal(bHandling.parentSpanId, a.spanId);
    const cHandling = run.spans().find((s) => s.spanId === c.parentSpanId) as Span;
    assert.equal(cHandling.parentSpanId, b.spanId);
    assert.equal(c.attributes['code.namespace'], 'correlation_workload');
    assert.equal(c.attributes['code.function'], 'handle_call');
    assert.equal(c.resource['beam.node'], a.resource['beam.node']);

    // Durations: trace timestamps against the node's own monotonic clock around the work, within 1 ms.
    for (const [name, span] of [['a', a], ['b', b], ['c', c]] as const) {
      const own = run.measured[name] / 1e6;
      assert.ok(Math.abs(durationMs(span) - own) < 1, `${name}: span ${durationMs(span)} ms, node measured ${own} ms`);
    }
    assert.ok(durationMs(a) > durationMs(b) && durationMs(b) > durationMs(c));
  });

  it('the chain\'s spans keep their parent links through the otlp exporter into a second scope-pipeline (what Jaeger/Tempo show)', async (t) => {
    const run = await scenario(t, 'chain', 'otlp');
    const received = (): Span[] => run.spans().filter((s) => s.name === 'correlation_workload:handle_call/3' && s.parentSpanId !== undefined);
    await until(() => new Set(received().map((s) => s.attributes['beam.pid'])).size >= 3, 15_000, 'the handle_call spans over OTLP');
    const byId = new Map(run.spans().map((s) => [s.spanId, s]));
    const [a, b, c] = ['a', 'b', 'c'].map((n) => received().find((s) => s.attributes['beam.pid'] === run.pids[n]) as Span);
    await until(() => run.spans().some((s) => s.spanId === c.parentSpanId), 10_000, 'c\'s handling span');
    for (const s of run.spans()) byId.set(s.spanId, s);
    const parentOf = (s: Span): Span | undefined => byId.get(s.parentSpanId ?? '');
    assert.equal(parentOf(parentOf(c) as Span)?.spanId, b.spanId, 'c handles what b sent');
    assert.equal(parentOf(parentOf(b) as Span)?.spanId, a.spanId, 'b handles what a sent');
    assert.equal(new Set([a.traceId, b.traceId, c.traceId]).size, 1);
    assert.equal(a.resource['beam.node'], c.resource['beam.node']);
    assert.equal(typeof a.resource['service.name'], 'string');
  });

  it('a poison message crashes a supervised worker: process.crash names the message, its sender, the linked process that died and the restart', async (t) => {
    const run = await scenario(t, 'crash');
    const crashes = (): ScopeEvent[] => run.events().filter((e) => e.type === 'process.crash');
    await until(() => crashes().length >= 1, 10_000, 'the process.crash event');
    await new Promise((r) => setTimeout(r, 500)); // any other (wrong) crash event would be out by now
    const worker = crashes().find((e) => e.pid === run.pids.worker) as ScopeEvent;
    // The helper died of the worker's exit signal: its own code raised nothing, OTP reports nothing for it.
    assert.deepEqual(crashes().map((c) => c.pid), [run.pids.worker]);

    assert.equal(worker.attributes['scope.crash.root_cause'], true);
    assert.match(String(worker.attributes['beam.reason']), /^\{badarith,/);
    assert.match(String(worker.attributes['scope.crash.poison_message']), /^\{'\$gen_cast',\{poison,0\}\}$/);
    assert.equal(worker.attributes['scope.crash.poison_sender'], run.pids.client);
    // Started before tracing began, with plain dbg (no snapshot): its restart (same start, by its supervisor) tells who it was.
    assert.equal(worker.attributes['scope.crash.rule'], 'crash_report');
    assert.equal(worker.attributes['beam.initial_call'], 'correlation_workload:init/1');
    const stack = worker.attributes['scope.crash.stack'] as string[];
    assert.equal(stack[0], 'erlang:div/2', 'innermost first, from the exit reason\'s stacktrace');
    assert.match(stack[1], /^correlation_workload:handle_cast\/2 \(test\/beam\/correlation_workload\.erl:\d+\)$/);
    const next = worker.attributes['scope.crash.died_next'] as Array<Record<string, unknown>>;
    assert.deepEqual(next.map((d) => d.pid), [run.pids.helper]);
    assert.equal(next[0].reason, worker.attributes['beam.reason']);
    const restarts = worker.attributes['scope.crash.restarts'] as Array<Record<string, unknown>>;
    assert.equal(restarts.length, 1);
    assert.equal(restarts[0].supervisor, run.pids.supervisor);
    assert.equal(restarts[0].new_pid, run.pids.restarted);
    assert.ok(worker.traceId && worker.spanId, 'the crash points at the span it happened in');
    // The sender's span at the send: the client's handling of its `go`.
    const senderSpan = run.spans().find((s) => s.spanId === worker.attributes['scope.crash.poison_sender_span_id']);
    assert.equal(senderSpan?.attributes['beam.pid'], run.pids.client);
    assert.equal(senderSpan?.traceId, worker.attributes['scope.crash.poison_sender_trace_id']);
    assert.equal(worker.traceId, senderSpan?.traceId, 'the crash is in the trace of the request that carried the poison');
    const last = worker.attributes['scope.crash.last_messages'] as Array<Record<string, unknown>>;
    assert.ok(last.length > 0 && last.length <= 10, 'the last crash_context_messages messages');

    // The helper was linked before tracing began (as on a live node): found by its identical exit reason.
    assert.equal(next[0].caused_by, run.pids.worker);

    // The ERROR span event on the span the worker was in: its handling of the poison cast.
    await until(() => run.spans().some((s) => s.spanId === worker.spanId), 5_000, 'the crashed span');
    const span = run.spans().find((s) => s.spanId === worker.spanId) as Span;
    assert.equal(span.status.code, 'error');
    assert.match(span.name, /handle_cast poison$/);
    const event = span.events.find((e) => e.name === 'exception');
    assert.equal(event?.attributes['exception.type'], 'exit');
    assert.equal(event?.attributes['scope.crash.poison_message'], "{'$gen_cast',{poison,0}}");
  });

  it('seq_trace: with no send/receive tracing at all, the token\'s serials link the echo\'s work to the client\'s call', async (t) => {
    const run = await scenario(t, 'seqtrace');
    const named = (name: string) => run.spans().find((s) => s.name === name);
    await until(() => named('correlation_workload:echo_work/1') !== undefined && named('correlation_workload:client_work/1') !== undefined, 10_000, 'both calls');
    const client = named('correlation_workload:client_work/1') as Span;
    const echo = named('correlation_workload:echo_work/1') as Span;
    await until(() => run.spans().some((s) => s.spanId === echo.parentSpanId), 10_000, 'the echo\'s handling span');
    const handling = run.spans().find((s) => s.spanId === echo.parentSpanId) as Span;
    assert.equal(handling.attributes['beam.pid'], run.pids.echo);
    assert.match(String(handling.attributes['beam.seq_trace.serial']), /^\{\d+,\d+\}$/);
    assert.equal(handling.parentSpanId, client.spanId, 'the echo handles what client_work sent');
    assert.equal(echo.traceId, client.traceId);
  });

  it('through the datadog exporter: the agent gets the structure, services, resources and errors the correlation made, 128-bit ids intact', async (t) => {
    // A capture server stands in for the Datadog Agent (it cannot run here), answering as its API documents.
    const payloads: Buffer[] = [];
    const agent = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        if (req.url === '/v0.4/traces') payloads.push(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"rate_by_service":{"service:,env:":1}}');
      });
    });
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => agent.close(() => r())));
    const run = await scenario(t, 'crash', 'datadog', (agent.address() as { port: number }).port);
    await until(() => run.events().some((e) => e.type === 'process.crash'), 10_000, 'the crash');
    const made = run.spans();
    const field = (s: Typed, key: string): Typed['value'] | undefined => (s.value as Array<[Typed, Typed]>).find(([k]) => k.value === key)?.[1].value;
    const dd = () => payloads.flatMap((p) => (readTyped(p).value as Typed[]).flatMap((trace) => trace.value as Typed[]));
    await until(() => made.length > 0 && made.every((s) => dd().some((d) => field(d, 'span_id') === BigInt(`0x${s.spanId}`))), 15_000, 'every correlated span at the agent');
    const byId = new Map(dd().map((d) => [field(d, 'span_id') as bigint, d]));
    for (const s of made) {
      const d = byId.get(BigInt(`0x${s.spanId}`)) as Typed;
      const meta = Object.fromEntries((field(d, 'meta') as Array<[Typed, Typed]>).map(([k, v]) => [k.value, v.value]));
      assert.equal(field(d, 'parent_id'), s.parentSpanId ? BigInt(`0x${s.parentSpanId}`) : 0n, `${s.name}: parent`);
      assert.equal(`${meta['_dd.p.tid']}${(field(d, 'trace_id') as bigint).toString(16).padStart(16, '0')}`, s.traceId, '128-bit trace id via _dd.p.tid');
      assert.equal(field(d, 'service'), s.resource['service.name']);
      assert.equal(field(d, 'resource'), s.name);
      assert.equal(field(d, 'error'), s.status.code === 'error' ? 1n : 0n, `${s.name}: error flag`);
    }
    const crashed = made.find((s) => s.status.code === 'error' && s.attributes['beam.pid'] === run.pids.worker) as Span;
    const d = byId.get(BigInt(`0x${crashed.spanId}`)) as Typed;
    assert.equal(field(d, 'name'), 'beam.message');
    const meta = Object.fromEntries((field(d, 'meta') as Array<[Typed, Typed]>).map(([k, v]) => [k.value, v.value]));
    assert.match(String(meta['error.message']), /^\{badarith,/);
    assert.equal(meta['error.type'], 'exit');
  });

  it('recursion 1000 deep and an exception unwinding through it: nested spans, the error on the frames it passed, not on the catcher', async (t) => {
    const run = await scenario(t, 'recursion');
    const deep = (): Span[] => run.spans().filter((s) => s.name === 'correlation_workload:deep/1');
    await until(() => deep().length === 1001 && run.spans().some((s) => s.name === 'correlation_workload:catcher/0'), 15_000, '1001 deep spans and the catcher');
    const catcher = run.spans().find((s) => s.name === 'correlation_workload:catcher/0') as Span;
    assert.equal(catcher.status.code, 'unset', 'the catcher caught it');
    const byParent = new Map(deep().map((s) => [s.parentSpanId, s]));
    // Walk from the catcher down: each deep frame is the only child of the one above.
    let parent = catcher;
    for (let depth = 0; depth <= 1000; depth++) {
      const child = byParent.get(parent.spanId);
      assert.ok(child, `frame ${depth} under its caller`);
      assert.equal(child.status.code, 'error');
      assert.equal(child.attributes['exception.type'], 'error');
      assert.equal(child.attributes['exception.message'], 'boom');
      assert.ok(child.startTimeUnixNano >= parent.startTimeUnixNano && child.endTimeUnixNano <= parent.endTimeUnixNano, 'nested in time');
      parent = child;
    }
    assert.equal(new Set(deep().map((s) => s.traceId)).size, 1);
  });
});
