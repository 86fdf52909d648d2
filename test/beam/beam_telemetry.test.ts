/** The beam_telemetry receiver with a real erl node speaking the forwarder protocol (test/beam/telemetry_client.erl). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodeTerm } from '../../src/beam/encode.js';
import { createPipeline, EventSchemaRegistry, registerComponent, silentLogger, type ScopeEvent } from '../../src/index.js';
import { Collector, until } from '../helpers.js';
import { compileErlang, freePort, startErl, type ErlNode } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('telemetry_sink'));

let code = '';
before(() => {
  code = compileErlang('telemetry_client');
});

async function receiver(t: { after(fn: () => Promise<unknown>): void }, options: Record<string, unknown> = {}) {
  const port = await freePort();
  const pipeline = createPipeline({
    receivers: { beam_telemetry: { endpoint: `127.0.0.1:${port}`, auth: { token: 's3cret' }, ...options } },
    exporters: { telemetry_sink: {} },
    service: { pipelines: { p: { receivers: ['beam_telemetry'], exporters: ['telemetry_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
  t.after(() => pipeline.shutdown());
  return { port, pipeline };
}

const nodes: ErlNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

function client(port: number, mode: string, count = 0): ErlNode {
  const node = startErl(code, 'telemetry_client', 'main', [String(port), mode, String(count)]);
  nodes.push(node);
  return node;
}

const eventsOf = (type: string): ScopeEvent[] => sink.batches.flatMap((b) => b.events).filter((e) => e.type === type);

describe('encodeTerm (the receiver\'s replies)', () => {
  it('writes what a real node\'s binary_to_term reads', () => {
    const term = encodeTerm({ tuple: [
      { atom: 'scope_refused' }, 'naïve ☕', [], [{ atom: 'a' }, 255, 256, -1, 2 ** 31 - 1, -(2 ** 31)],
      { map: [[{ atom: 'n' }, 1_764_000_000_123_456_789n], ['k', -(2n ** 70n)]] },
    ] });
    const printed = execFileSync('erl', ['-noshell', '-eval', `io:format("~w", [binary_to_term(base64:decode("${term.toString('base64')}"))]), halt().`], { encoding: 'utf8' });
    assert.equal(printed, '{scope_refused,<<110,97,195,175,118,101,32,226,152,149>>,[],[a,255,256,-1,2147483647,-2147483648],'
      + '#{n => 1764000000123456789,<<107>> => -1180591620717411303424}}');
  });
});

describe('beam_telemetry receiver', () => {
  it('welcomes a node, maps its telemetry events (native units to ns, metadata as data), and skips bad terms without closing', async (t) => {
    const { port, pipeline } = await receiver(t);
    const before = sink.batches.length;
    const node = client(port, 'ok');
    const native = Number(await node.line('native '));
    assert.equal(await node.line('reply '), '{scope_welcome,1}');
    await node.line('sent');
    await until(() => eventsOf('telemetry.shop.repo.query').length > 0, 10_000, 'the Ecto event after the bad terms');
    const events = sink.batches.slice(before).flatMap((b) => b.events);
    assert.deepEqual(events.map((e) => e.type), ['telemetry.phoenix.endpoint.stop', 'telemetry.shop.repo.query']);
    const [phoenix, ecto] = events;

    assert.equal(phoenix.source.app, 'shop');
    assert.match(phoenix.source.node, /^nonode@nohost$|@/);
    assert.match(String(phoenix.pid), /^<\d+\.\d+\.\d+>$/);
    assert.ok(Math.abs(Number(phoenix.time / 1_000_000n) - Date.now()) < 60_000, 'system time in ns');
    const m = phoenix.attributes.measurements as Record<string, unknown>;
    assert.equal(m.duration_ns, Math.floor((Math.floor(native / 500) * 1e9) / native), 'duration from native units to ns');
    assert.ok(Math.abs(Number(BigInt(String(m.monotonic_time_unix_ns)) / 1_000_000n) - Date.now()) < 60_000, 'monotonic time as Unix ns via the hello\'s offset');
    assert.equal(phoenix.attributes.method, 'GET');
    assert.equal(phoenix.attributes.status, 200);
    assert.equal(phoenix.attributes.plug, 'ShopWeb.CartController', 'module atoms the Elixir way');
    assert.equal(phoenix.attributes.remote_ip, '{127,0,0,1}', 'tuples rendered in Erlang syntax');
    assert.match(String(phoenix.attributes.telemetry_span_context), /^#Ref</);
    assert.deepEqual(phoenix.attributes.tags, ['a', 'b', 1.5]);
    assert.deepEqual(phoenix.attributes.nested, { ok: true, none: null });
    assert.deepEqual(phoenix.attributes.raw, new Uint8Array([255, 0, 1]), 'non-UTF-8 binaries stay bytes');

    const em = ecto.attributes.measurements as Record<string, unknown>;
    assert.deepEqual(Object.keys(em).sort(), ['decode_time_ns', 'idle_time_ns', 'query_time_ns', 'queue_time_ns', 'total_time_ns']);
    assert.equal(em.idle_time_ns, 1_000_000_000);
    assert.equal(ecto.attributes.repo, 'Shop.Repo');
    assert.equal(ecto.attributes.result_rows, 2);

    // The receiver declares its events valid by construction: hold it to that.
    const schemas = new EventSchemaRegistry();
    for (const e of events) assert.equal(schemas.validate(e), null, JSON.stringify(schemas.validate(e)));
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'malformed' }), 2, 'the garbage frame and the foreign term');
    assert.equal(node.child.exitCode, null, 'the connection was kept');
  });

  it('refuses an old protocol and a wrong token with a reason, and takes nothing from them', async (t) => {
    const { port, pipeline } = await receiver(t);
    const old = client(port, 'old_protocol');
    assert.match(await old.line('reply '), /^\{scope_refused,<<"protocol 0 is not supported: this receiver speaks protocol 1/);
    const wrong = client(port, 'bad_token');
    assert.equal(await wrong.line('reply '), '{scope_refused,<<"missing or wrong token">>}');
    await until(async () => (await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'hello_refused' })) === 2, 5000, 'both refusals counted');
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items'), 0);
  });

  it('drops what one node sends beyond its rate limit, and counts it', async (t) => {
    const { port, pipeline } = await receiver(t, { rate_limit: { events_per_second: 500 } });
    const node = client(port, 'flood', 3000);
    await node.line('sent');
    const total = async (): Promise<number> =>
      (await pipeline.metrics.sum('scope_receiver_accepted_items')) + (await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'rate_limited' }));
    await until(async () => (await total()) === 3000, 10_000, 'every event accepted or counted');
    const accepted = await pipeline.metrics.sum('scope_receiver_accepted_items');
    assert.ok(accepted >= 500 && accepted < 1500, `${accepted} accepted: one second's burst plus what the elapsed time allows`);
  });
});
