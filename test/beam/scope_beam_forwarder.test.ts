/**
 * ScopeBeam.attach/1 in a real Elixir node, sending to a real beam_telemetry
 * receiver: Phoenix, LiveView, Ecto and Broadway events with their units
 * converted and their metadata filtered, GenServer state changes, process
 * samples as metric points, and the forwarder riding out a pipeline restart.
 *
 * The node runs a stand-in for the :telemetry library (beam-receiver/test/support/telemetry.erl,
 * written from telemetry 1.x's published API): hex.pm, where the real one lives, is not reachable here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createPipeline, registerComponent, silentLogger, type MetricPoint, type Pipeline, type ScopeEvent } from '../../src/index.js';
import { Collector, freePort, outputOf, processScratchDir, ROOT, until } from '../helpers.js';
import { BEAM_TEST_SOURCES } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('forwarder_sink'));
const BEAM_RECEIVER = join(ROOT, 'beam-receiver');
let ebin = '';
let telemetryEbin = '';

before(() => {
  // prod, so this file never builds into the same _build directory as another test file running beside it.
  execFileSync('mix', ['compile'], { cwd: BEAM_RECEIVER, env: { ...process.env, MIX_ENV: 'prod', HEX_OFFLINE: '1' }, stdio: 'pipe' });
  ebin = join(BEAM_RECEIVER, '_build', 'prod', 'lib', 'scope_beam', 'ebin');
  telemetryEbin = processScratchDir('scope-telemetry-');
  execFileSync('erlc', ['-o', telemetryEbin, join(BEAM_RECEIVER, 'test', 'support', 'telemetry.erl')], { stdio: 'pipe' });
});

interface ElixirNode {
  child: ChildProcessWithoutNullStreams;
  line(prefix: string, timeoutMs?: number): Promise<string>;
  send(command: string): void;
  stop(): Promise<void>;
}

const nodes: ElixirNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

function startScenario(port: number): ElixirNode {
  const child = spawn('elixir', ['-pa', ebin, '-pa', telemetryEbin, join(BEAM_TEST_SOURCES, 'scope_beam_forwarder.exs'), String(port)], { stdio: 'pipe' });
  const { lines, stderr: stderrText } = outputOf(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const node: ElixirNode = {
    child,
    async line(prefix, timeoutMs = 30_000) {
      let index = -1;
      await until(() => {
        index = lines.findIndex((l) => l.startsWith(prefix));
        if (index < 0 && child.exitCode !== null) throw new Error(`elixir exited: ${lines.join('\n')}\n${stderrText()}`);
        return index >= 0;
      }, timeoutMs, `"${prefix}" from the Elixir node (stdout: ${lines.join(' | ')}; stderr: ${stderrText()})`);
      // Taken, so the same command can be awaited again.
      return lines.splice(index, 1)[0].slice(prefix.length).trim();
    },
    send(command) {
      child.stdin.write(`${command}\n`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  nodes.push(node);
  return node;
}

async function receiver(port: number, correlation = false): Promise<Pipeline> {
  const pipeline = createPipeline({
    receivers: { beam_telemetry: { endpoint: `127.0.0.1:${port}`, auth: { token: 's3cret' } } },
    ...(correlation ? { processors: { correlation: {} } } : {}),
    exporters: { forwarder_sink: {} },
    service: {
      pipelines: { p: { receivers: ['beam_telemetry'], ...(correlation ? { processors: ['correlation'] } : {}), exporters: ['forwarder_sink'] } },
      telemetry: { metrics: { level: 'none' } },
    },
  }, { logger: silentLogger });
  await pipeline.start();
  return pipeline;
}

const events = (): ScopeEvent[] => sink.batches.flatMap((b) => b.events);
const metrics = (): MetricPoint[] => sink.batches.flatMap((b) => b.metrics);
const ofType = (type: string): ScopeEvent[] => events().filter((e) => e.type === type);
const measurement = (e: ScopeEvent, key: string): unknown => (e.attributes.measurements as Record<string, unknown>)[key];

describe('scope_beam forwarder → beam_telemetry receiver (real Elixir node)', () => {
  it('Phoenix, LiveView, Ecto and Broadway events arrive in ns with chosen metadata only; secrets never reach the pipeline', async (t) => {
    const port = await freePort();
    const pipeline = await receiver(port);
    t.after(() => pipeline.shutdown());
    const node = startScenario(port);
    const native = Number(await node.line('native '));
    await node.line('connected');
    node.send('emit');
    await node.line('emitted');
    await until(() => ofType('state.change').length === 2 && ofType('telemetry.broadway.processor.message.stop').length === 1, 15_000, 'the events');

    const start = ofType('telemetry.phoenix.endpoint.start')[0];
    const stop = ofType('telemetry.phoenix.endpoint.stop')[0];
    assert.ok(start && stop, 'endpoint start and stop');
    assert.equal(start.source.app, 'shop');
    assert.equal(start.source.component, 'beam_telemetry');
    assert.match(String(start.pid), /^<\d+\.\d+\.\d+>$/);
    assert.equal(stop.attributes.telemetry_span_context, start.attributes.telemetry_span_context, 'span context pairs start and stop');
    assert.ok(BigInt(String(measurement(start, 'system_time_unix_ns'))) > 1_700_000_000_000_000_000n);
    assert.equal(typeof measurement(stop, 'duration_ns'), 'number');
    assert.deepEqual(
      { method: stop.attributes.method, path: stop.attributes.path, status: stop.attributes.status, remote_ip: stop.attributes.remote_ip,
        request_id: stop.attributes.request_id, user_agent: stop.attributes.user_agent, controller: stop.attributes.controller },
      { method: 'POST', path: '/users/42', status: 200, remote_ip: '10.0.0.7', request_id: 'GHxYz', user_agent: 'curl/8.5.0', controller: 'ShopWeb.UserController' },
    );

    const dispatch = ofType('telemetry.phoenix.router_dispatch.stop')[0];
    assert.equal(measurement(dispatch, 'duration_ns'), 42_000_000, `42 ms in native units (${native}/s) is 42 000 000 ns`);
    assert.equal(dispatch.attributes.route, '/users/:id');
    assert.equal(dispatch.attributes.plug, 'ShopWeb.UserController');

    const live = ofType('telemetry.phoenix.live_view.handle_event.stop')[0];
    assert.equal(live.attributes.view, 'ShopWeb.CheckoutLive');
    assert.equal(live.attributes.event, 'pay');
    assert.equal(measurement(live, 'duration_ns'), 3_000_000);

    const query = ofType('telemetry.shop.repo.query')[0];
    assert.deepEqual(
      [measurement(query, 'total_time_ns'), measurement(query, 'query_time_ns'), measurement(query, 'decode_time_ns'), measurement(query, 'queue_time_ns'), measurement(query, 'idle_time_ns')],
      [5_000_000, 4_000_000, 1_000_000, 0, 100_000_000],
    );
    assert.equal(query.attributes.repo, 'Shop.Repo');
    assert.equal(query.attributes.source, 'users');
    assert.equal(query.attributes.result_rows, 1);
    assert.equal(query.attributes.query, 'UPDATE "users" SET "password_hash" = $1 WHERE "id" = $2');
    assert.equal(query.attributes.params, undefined);

    const message = ofType('telemetry.broadway.processor.message.stop')[0];
    assert.equal(message.attributes.topology_name, 'Shop.Orders');
    assert.equal(message.attributes.message_status, 'ok');

    const everything = JSON.stringify(events(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const secret of ['hunter2', 'SFMyNTY', 'Bearer', 'eyJhbGci', 'token=abc123', '4111111111111111', 'ada@example.com', 'skb-secret', 'sess']) {
      assert.equal(everything.includes(secret), false, `${secret} reached the pipeline`);
    }
    const all = events().filter((e) => e.type.startsWith('telemetry.'));
    assert.ok(all.every((e) => !('conn' in e.attributes) && !('socket' in e.attributes) && !('assigns' in e.attributes)));

    // ScopeBeam.watch/2: one state.change per handled call, chained old → new.
    const cart = `<${await node.line('cart <')}`;
    const changes = ofType('state.change');
    assert.deepEqual(changes.map((c) => c.pid), [cart, cart]);
    assert.deepEqual(changes.map((c) => c.attributes['beam.message']), ['{:add, "apple", 5}', '{:add, "pear", 3}']);
    assert.equal(changes[0].attributes.old_state, '%{items: %{}, total: 0}');
    assert.equal(changes[0].attributes.new_state, '%{items: %{"apple" => 5}, total: 5}');
    assert.equal(changes[1].attributes.old_state, changes[0].attributes.new_state);
    assert.equal(changes[1].attributes.new_state, '%{items: %{"apple" => 5, "pear" => 3}, total: 8}');
    assert.deepEqual(changes[1].attributes.diff, { items: { old: '%{"apple" => 5}', new: '%{"apple" => 5, "pear" => 3}' }, total: { old: '5', new: '8' } });
    assert.equal(changes[0].attributes.kind, 'call');
    assert.equal(changes[0].attributes['beam.module'], 'Cart');

    // The sampler: system gauges and the top processes by mailbox, with the node as resource.
    await until(() => metrics().some((m) => m.name === 'beam.process.message_queue_len' && m.attributes['beam.registered_name'] === 'scenario_mailbox_hog'), 10_000, 'the hog in the top processes');
    const hog = metrics().find((m) => m.name === 'beam.process.message_queue_len' && m.attributes['beam.registered_name'] === 'scenario_mailbox_hog') as MetricPoint;
    assert.equal(hog.value, 300);
    assert.equal(hog.type, 'gauge');
    assert.equal(hog.unit, '{message}');
    assert.equal(hog.resource['service.name'], 'shop');
    assert.equal(hog.resource['beam.node'], start.source.node);
    const names = new Set(metrics().map((m) => m.name));
    for (const n of ['beam.process.count', 'beam.run_queue', 'beam.memory', 'beam.scheduler.utilization', 'scope_beam.forwarder.sent', 'scope_beam.forwarder.dropped']) assert.ok(names.has(n), n);
    // The forwarder's own counter catches up with what it sent (9 events, 2 changes, earlier samples).
    await until(() => metrics().some((m) => m.name === 'scope_beam.forwarder.sent' && m.value >= 11), 10_000, 'the sent counter');
    assert.ok(metrics().filter((m) => m.name === 'scope_beam.forwarder.sent').every((m) => m.type === 'sum' && m.monotonic === true));

    node.send('detach');
    assert.equal(await node.line('detached '), '0', 'no handler left attached');
  });

  it('through the correlation processor: the request is a server span named by its route, the Ecto query its client child', async (t) => {
    const port = await freePort();
    const pipeline = await receiver(port, true);
    t.after(() => pipeline.shutdown());
    const node = startScenario(port);
    await node.line('connected');
    const first = sink.batches.length;
    node.send('emit');
    await node.line('emitted');
    const spans = () => sink.batches.slice(first).flatMap((b) => b.spans);
    await until(() => spans().some((s) => s.name === 'POST /users/:id') && spans().some((s) => s.name === 'update users'), 10_000, 'the request and query spans');
    const request = spans().find((s) => s.name === 'POST /users/:id')!;
    const query = spans().find((s) => s.name === 'update users')!;
    assert.equal(request.spanKind, 'server');
    assert.equal(request.parentSpanId, undefined);
    assert.deepEqual(
      [request.attributes['http.request.method'], request.attributes['http.route'], request.attributes['url.path'], request.attributes['http.response.status_code']],
      ['POST', '/users/:id', '/users/42', 200],
    );
    assert.equal(request.resource['service.name'], 'shop');
    assert.equal(query.spanKind, 'client');
    assert.equal(query.parentSpanId, request.spanId);
    assert.equal(query.traceId, request.traceId);
    assert.deepEqual([query.attributes['db.system'], query.attributes['db.collection.name'], query.attributes['db.operation.name']], ['postgresql', 'users', 'update']);
    assert.equal(query.endTimeUnixNano - query.startTimeUnixNano, 5_000_000n, 'the query\'s total_time');
    // The request span lasts what the node measured (telemetry's duration, from its monotonic clock), within 1 ms.
    const stop = sink.batches.slice(first).flatMap((b) => b.events).find((e) => e.type === 'telemetry.phoenix.endpoint.stop')!;
    const measured = Number((stop.attributes.measurements as Record<string, number>).duration_ns);
    assert.ok(Math.abs(Number(request.endTimeUnixNano - request.startTimeUnixNano) - measured) < 1_000_000, `span vs measured ${measured} ns`);
  });

  it('rides out a pipeline restart: reconnects, delivers what it queued, counts what did not fit, never blocks the app', async () => {
    const port = await freePort();
    let pipeline = await receiver(port);
    const node = startScenario(port);
    await node.line('connected');
    const before = sink.batches.length;

    const outageStart = Date.now();
    await pipeline.shutdown();
    node.send('outage 1500');
    // All 1500 :telemetry.execute calls returned while no receiver existed: the handler never waits for the network.
    await node.line('outage_emitted ');

    pipeline = await receiver(port);
    const outageMs = Date.now() - outageStart;
    try {
      const ticks = (): number[] => sink.batches.slice(before).flatMap((b) => b.events).filter((e) => e.type === 'telemetry.shop.outage.tick').map((e) => Number(e.attributes.i));
      await until(() => ticks().length >= 1000, 20_000, 'the queued events after the reconnect');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(ticks(), Array.from({ length: 1000 }, (_, i) => i + 1), 'the first 1000 (max_queue), in order, each once');
      node.send('stats');
      const stats = await node.line('stats ');
      // The 500 ticks that did not fit, and any VM sample (every 200 ms) that found the queue full before the reconnect (up to backoff_max, 500 ms, after the receiver is back).
      const full = Number(/queue_full: (\d+)/.exec(stats)?.[1]);
      assert.ok(full >= 500 && full <= 500 + Math.ceil((outageMs + 500) / 200) + 1, `queue_full ${full} after a ${outageMs} ms outage: ${stats}`);
      assert.match(stats, /connected: true/);
      assert.match(stats, /reconnects: 1/);
    } finally {
      await pipeline.shutdown();
    }
  });
});
