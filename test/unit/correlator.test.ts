/** The correlation state machine on hand-made event streams: telemetry spans, message matching, bounds. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes, ScopeEvent } from '../../src/model/types.js';
import { Correlator, type CorrelatorOptions } from '../../src/processors/correlation/correlator.js';
import { parseMfa, functionName } from '../../src/processors/correlation/names.js';
import { genCall, tupleElements } from '../../src/beam/rendered_text.js';

let seq = 0;
const T0 = 1_764_000_000_000_000_000n;
function ev(type: string, pid: string, atMs: number, attributes: Attributes = {}, app?: string): ScopeEvent {
  return {
    id: `e${++seq}`, type, schemaVersion: 1, time: T0 + BigInt(Math.round(atMs * 1e6)),
    source: { node: 'shop@host', component: 'test', ...(app ? { app } : {}) }, pid, attributes,
  };
}

function correlator(overrides: Partial<CorrelatorOptions> = {}): { c: Correlator; evictions: Record<string, number> } {
  const evictions: Record<string, number> = {};
  const c = new Correlator({
    component: 'correlation', callTimeoutMs: 30_000, crashWindowMs: 100, idleMs: 2_000, crashContextMessages: 10,
    maxTrackedProcesses: 1000, maxPendingMessages: 1000, maxSpansPerTrace: 1000, maxStackDepth: 100,
    onEvict: (reason, n) => { evictions[reason] = (evictions[reason] ?? 0) + n; },
    onSpan: () => undefined, onCrash: () => undefined,
    ...overrides,
  });
  return { c, evictions };
}

describe('names and rendered terms', () => {
  it('MFAs the Elixir way and the Erlang way', () => {
    assert.equal(functionName(parseMfa("'Elixir.Shop.Cart':add/2")!), 'Shop.Cart.add/2');
    assert.equal(functionName(parseMfa('cart:add/2')!), 'cart:add/2');
    assert.equal(functionName(parseMfa("'Elixir.Shop.Cart':'-handle/1-fun-0-'/1")!), 'Shop.Cart.-handle/1-fun-0-/1');
    assert.equal(parseMfa('{not,an,mfa}'), null);
  });

  it('takes rendered tuples apart at the top level (binaries, strings, nesting)', () => {
    assert.deepEqual(tupleElements('{a,<<1,2>>,"x,y",{b,[c,d]},\'q,\'}'), ['a', '<<1,2>>', '"x,y"', '{b,[c,d]}', "'q,'"]);
    assert.deepEqual(genCall("{'$gen_call',{<0.90.0>,[alias|#Ref<0.1.2.3>]},{add,apple,5}}"),
      { caller: '<0.90.0>', tag: '[alias|#Ref<0.1.2.3>]', request: '{add,apple,5}' });
  });
});

describe('Correlator', () => {
  it('Phoenix endpoint + router_dispatch make one server span named by the route; an Ecto query inside it is its child', () => {
    const { c } = correlator();
    const ctx = '#Ref<0.1.2.3>';
    const out = c.process([
      ev('telemetry.phoenix.endpoint.start', '<0.500.0>', 0, { measurements: {}, telemetry_span_context: ctx, method: 'GET', path: '/users/42' }, 'shop'),
      ev('telemetry.phoenix.router_dispatch.start', '<0.500.0>', 1, { measurements: {}, route: '/users/:id', plug: 'ShopWeb.UserController', plug_opts: 'show' }, 'shop'),
      ev('telemetry.shop.repo.query', '<0.500.0>', 8, { measurements: { total_time_ns: 5_000_000 }, repo: 'Shop.Repo', source: 'users', query: 'SELECT u0."id" FROM "users" AS u0', result: 'ok', result_rows: 1, adapter: 'Ecto.Adapters.Postgres' }, 'shop'),
      ev('telemetry.phoenix.endpoint.stop', '<0.500.0>', 10, { measurements: { duration_ns: 10_000_000 }, telemetry_span_context: ctx, method: 'GET', path: '/users/42', status: 200 }, 'shop'),
    ], 0);
    assert.equal(out.spans.length, 2);
    const [query, http] = out.spans;
    assert.equal(http.name, 'GET /users/:id');
    assert.equal(http.spanKind, 'server');
    assert.equal(http.parentSpanId, undefined);
    assert.deepEqual(
      [http.attributes['http.request.method'], http.attributes['http.route'], http.attributes['url.path'], http.attributes['http.response.status_code']],
      ['GET', '/users/:id', '/users/42', 200],
    );
    assert.equal(http.endTimeUnixNano - http.startTimeUnixNano, 10_000_000n);
    assert.equal(http.resource['service.name'], 'shop');
    assert.equal(query.name, 'select users');
    assert.equal(query.spanKind, 'client');
    assert.equal(query.parentSpanId, http.spanId);
    assert.equal(query.traceId, http.traceId);
    assert.deepEqual([query.attributes['db.system'], query.attributes['db.collection.name'], query.attributes['db.operation.name']], ['postgresql', 'users', 'select']);
    assert.equal(query.endTimeUnixNano - query.startTimeUnixNano, 5_000_000n, 'ends at the event, starts total_time before');
  });

  it('a LiveView exception and an HTTP 500 are ERROR; Broadway messages are consumer spans', () => {
    const { c } = correlator();
    const out = c.process([
      ev('telemetry.phoenix.live_view.handle_event.start', '<0.600.0>', 0, { measurements: {}, telemetry_span_context: '#Ref<0.9>', view: 'ShopWeb.CartLive', event: 'pay' }),
      ev('telemetry.phoenix.live_view.handle_event.exception', '<0.600.0>', 3, { measurements: {}, telemetry_span_context: '#Ref<0.9>', exception_type: 'ArgumentError', exception_message: 'bad card' }),
      ev('telemetry.phoenix.endpoint.start', '<0.601.0>', 0, { measurements: {}, method: 'POST' }),
      ev('telemetry.phoenix.endpoint.stop', '<0.601.0>', 2, { measurements: {}, method: 'POST', status: 503 }),
      ev('telemetry.broadway.processor.message.start', '<0.602.0>', 0, { measurements: {}, telemetry_span_context: '#Ref<0.7>', topology_name: 'Shop.Orders', processor_key: 'default' }),
      ev('telemetry.broadway.processor.message.stop', '<0.602.0>', 1, { measurements: {}, telemetry_span_context: '#Ref<0.7>', topology_name: 'Shop.Orders', processor_key: 'default' }),
    ], 0);
    const [live, http, broadway] = out.spans;
    assert.equal(live.name, 'ShopWeb.CartLive.handle_event#pay');
    assert.deepEqual(live.status, { code: 'error', message: 'bad card' });
    assert.equal(live.events[0].attributes['exception.type'], 'ArgumentError');
    assert.equal(http.name, 'POST');
    assert.equal(http.status.code, 'error');
    assert.equal(broadway.name, 'Shop.Orders/default process');
    assert.equal(broadway.spanKind, 'server', 'an entry point with no parent is the server span of its trace');
    assert.equal(broadway.attributes['messaging.system'], 'broadway');
  });

  it('with its callbacks traced, a gen_server handles a message when its callback takes it, not when it is delivered', () => {
    const { c } = correlator();
    const cast = (n: number): string => `{'$gen_cast',{record,${n}}}`;
    const castAttrs = { 'beam.message.kind': 'cast', 'beam.request': 'record' };
    const call = "{'$gen_call',{<0.20.0>,[alias|#Ref<0.1.2.4>]},{total,2}}";
    const callAttrs = { 'beam.message.kind': 'call', 'beam.request': 'total', 'beam.call.tag': '[alias|#Ref<0.1.2.4>]', 'beam.call.from': '<0.20.0>' };
    const sys = '{system,{<0.20.0>,#Ref<0.1.2.5>},get_state}';
    const C = '<0.30.0>';
    const calls = (at: number, fn: string, args: string): ScopeEvent => ev('function.call', C, at, { 'beam.mfa': `ledger:${fn}`, 'beam.args': args });
    const returns = (at: number, fn: string): ScopeEvent => ev('function.return', C, at, { 'beam.mfa': `ledger:${fn}`, 'beam.return': 'ok' });
    const out = c.process([
      // B sends C a cast, a call, a cast; C is handling an earlier one (its callbacks are known to be traced).
      ev('message.send', '<0.20.0>', 0, { 'beam.peer_pid': C, 'beam.message': cast(0), ...castAttrs }),
      ev('message.receive', C, 0.5, { 'beam.message': cast(0), ...castAttrs }),
      calls(0.6, 'handle_cast/2', '[{record,0},#{}]'),
      returns(0.7, 'handle_cast/2'),
      ev('message.send', '<0.20.0>', 1, { 'beam.peer_pid': C, 'beam.message': cast(1), ...castAttrs }),
      ev('message.receive', C, 2, { 'beam.message': cast(1), ...castAttrs }),
      ev('message.send', '<0.20.0>', 3, { 'beam.peer_pid': C, 'beam.message': call, ...callAttrs }),
      ev('message.receive', C, 4, { 'beam.message': call, ...callAttrs }),
      // Delivered while C is still on record 1: the call and a sys message wait; the send is record 1's work.
      ev('message.receive', C, 4.5, { 'beam.message': sys, 'beam.message.kind': 'system' }),
      ev('message.send', '<0.20.0>', 4.6, { 'beam.peer_pid': C, 'beam.message': cast(3), ...castAttrs }),
      ev('message.receive', C, 4.7, { 'beam.message': cast(3), ...castAttrs }),
      calls(5, 'handle_cast/2', '[{record,1},#{}]'),
      ev('message.send', C, 6, { 'beam.peer_pid': '<0.40.0>', 'beam.message': '{logged,1}' }),
      returns(7, 'handle_cast/2'),
      calls(8, 'handle_call/3', '[{total,2},{<0.20.0>,[alias|#Ref<0.1.2.4>]},#{}]'),
      returns(9, 'handle_call/3'),
      // The sys message had no callback (sys handles it): the next callback is record 3's.
      calls(10, 'handle_cast/2', '[{record,3},#{}]'),
      returns(11, 'handle_cast/2'),
      ev('message.receive', '<0.40.0>', 12, { 'beam.message': '{logged,1}' }),
      ev('process.exit', C, 13, { 'beam.reason': 'normal' }),
      ev('process.exit', '<0.40.0>', 14, { 'beam.reason': 'normal' }),
    ], 0);
    const handling = (message: string) => out.spans.find((s) => s.attributes['beam.message'] === message && s.attributes['beam.pid'] === C)!;
    const ms = (t: bigint): number => Number(t - T0) / 1e6;
    const record1 = handling(cast(1));
    const total = handling(call);
    const record3 = handling(cast(3));
    const system = handling(sys);
    const fn = (start: number) => out.spans.find((s) => s.attributes['beam.pid'] === C && s.attributes['code.function'] !== undefined && ms(s.startTimeUnixNano) === start)!;
    assert.equal(fn(5).parentSpanId, record1.spanId, 'handle_cast of record 1 is record 1\'s, though the call came first');
    assert.equal(fn(8).parentSpanId, total.spanId);
    assert.equal(fn(10).parentSpanId, record3.spanId);
    assert.deepEqual([ms(record1.startTimeUnixNano), ms(record1.endTimeUnixNano)], [2, 7]);
    assert.deepEqual([ms(total.startTimeUnixNano), ms(total.endTimeUnixNano), total.attributes['beam.message.queued_ns']], [8, 9, 4_000_000]);
    assert.deepEqual([ms(system.startTimeUnixNano), ms(system.endTimeUnixNano)], [4.5, 4.5], 'taken with no callback: a point where it was delivered');
    assert.deepEqual([ms(record3.startTimeUnixNano), record3.attributes['beam.message.queued_ns']], [10, 5_300_000]);
    const logged = out.spans.find((s) => s.attributes['beam.pid'] === '<0.40.0>')!;
    assert.equal(logged.parentSpanId, fn(5).spanId, 'what C sent while on record 1 is record 1\'s work');
  });

  it('a gen_server that crashes on a message, another already delivered behind it: the poison is the one it was on', () => {
    const { c } = correlator();
    const C = '<0.30.0>';
    const gen = { 'beam.proc_lib': true, 'beam.behaviour': 'gen_server', 'beam.callback_module': 'ledger', 'beam.initial_call': 'ledger:init/1', 'beam.mfa': 'proc_lib:init_p/5' };
    const reason = '{function_clause,[{ledger,handle_cast,[{apply,-5},#{}],[{file,"ledger.erl"},{line,9}]}]}';
    const msg = (m: string) => ({ 'beam.message': `{'$gen_cast',${m}}`, 'beam.message.kind': 'cast', 'beam.request': m.slice(1, m.indexOf(',')) });
    let out = c.process([
      ev('process.spawn', '<0.3.0>', 0, { 'beam.peer_pid': C, ...gen, 'beam.ancestors': ['<0.3.0>'] }),
      ev('message.receive', C, 1, msg('{record,1}')),
      ev('function.call', C, 1.5, { 'beam.mfa': 'ledger:handle_cast/2', 'beam.args': '[{record,1},#{}]' }),
      ev('function.return', C, 1.6, { 'beam.mfa': 'ledger:handle_cast/2', 'beam.return': 'ok' }),
      ev('message.receive', C, 2, msg('{apply,-5}')),
      ev('message.receive', C, 3, msg('{record,2}')),
      ev('function.call', C, 4, { 'beam.mfa': 'ledger:handle_cast/2', 'beam.args': '[{apply,-5},#{}]' }),
      ev('function.exception', C, 5, { 'beam.mfa': 'ledger:handle_cast/2', 'beam.exception.class': 'error', 'beam.reason': 'function_clause' }),
      ev('process.exit', C, 6, { 'beam.reason': reason, 'beam.reason.class': 'error', 'beam.exception.error': 'function_clause' }),
    ], 1000);
    out = c.sweep(1200);
    const crash = out.events.find((e) => e.type === 'process.crash')!;
    assert.equal(crash.attributes['scope.crash.poison_message'], "{'$gen_cast',{apply,-5}}", 'not {record,2}, delivered last');
  });

  it('a gen_server reply sent to the caller\'s alias stays inside the caller\'s work; the callee\'s handling is the caller\'s child', () => {
    const { c } = correlator();
    const call = "{'$gen_call',{<0.10.0>,[alias|#Ref<0.1.2.3>]},{get,1}}";
    const reply = '{[alias|#Ref<0.1.2.3>],{ok,1}}';
    // As the trace-port receiver reads them from the decoded terms.
    const callAttrs = { 'beam.message.kind': 'call', 'beam.request': 'get', 'beam.call.tag': '[alias|#Ref<0.1.2.3>]', 'beam.call.from': '<0.10.0>' };
    const replyAttrs = { 'beam.message.kind': 'reply', 'beam.call.tag': '[alias|#Ref<0.1.2.3>]' };
    const out = c.process([
      ev('function.call', '<0.10.0>', 0, { 'beam.mfa': "'Elixir.Shop.Api':get/1" }),
      ev('message.send', '<0.10.0>', 1, { 'beam.peer_pid': '<0.20.0>', 'beam.message': call, ...callAttrs }),
      ev('message.receive', '<0.20.0>', 2, { 'beam.message': call, ...callAttrs }),
      ev('message.send', '<0.20.0>', 3, { 'beam.peer_pid': '#Ref<0.1.2.3>', 'beam.message': reply, ...replyAttrs }),
      ev('message.receive', '<0.10.0>', 4, { 'beam.message': reply, ...replyAttrs }),
      ev('function.return', '<0.10.0>', 5, { 'beam.mfa': "'Elixir.Shop.Api':get/1", 'beam.return': '{ok,1}' }),
      ev('process.exit', '<0.20.0>', 6, { 'beam.reason': 'normal' }),
    ], 0);
    const api = out.spans.find((s) => s.name === 'Shop.Api.get/1')!;
    const handling = out.spans.find((s) => s.attributes['beam.pid'] === '<0.20.0>')!;
    assert.equal(out.spans.length, 2, 'the reply opened no handling span in the caller');
    assert.equal(handling.parentSpanId, api.spanId);
    assert.equal(handling.traceId, api.traceId);
    assert.equal(handling.name, 'process handle_call get');
    assert.equal(api.attributes['code.namespace'], 'Shop.Api');
  });

  it('bounds: oldest pending sends and processes are forgotten and counted; deep stacks are capped; a full trace continues in a linked one', () => {
    const { c, evictions } = correlator({ maxPendingMessages: 16, maxTrackedProcesses: 16, maxStackDepth: 5, maxSpansPerTrace: 3 });
    const events: ScopeEvent[] = [];
    for (let i = 0; i < 40; i++) events.push(ev('message.send', `<0.${100 + i}.0>`, i, { 'beam.peer_pid': '<0.999.0>', 'beam.message': `{m,${i}}` }));
    c.process(events, 0);
    assert.equal(evictions.max_pending_messages, 24);
    assert.ok((evictions.max_tracked_processes ?? 0) >= 24);
    const deep: ScopeEvent[] = [];
    for (let i = 0; i < 8; i++) deep.push(ev('function.call', '<0.1.0>', i, { 'beam.mfa': 'm:f/1' }));
    for (let i = 0; i < 8; i++) deep.push(ev('function.return', '<0.1.0>', 10 + i, { 'beam.mfa': 'm:f/1' }));
    const out = c.process(deep, 0);
    assert.equal(evictions.max_stack_depth, 3);
    const frames = out.spans.filter((s) => s.attributes['scope.span.continuation'] === undefined);
    assert.equal(frames.length, 5, 'every frame within max_stack_depth is a span');
    assert.equal(evictions.max_spans_per_trace, 1, 'the fourth frame goes on in a new trace');
    const byDepth = [...frames].sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano));
    assert.equal(new Set(byDepth.slice(0, 3).map((s) => s.traceId)).size, 1);
    assert.notEqual(byDepth[3].traceId, byDepth[2].traceId);
    const [standIn] = out.spans.filter((s) => s.attributes['scope.span.continuation'] === true);
    assert.ok(standIn, 'the new trace has a stand-in root for the full trace\'s span');
    assert.equal(standIn.parentSpanId, undefined, 'the new trace\'s root');
    assert.equal(standIn.name, byDepth[2].name);
    assert.equal(standIn.traceId, byDepth[3].traceId);
    assert.equal(byDepth[3].parentSpanId, standIn.spanId);
    assert.deepEqual(standIn.links.map((l) => [l.traceId, l.spanId]), [[byDepth[2].traceId, byDepth[2].spanId]], 'linked to the span it continues');
    assert.equal(byDepth[4].traceId, byDepth[3].traceId);
    assert.equal(standIn.endTimeUnixNano, byDepth[2].endTimeUnixNano, 'it ends with the span it stands in for');
  });

  it('a full trace\'s long-lived span: its later children share continuation traces, not one trace each', () => {
    const { c, evictions } = correlator({ maxSpansPerTrace: 4 });
    // An acceptor's handling spawns workers, each doing a traced call: every worker's first work is a child of
    // the acceptor's span (another process's), and the workers never stop coming.
    const events: ScopeEvent[] = [ev('message.receive', '<0.10.0>', 0, { 'beam.message': 'accept', 'beam.message.kind': 'info' })];
    for (let i = 0; i < 12; i++) {
      const worker = `<0.${100 + i}.0>`;
      events.push(ev('process.spawn', '<0.10.0>', 1 + i, { 'beam.peer_pid': worker, 'beam.mfa': 'conn:start/0' }));
      events.push(ev('function.call', worker, 1.2 + i, { 'beam.mfa': 'conn:serve/0' }));
      events.push(ev('function.return', worker, 1.5 + i, { 'beam.mfa': 'conn:serve/0', 'beam.return': 'ok' }));
    }
    const out = c.process(events, 0);
    const swept = c.sweep(10_000);
    const spans = [...out.spans, ...swept.spans];
    const serves = spans.filter((s) => s.name === 'conn:serve/0');
    assert.equal(serves.length, 12);
    const traces = new Set(serves.map((s) => s.traceId));
    // The acceptor's trace holds it and 3 serves; each continuation its stand-in and 3 serves: 4 traces, 3 rollovers.
    assert.equal(traces.size, 4);
    assert.equal(evictions.max_spans_per_trace, 3);
    const standIns = spans.filter((s) => s.attributes['scope.span.continuation'] === true);
    assert.equal(standIns.length, 3);
    const accept = spans.find((s) => s.name.startsWith('process handle_info') && s.attributes['scope.span.continuation'] === undefined);
    assert.ok(accept);
    for (const s of standIns) {
      assert.equal(s.name, accept.name);
      assert.equal(s.attributes['beam.pid'], '<0.10.0>', 'the stand-in is the acceptor\'s, not the worker\'s');
      assert.deepEqual(s.links.map((l) => l.spanId), [accept.spanId]);
      const children = serves.filter((x) => x.parentSpanId === s.spanId);
      assert.equal(children.length, 3);
      assert.ok(children.every((x) => x.traceId === s.traceId && x.endTimeUnixNano <= s.endTimeUnixNano && x.startTimeUnixNano >= s.startTimeUnixNano), 'the stand-in covers its children');
    }
  });

  it('crashes wait for their window, then name the cascade: the linked process that died and the supervisor\'s restart', () => {
    const { c } = correlator();
    const reason = "{badarith,[{m,f,1,[{file,\"m.erl\"},{line,3}]}]}";
    const gen = { 'beam.proc_lib': true, 'beam.behaviour': 'gen_server', 'beam.callback_module': 'm', 'beam.initial_call': 'm:init/1', 'beam.mfa': 'proc_lib:init_p/5' };
    let out = c.process([
      ev('process.spawn', '<0.3.0>', 0, { 'beam.peer_pid': '<0.1.0>', ...gen, 'beam.ancestors': ['<0.3.0>'] }),
      ev('process.snapshot', '<0.3.0>', 0, { 'beam.behaviour': 'supervisor', 'beam.proc_lib': true, 'beam.initial_call': 'supervisor:m_sup/1' }),
      ev('process.link', '<0.1.0>', 0, { 'beam.peer_pid': '<0.2.0>' }),
      ev('message.receive', '<0.1.0>', 1, { 'beam.message': "{'$gen_cast',{poison,0}}", 'beam.message.kind': 'cast', 'beam.request': 'poison' }),
      ev('process.exit', '<0.1.0>', 2, { 'beam.reason': reason, 'beam.reason.class': 'error', 'beam.exception.error': 'badarith', 'beam.exception.stack': ['m:f/1 (m.erl:3)'] }),
      ev('process.exit', '<0.2.0>', 3, { 'beam.reason': reason, 'beam.reason.class': 'error' }),
      ev('message.receive', '<0.3.0>', 3, { 'beam.message': `{'EXIT',<0.1.0>,${reason}}`, 'beam.message.kind': 'exit', 'beam.exit.from': '<0.1.0>', 'beam.exit.reason': reason, 'beam.exit.reason_class': 'error' }),
      ev('process.spawn', '<0.3.0>', 4, { 'beam.peer_pid': '<0.4.0>', ...gen, 'beam.ancestors': ['<0.3.0>'] }),
    ], 1000);
    assert.equal(out.events.length, 0, 'not before crash_window');
    assert.equal(out.spans[0].status.code, 'error', 'the handling span of the poison is ERROR');
    out = c.sweep(1200);
    assert.deepEqual(out.events.map((e) => e.pid), ['<0.1.0>'], 'the helper died of an exit signal: no crash of its own, nothing reports it');
    const [crash] = out.events;
    assert.equal(crash.type, 'process.crash');
    assert.equal(crash.attributes['scope.crash.root_cause'], true);
    assert.equal(crash.attributes['scope.crash.rule'], 'crash_report');
    assert.equal(crash.attributes['scope.crash.trigger'], 'message');
    assert.deepEqual(crash.attributes['scope.crash.died_next'], [{ pid: '<0.2.0>', reason, caused_by: '<0.1.0>' }]);
    assert.equal(crash.attributes['scope.crash.poison_message'], "{'$gen_cast',{poison,0}}");
    assert.deepEqual(crash.attributes['scope.crash.stack'], ['m:f/1 (m.erl:3)']);
    assert.deepEqual(crash.attributes['scope.crash.restarts'], [{ supervisor: '<0.3.0>', old_pid: '<0.1.0>', new_pid: '<0.4.0>', initial_call: 'm:init/1' }]);
    assert.equal(crash.attributes['beam.initial_call'], 'm:init/1');
    assert.equal(crash.causationId, 'e' + String(seq - 3));
  });

  it('a spawned process\'s first work is a child of the span its parent was in; calls left open end as unfinished', () => {
    const { c } = correlator({ callTimeoutMs: 50 });
    const out = c.process([
      ev('function.call', '<0.1.0>', 0, { 'beam.mfa': "'Elixir.Shop.Jobs':run/0" }),
      ev('process.spawn', '<0.1.0>', 1, { 'beam.peer_pid': '<0.2.0>', 'beam.mfa': "'Elixir.Shop.Jobs':worker/1" }),
      ev('function.return', '<0.1.0>', 2, { 'beam.mfa': "'Elixir.Shop.Jobs':run/0" }),
      ev('function.call', '<0.2.0>', 3, { 'beam.mfa': "'Elixir.Shop.Jobs':work/1" }),
    ], 0);
    const run = out.spans.find((s) => s.name === 'Shop.Jobs.run/0')!;
    assert.ok(run);
    const swept = c.sweep(100);
    const work = swept.spans.find((s) => s.name === 'Shop.Jobs.work/1')!;
    assert.equal(work.parentSpanId, run.spanId, 'the child\'s first call hangs under the parent\'s span at the spawn');
    assert.equal(work.traceId, run.traceId);
    assert.equal(work.attributes['scope.span.unfinished'], true, 'no return within call_timeout');
  });

  it('seq_trace serials match a receive to its send exactly, where content would be ambiguous', () => {
    const { c } = correlator();
    const seq = (type: string, pid: string, at: number, peer: string, serial: string) =>
      ev(type, pid, at, { 'beam.seq_trace.label': '7', 'beam.seq_trace.serial': serial, 'beam.message': 'ping', 'beam.peer_pid': peer });
    const out = c.process([
      ev('function.call', '<0.1.0>', 0, { 'beam.mfa': 'a:one/0' }),
      ev('function.call', '<0.2.0>', 0, { 'beam.mfa': 'a:two/0' }),
      seq('seq_trace.send', '<0.1.0>', 1, '<0.3.0>', '{0,1}'),
      seq('seq_trace.send', '<0.2.0>', 2, '<0.3.0>', '{0,2}'),
      // The second send arrives first (messages from different senders have no order between them).
      seq('seq_trace.receive', '<0.3.0>', 3, '<0.2.0>', '{0,2}'),
      ev('function.call', '<0.3.0>', 4, { 'beam.mfa': 'b:handle/1' }),
      ev('function.return', '<0.3.0>', 5, { 'beam.mfa': 'b:handle/1' }),
      seq('seq_trace.receive', '<0.3.0>', 6, '<0.1.0>', '{0,1}'),
      ev('function.return', '<0.1.0>', 7, { 'beam.mfa': 'a:one/0' }),
      ev('function.return', '<0.2.0>', 7, { 'beam.mfa': 'a:two/0' }),
    ], 0);
    const one = out.spans.find((s) => s.name === 'a:one/0')!;
    const two = out.spans.find((s) => s.name === 'a:two/0')!;
    const handlings = out.spans.filter((s) => s.attributes['beam.pid'] === '<0.3.0>' && s.name.includes('handle_info'));
    assert.equal(handlings.length, 1, 'the first handling closed when the second message came');
    assert.equal(handlings[0].parentSpanId, two.spanId, 'the {0,2} receive belongs to the {0,2} send');
    assert.equal(handlings[0].attributes['beam.seq_trace.serial'], '{0,2}');
    const handle = out.spans.find((s) => s.name === 'b:handle/1')!;
    assert.equal(handle.traceId, two.traceId);
    const flushed = c.flush().spans.find((s) => s.attributes['beam.seq_trace.serial'] === '{0,1}')!;
    assert.equal(flushed.parentSpanId, one.spanId);
  });
});
