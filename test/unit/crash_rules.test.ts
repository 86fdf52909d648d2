/**
 * The crash rules (src/processors/correlation/crash_rules.ts) row by row, on
 * event streams shaped as the trace-port receiver makes them from OTP's own
 * behaviour: what is a crash, its trigger and poison, its cause and cascade.
 * The same rules on a real node with OTP's applications: test/beam/otp_apps.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Attributes, ScopeEvent } from '../../src/model/types.js';
import { Correlator, type CorrelatorOptions } from '../../src/processors/correlation/correlator.js';
import { CRASH_RULES, type CrashRule } from '../../src/processors/correlation/crash_rules.js';
import { anyOf } from '../../src/util/match.js';

let seq = 0;
const T0 = 1_764_000_000_000_000_000n;
const ev = (type: string, pid: string, atMs: number, attributes: Attributes = {}): ScopeEvent => ({
  id: `e${++seq}`, type, schemaVersion: 1, time: T0 + BigInt(Math.round(atMs * 1e6)), source: { node: 'shop@host', component: 'test' }, pid, attributes,
});

function run(events: ScopeEvent[], overrides: Partial<CorrelatorOptions> = {}) {
  const rules: CrashRule[] = [];
  const c = new Correlator({
    component: 'correlation', callTimeoutMs: 30_000, crashWindowMs: 100, idleMs: 2_000, crashContextMessages: 10,
    maxTrackedProcesses: 1000, maxPendingMessages: 1000, maxSpansPerTrace: 1000, maxStackDepth: 100,
    onEvict: () => undefined, onSpan: () => undefined, onCrash: () => undefined, onExitClassified: (r) => rules.push(r),
    ...overrides,
  });
  const first = c.process(events, 0);
  const later = c.sweep(10_000);
  const spans = [...first.spans, ...later.spans, ...c.flush().spans];
  const crashes = [...first.events, ...later.events].filter((e) => e.type === 'process.crash');
  return { crashes, spans, rules };
}

// Shapes as src/receivers/beam_trace_port/structure.ts writes them.
const genServer = (mod: string, parent: string): Attributes => ({
  'beam.mfa': 'proc_lib:init_p/5', 'beam.initial_call': `${mod}:init/1`, 'beam.proc_lib': true, 'beam.behaviour': 'gen_server',
  'beam.callback_module': mod, 'beam.ancestors': [parent],
});
const supervisor = (mod: string): Attributes => ({
  'beam.mfa': 'proc_lib:init_p/5', 'beam.initial_call': `supervisor:${mod}/1`, 'beam.proc_lib': true, 'beam.behaviour': 'supervisor', 'beam.callback_module': mod,
});
const exitMsg = (from: string, reason: string, cls: string): Attributes => ({
  'beam.message': `{'EXIT',${from},${reason}}`, 'beam.message.kind': 'exit', 'beam.request': 'EXIT', 'beam.exit.from': from, 'beam.exit.reason': reason, 'beam.exit.reason_class': cls,
});
const cast = (req: string, label: string): Attributes => ({ 'beam.message': `{'$gen_cast',${req}}`, 'beam.message.kind': 'cast', 'beam.request': label });
const exit = (reason: string, cls: string, extra: Attributes = {}): Attributes => ({ 'beam.reason': reason, 'beam.reason.class': cls, ...extra });
const FC = "{function_clause,[{cache,handle_cast,[junk,#{}],[{file,\"cache.erl\"},{line,40}]},{gen_server,try_dispatch,4,[{file,\"gen_server.erl\"},{line,1123}]}]}";
const fcStack = { 'beam.exception.error': 'function_clause', 'beam.exception.stack': ['cache:handle_cast/2 (cache.erl:40)', 'gen_server:try_dispatch/4 (gen_server.erl:1123)'] };

describe('crash rules', () => {
  it('the table is ordered as documented and ends in a catch-all', () => {
    assert.deepEqual(CRASH_RULES.map((r) => r.rule), [
      'normal_exit', 'ignored', 'erpc_result', 'dist_connection', 'shell', 'crash_report', 'supervisor_report', 'error_report', 'link_propagation', 'unreported',
    ]);
    assert.deepEqual(CRASH_RULES.filter((r) => r.crash).map((r) => r.rule), ['crash_report', 'supervisor_report', 'error_report', 'link_propagation']);
  });

  it('a gen_server given a cast it has no clause for: crash_report, the cast is the poison — not a later `receive … after` timeout — stack with file:line, restart found by the same initial call', () => {
    const { crashes, rules } = run([
      ev('process.snapshot', '<0.50.0>', 0, supervisor('cache_sup')),
      ev('process.spawn', '<0.50.0>', 0, { 'beam.peer_pid': '<0.60.0>', ...genServer('cache', '<0.50.0>') }),
      ev('process.link', '<0.50.0>', 0, { 'beam.peer_pid': '<0.60.0>' }),
      ev('message.send', '<0.70.0>', 1, { 'beam.peer_pid': '<0.60.0>', ...cast('junk', 'junk') }),
      ev('message.receive', '<0.60.0>', 2, cast('junk', 'junk')),
      // The logger path of a crashing gen_server does `receive … after 0`.
      ev('message.receive', '<0.60.0>', 2.5, { 'beam.message': 'timeout', 'beam.message.kind': 'timeout', 'beam.request': 'timeout' }),
      ev('process.exit', '<0.60.0>', 3, exit(FC, 'error', fcStack)),
      // The supervisor's 'EXIT' is huge (the stacktrace) and its rendered text would be cut: only the structure counts.
      ev('message.receive', '<0.50.0>', 3, exitMsg('<0.60.0>', '{function_clause,[...]}', 'error')),
      ev('process.spawn', '<0.50.0>', 4, { 'beam.peer_pid': '<0.61.0>', ...genServer('cache', '<0.50.0>') }),
    ]);
    assert.equal(crashes.length, 1);
    const a = crashes[0].attributes;
    assert.equal(crashes[0].pid, '<0.60.0>');
    assert.deepEqual([a['scope.crash.rule'], a['scope.crash.root_cause'], a['scope.crash.trigger']], ['crash_report', true, 'message']);
    assert.equal(a['scope.crash.poison_message'], "{'$gen_cast',junk}");
    assert.equal(a['scope.crash.poison_sender'], '<0.70.0>');
    assert.deepEqual(a['scope.crash.stack'], ['cache:handle_cast/2 (cache.erl:40)', 'gen_server:try_dispatch/4 (gen_server.erl:1123)']);
    assert.equal(a['beam.exception.error'], 'function_clause');
    assert.deepEqual(a['scope.crash.restarts'], [{ supervisor: '<0.50.0>', old_pid: '<0.60.0>', new_pid: '<0.61.0>', initial_call: 'cache:init/1' }]);
    assert.deepEqual(a['scope.crash.died_next'], []);
    assert.deepEqual(rules, ['crash_report']);
  });

  it('protocol exits are no crashes: erpc workers, distribution controllers, the shell\'s reader, each counted by its rule', () => {
    const { crashes, rules } = run([
      ev('process.spawned', '<0.80.0>', 0, { 'beam.peer_pid': '<cli@host.90.0>', 'beam.mfa': 'erpc:execute_call/4', 'beam.initial_call': 'erpc:execute_call/4', 'beam.proc_lib': false }),
      ev('process.exit', '<0.80.0>', 1, exit('{#Ref<0.1.2.3>,return,ok}', 'erpc')),
      ev('process.spawned', '<0.81.0>', 0, { 'beam.peer_pid': '<cli@host.91.0>', 'beam.mfa': 'erpc:execute_call/4', 'beam.initial_call': 'erpc:execute_call/4', 'beam.proc_lib': false }),
      ev('process.exit', '<0.81.0>', 1, exit('{#Ref<0.1.2.4>,error,badarg,[{erlang,binary_to_atom,[x],[]}]}', 'erpc')),
      ev('process.spawn', '<0.20.0>', 0, { 'beam.peer_pid': '<0.82.0>', 'beam.mfa': 'inet_tcp_dist:do_accept/7', 'beam.initial_call': 'inet_tcp_dist:do_accept/7', 'beam.proc_lib': false }),
      ev('process.exit', '<0.82.0>', 2, exit('connection_closed', 'other')),
      ev('process.spawn', '<0.30.0>', 0, { 'beam.peer_pid': '<0.83.0>', 'beam.mfa': 'erlang:apply/2', 'beam.initial_call': "shell:'-fun-'/0", 'beam.proc_lib': false }),
      ev('process.link', '<0.30.0>', 0, { 'beam.peer_pid': '<0.83.0>' }),
      ev('process.exit', '<0.83.0>', 3, exit('{ok,[{call,1,{remote,1,{atom,1,erlang},{atom,1,node}},[]}],2}', 'other')),
      ev('message.receive', '<0.30.0>', 3, exitMsg('<0.83.0>', '{ok,[...]}', 'other')),
    ]);
    assert.deepEqual(crashes, []);
    assert.deepEqual(rules.sort(), ['dist_connection', 'erpc_result', 'erpc_result', 'shell']);
  });

  it('a trapping process killed by an exit signal: the {\'EXIT\', From, Reason} it received is the poison and From the cause', () => {
    const { crashes } = run([
      ev('process.spawn', '<0.10.0>', 0, { 'beam.peer_pid': '<0.40.0>', ...genServer('conn', '<0.10.0>') }),
      ev('message.receive', '<0.40.0>', 1, cast('ping', 'ping')),
      ev('message.receive', '<0.40.0>', 2, exitMsg('<0.41.0>', 'boom', 'other')),
      ev('process.exit', '<0.40.0>', 2.1, exit('boom', 'other')),
    ]);
    assert.equal(crashes.length, 1);
    const a = crashes[0].attributes;
    assert.deepEqual([a['scope.crash.rule'], a['scope.crash.trigger']], ['crash_report', 'exit_message']);
    assert.equal(a['scope.crash.poison_message'], "{'EXIT',<0.41.0>,boom}");
    assert.equal(a['scope.crash.poison_sender'], '<0.41.0>');
    assert.equal(a['scope.crash.caused_by'], '<0.41.0>', 'the sender of the signal, alive, is the cause');
  });

  it('a connection process killed with exit(Pid, kill): supervisor_report, no poison named, its tree that shut down after it in died_next', () => {
    const { crashes } = run([
      ev('process.snapshot', '<0.100.0>', 0, { ...supervisor('conn_sup'), 'beam.ancestors': ['<0.99.0>'], 'beam.links': ['<0.99.0>', '<0.101.0>', '<0.102.0>', '<0.103.0>'] }),
      ev('process.snapshot', '<0.101.0>', 0, { ...genServer('conn_handler', '<0.100.0>'), 'beam.links': ['<0.100.0>'] }),
      ev('process.snapshot', '<0.102.0>', 0, { ...genServer('channel', '<0.100.0>'), 'beam.links': ['<0.100.0>'] }),
      ev('process.snapshot', '<0.103.0>', 0, { ...genServer('forwarder', '<0.100.0>'), 'beam.links': ['<0.100.0>'] }),
      ev('message.receive', '<0.101.0>', 1, cast('data', 'data')),
      ev('process.exit', '<0.101.0>', 2, exit('killed', 'killed')),
      ev('message.receive', '<0.100.0>', 2.1, exitMsg('<0.101.0>', 'killed', 'killed')),
      ev('process.exit', '<0.102.0>', 2.2, exit('shutdown', 'shutdown')),
      ev('process.exit', '<0.103.0>', 2.3, exit('killed', 'killed')), // brutal_kill
      ev('message.receive', '<0.99.0>', 2.5, exitMsg('<0.100.0>', 'shutdown', 'shutdown')),
      ev('process.exit', '<0.100.0>', 2.4, exit('shutdown', 'shutdown')),
    ]);
    assert.deepEqual(crashes.map((c) => c.pid), ['<0.101.0>'], 'the children its supervisor killed while taking the tree down are consequences, not reports');
    const a = crashes[0].attributes;
    assert.deepEqual([a['scope.crash.rule'], a['scope.crash.trigger'], a['scope.crash.root_cause']], ['supervisor_report', 'exit_signal', true]);
    assert.equal(a['scope.crash.poison_message'], undefined, 'an exit signal, not the data message it handled before');
    const next = a['scope.crash.died_next'] as Array<Record<string, unknown>>;
    assert.deepEqual(next.map((d) => [d.pid, d.reason]).sort(), [['<0.100.0>', 'shutdown'], ['<0.102.0>', 'shutdown'], ['<0.103.0>', 'killed']]);
  });

  it('an exit that propagates through a link to a non-trapping process is a crash (link_propagation) even from a plain process; kill of a lone process is not', () => {
    const { crashes, rules } = run([
      ev('process.spawn', '<0.1.0>', 0, { 'beam.peer_pid': '<0.2.0>', 'beam.mfa': 'worker:loop/0', 'beam.initial_call': 'worker:loop/0', 'beam.proc_lib': false }),
      ev('process.link', '<0.1.0>', 0, { 'beam.peer_pid': '<0.2.0>' }),
      ev('process.exit', '<0.2.0>', 1, exit('{bad_state,7}', 'other')),
      ev('process.exit', '<0.1.0>', 1.5, exit('{bad_state,7}', 'other')),
      ev('process.spawn', '<0.5.0>', 0, { 'beam.peer_pid': '<0.6.0>', 'beam.mfa': 'worker:loop/0', 'beam.initial_call': 'worker:loop/0', 'beam.proc_lib': false }),
      ev('process.exit', '<0.6.0>', 2, exit('killed', 'killed')),
    ]);
    assert.deepEqual(crashes.map((c) => [c.pid, c.attributes['scope.crash.rule']]), [['<0.2.0>', 'link_propagation']]);
    assert.deepEqual((crashes[0].attributes['scope.crash.died_next'] as Array<Record<string, unknown>>).map((d) => d.pid), ['<0.1.0>']);
    assert.ok(rules.includes('unreported'));
  });

  it('ignore_exits: reasons and initial calls the user names are no crashes', () => {
    const events = [
      ev('process.spawn', '<0.1.0>', 0, { 'beam.peer_pid': '<0.2.0>', ...genServer('pool_worker', '<0.1.0>') }),
      ev('process.exit', '<0.2.0>', 1, exit('{bad_request,1}', 'other')),
      ev('process.spawn', '<0.1.0>', 0, { 'beam.peer_pid': '<0.3.0>', ...genServer('ranch_conns', '<0.1.0>') }),
      ev('process.exit', '<0.3.0>', 1, exit('closed', 'other')),
    ];
    assert.equal(run(events).crashes.length, 2);
    const ignored = run(events, { ignoreExitReasons: anyOf(['{bad_request,*}']), ignoreInitialCalls: anyOf(['ranch_*']) });
    assert.deepEqual(ignored.crashes, []);
    assert.deepEqual(ignored.rules, ['ignored', 'ignored']);
  });
});

describe('noise', () => {
  it('a `receive … after` timeout makes no span and is never a parent; a real `timeout` message that was sent is handled', () => {
    const { spans } = run([
      ev('message.send', '<0.1.0>', 0, { 'beam.peer_pid': '<0.2.0>', 'beam.message': '{work,1}', 'beam.message.kind': 'info', 'beam.request': 'work' }),
      ev('message.receive', '<0.2.0>', 1, { 'beam.message': '{work,1}', 'beam.message.kind': 'info', 'beam.request': 'work' }),
      ev('message.receive', '<0.2.0>', 5, { 'beam.message': 'timeout', 'beam.message.kind': 'timeout', 'beam.request': 'timeout' }),
      ev('message.send', '<0.2.0>', 6, { 'beam.peer_pid': '<0.3.0>', 'beam.message': 'tick', 'beam.message.kind': 'info', 'beam.request': 'tick' }),
      ev('message.receive', '<0.3.0>', 7, { 'beam.message': 'tick', 'beam.message.kind': 'info', 'beam.request': 'tick' }),
      ev('message.send', '<0.1.0>', 8, { 'beam.peer_pid': '<0.3.0>', 'beam.message': 'timeout', 'beam.message.kind': 'timeout', 'beam.request': 'timeout' }),
      ev('message.receive', '<0.3.0>', 9, { 'beam.message': 'timeout', 'beam.message.kind': 'timeout', 'beam.request': 'timeout' }),
    ]);
    const names = spans.map((s) => s.name);
    assert.equal(names.filter((n) => n === 'process handle_info timeout').length, 1, 'only the timeout that was a message');
    const work = spans.find((s) => s.name === 'process handle_info work')!;
    const tick = spans.find((s) => s.name === 'process handle_info tick')!;
    assert.equal(tick.parentSpanId, undefined, 'work after a timeout has no parent: the timeout is not a message');
    assert.notEqual(tick.traceId, work.traceId);
    assert.ok(work.endTimeUnixNano <= T0 + 5_000_000n, 'the handling ended at the timeout, not after');
  });

  it('data from a port or socket, and timer messages, start a trace of their own', () => {
    const { spans } = run([
      ev('function.call', '<0.1.0>', 0, { 'beam.mfa': 'conn:send/1' }),
      ev('message.send', '<0.1.0>', 1, { 'beam.peer_pid': '<0.2.0>', 'beam.message': '{tcp,#Port<0.5>,<<"GET /">>}', 'beam.message.kind': 'port', 'beam.request': 'tcp' }),
      ev('message.receive', '<0.2.0>', 2, { 'beam.message': '{tcp,#Port<0.5>,<<"GET /">>}', 'beam.message.kind': 'port', 'beam.request': 'tcp' }),
      ev('function.return', '<0.1.0>', 3, { 'beam.mfa': 'conn:send/1' }),
      ev('message.receive', '<0.2.0>', 4, { 'beam.message': '{timeout,#Ref<0.1.2.3>,ping}', 'beam.message.kind': 'timer', 'beam.request': 'ping' }),
      // A port's own events make no spans.
      ev('message.receive', '#Port<0.5>', 5, { 'beam.message': '{<0.2.0>,{command,<<"x">>}}', 'beam.message.kind': 'info' }),
    ]);
    const tcp = spans.find((s) => s.name === 'process handle_info tcp')!;
    const timer = spans.find((s) => s.name === 'process handle_info ping')!;
    assert.equal(tcp.parentSpanId, undefined);
    assert.equal(tcp.attributes['scope.trace.entry'], 'port');
    assert.equal(timer.parentSpanId, undefined);
    assert.notEqual(timer.traceId, tcp.traceId);
    assert.equal(spans.filter((s) => s.attributes['beam.pid'] === '#Port<0.5>').length, 0);
  });

  it('a trace lasts at most max_trace_duration: later work continues in a new trace linked to the old one', () => {
    const events: ScopeEvent[] = [];
    for (let i = 0; i < 6; i++) {
      const msg = { 'beam.message': `{req,${i}}`, 'beam.message.kind': 'info', 'beam.request': 'req' };
      const [from, to] = i % 2 === 0 ? ['<0.1.0>', '<0.2.0>'] : ['<0.2.0>', '<0.1.0>'];
      events.push(ev('message.send', from, i * 1000, { 'beam.peer_pid': to, ...msg }), ev('message.receive', to, i * 1000 + 1, msg));
    }
    const { spans } = run(events, { maxTraceDurationMs: 2500 });
    const handling = spans.filter((s) => s.name === 'process handle_info req' && s.attributes['scope.span.continuation'] === undefined).sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano));
    assert.equal(handling.length, 6);
    assert.equal(new Set(handling.slice(0, 3).map((s) => s.traceId)).size, 1, 'within 2.5 s: one trace');
    assert.notEqual(handling[3].traceId, handling[2].traceId);
    const standIn = spans.find((s) => s.spanId === handling[3].parentSpanId);
    assert.ok(standIn, 'the new trace\'s root is a stand-in for the span it continues');
    assert.equal(standIn.attributes['scope.span.continuation'], true);
    assert.equal(standIn.parentSpanId, undefined);
    assert.equal(standIn.traceId, handling[3].traceId);
    assert.deepEqual(standIn.links.map((l) => l.spanId), [handling[2].spanId]);
    assert.deepEqual(handling.slice(4).map((s) => s.traceId), [handling[3].traceId, handling[3].traceId], 'the rest goes on in the new trace');
  });
});
