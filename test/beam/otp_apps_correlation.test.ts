/**
 * Correlation on software this project did not write: OTP's own inets httpd,
 * ssl, ssh daemon and mnesia, driven by real clients on an untraced peer node,
 * traced with zero code change (plain dbg, attached after the apps are up),
 * with real faults (test/beam/otp_apps.ts). Asserts the exact set of
 * process.crash events — none for erpc workers, distribution connections or
 * the shell's processes — and for each real crash its rule, trigger, poison
 * message, cause, cascade, restart and stack, as OTP's own reports say.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScopeEvent, Span } from '../../src/index.js';
import { runOtpApps, type OtpAppsRun } from './otp_apps.js';

const crashesOf = (run: OtpAppsRun): ScopeEvent[] => run.events.filter((e) => e.type === 'process.crash');
const attr = (e: ScopeEvent, k: string): unknown => e.attributes[k];
const nextPids = (e: ScopeEvent): string[] => (attr(e, 'scope.crash.died_next') as Array<{ pid: string }>).map((d) => d.pid).sort();
const pidsIn = (text: string): string[] => text.match(/<\d+\.\d+\.\d+>/g) ?? [];

/** Crash events of the escalate phase are the restarted httpd acceptors failing in init (a real OTP crash report each), when they happen. */
function escalateCrashes(run: OtpAppsRun, crashes: ScopeEvent[]): ScopeEvent[] {
  const phase = run.phases.find((p) => p.phase === 'escalate');
  if (!phase) return [];
  return crashes.filter((c) => c.time >= phase.startNs && c.time <= phase.endNs);
}

describe('correlation on real OTP applications (dbg attach)', () => {
  it('the exact crashes, each explained as OTP reports it; no false crash; spans named by the real module', async (t) => {
    const run = await runOtpApps(t, { processors: { correlation: { crash_window: '300ms' } } });
    const crashes = crashesOf(run);
    const byPid = new Map(crashes.map((c) => [c.pid as string, c]));
    const server = run.fact('crash.server');
    const killedSsh = run.fact('kill.ssh.target');
    const killedHttp = run.fact('kill.http.target');
    const trappedHttp = run.fact('trap.http.target');

    // --- the exact set
    const escalated = escalateCrashes(run, crashes);
    for (const c of escalated) {
      assert.equal(attr(c, 'beam.initial_call'), 'httpd_acceptor:acceptor_init/9', `escalate: only restarted acceptors failing: ${JSON.stringify(c.attributes)}`);
      assert.match(String(attr(c, 'beam.reason')), /^\{noproc,/);
      assert.equal(attr(c, 'scope.crash.rule'), 'crash_report');
    }
    const expected = [server, killedSsh, killedHttp, trappedHttp, ...escalated.map((c) => c.pid as string)].sort();
    assert.deepEqual(crashes.map((c) => c.pid as string).sort(), expected, crashes.map((c) => `${c.pid} ${String(attr(c, 'scope.crash.rule'))} ${String(attr(c, 'beam.reason')).slice(0, 80)}`).join('\n'));

    // No false crashes: erpc workers, the distribution connection, the shell's readers and evaluators, the call timeout's caller.
    for (const c of crashes) assert.notEqual(attr(c, 'beam.reason.class'), 'erpc');
    const notCrashed = [
      ...pidsIn(run.fact('erpc.call_return')), ...pidsIn(run.fact('erpc.rpc_call')), ...Object.keys(run.factsWithPrefix('erpc.conn.')).filter((k) => !k.includes('.')),
      ...Object.entries(run.factsWithPrefix('shell.')).filter(([k]) => k.endsWith('.evaluator') || k.endsWith('.shell')).map(([, v]) => v),
      run.fact('timeout.dier'), run.fact('timeout.server'), run.fact('trap.ssh.target'), run.fact('escalate.target'),
    ];
    assert.ok(notCrashed.length >= 8, notCrashed.join(' '));
    for (const pid of notCrashed) assert.equal(byPid.get(pid), undefined, `${pid} is no crash`);
    const workers = run.events.filter((e) => e.type === 'process.spawned' && e.attributes['beam.initial_call'] === 'erpc:execute_call/4');
    assert.ok(workers.length >= 6, 'erpc workers seen');
    for (const w of workers) {
      assert.match(String(w.attributes['beam.peer_pid']), /^<[^.]+@[^.]+\.\d+\.\d+>$/, 'the caller on the peer node, never a local-looking pid');
      assert.equal(byPid.get(w.pid as string), undefined);
    }
    const shellReaders = run.events.filter((e) => e.type === 'process.spawn' && e.attributes['beam.initial_call'] === "shell:'-fun-'/0");
    assert.ok(shellReaders.length >= 5, 'a reader per typed command');
    for (const s of shellReaders) assert.equal(byPid.get(s.attributes['beam.peer_pid'] as string), undefined, 'the shell\'s reader exiting with the command is no crash');

    // --- ssl_manager given a cast it has no clause for: crash report, restarted by ssl_admin_sup (rest_for_one).
    const sm = byPid.get(server) as ScopeEvent;
    assert.deepEqual([attr(sm, 'scope.crash.rule'), attr(sm, 'scope.crash.trigger'), attr(sm, 'scope.crash.root_cause')], ['crash_report', 'message', true]);
    assert.equal(attr(sm, 'scope.crash.poison_message'), run.fact('crash.message'), 'the cast, not a receive … after timeout');
    assert.equal(attr(sm, 'scope.crash.poison_sender'), run.fact('crash.sender'));
    assert.equal(attr(sm, 'beam.initial_call'), 'ssl_manager:init/1');
    const stack = attr(sm, 'scope.crash.stack') as string[];
    assert.equal(stack[0], `ssl_manager:handle_cast/2 (${run.fact('crash.location')})`);
    assert.match(stack[1], /^gen_server:try_dispatch\/4 \(gen_server\.erl:\d+\)$/);
    assert.deepEqual(attr(sm, 'scope.crash.restarts'), [{ supervisor: run.fact('crash.supervisor'), old_pid: server, new_pid: run.fact('crash.new_server'), initial_call: 'ssl_manager:init/1' }]);
    const smDown = Object.entries(run.factsWithPrefix('crash.down.')).filter(([p]) => p !== server).map(([p]) => p);
    assert.deepEqual(nextPids(sm), smDown.sort(), 'rest_for_one stopped the child after it');

    // --- the ssh connection handler killed with exit(Pid, kill): its supervisor reports it; no poison; its tree in died_next.
    const ssh = byPid.get(killedSsh) as ScopeEvent;
    assert.deepEqual([attr(ssh, 'scope.crash.rule'), attr(ssh, 'scope.crash.trigger'), attr(ssh, 'beam.reason')], ['supervisor_report', 'exit_signal', 'killed']);
    assert.equal(attr(ssh, 'scope.crash.poison_message'), undefined, 'a kill comes with no message');
    const sshTree = Object.keys(run.factsWithPrefix('kill.ssh.down.')).filter((p) => p !== killedSsh);
    assert.equal(sshTree.length, 4, 'channel sup, channel, acceptor sup and the subsystem sup went down');
    for (const p of sshTree) assert.ok(nextPids(ssh).includes(p), `${p} in died_next ${nextPids(ssh).join(' ')}`);
    for (const p of pidsIn(run.fact('kill.ssh.survivors'))) assert.ok(!nextPids(ssh).includes(p), `${p} survived`);

    // --- the httpd request handler killed: httpd_connection_sup reports it (temporary: no restart).
    const http = byPid.get(killedHttp) as ScopeEvent;
    assert.deepEqual([attr(http, 'scope.crash.rule'), attr(http, 'scope.crash.trigger'), attr(http, 'scope.crash.restarts')], ['supervisor_report', 'exit_signal', []]);
    assert.equal(attr(http, 'scope.crash.poison_message'), undefined);

    // --- a trapping request handler given exit(Pid, otp_apps_signal): the 'EXIT' it received is the poison, its sender the cause.
    const trapped = byPid.get(trappedHttp) as ScopeEvent;
    assert.deepEqual([attr(trapped, 'scope.crash.rule'), attr(trapped, 'scope.crash.trigger')], ['crash_report', 'exit_message']);
    assert.equal(attr(trapped, 'scope.crash.poison_message'), `{'EXIT',${run.fact('trap.http.from')},otp_apps_signal}`);
    assert.equal(attr(trapped, 'scope.crash.caused_by'), run.fact('trap.http.from'));
    assert.equal(attr(trapped, 'beam.initial_call'), 'httpd_request_handler:init/1');

    // --- noise: no span of a `receive … after` timeout, none named proc_lib, bounded traces.
    const spans: Span[] = run.spans;
    assert.ok(spans.length > 300, `${spans.length} spans`);
    assert.deepEqual(spans.filter((s) => / timeout$/.test(s.name)).map((s) => s.name), [], 'timeout spans');
    assert.deepEqual(spans.filter((s) => s.name.includes('proc_lib')).map((s) => s.name), []);
    const poisoned = spans.find((s) => s.attributes['beam.pid'] === server && s.attributes['beam.message'] === run.fact('crash.message')) as Span;
    assert.equal(poisoned.name, 'ssl_manager handle_cast otp_apps_unknown_cast', 'named by its callback module');
    assert.equal(poisoned.status.code, 'error');
    assert.ok(spans.some((s) => s.name === 'httpd_request_handler handle_info tcp' && s.parentSpanId === undefined && s.attributes['scope.trace.entry'] === 'port'),
      'a request arriving on a socket starts its own trace, in the request handler named by its module');
    const perTrace = new Map<string, number>();
    for (const s of spans) perTrace.set(s.traceId, (perTrace.get(s.traceId) ?? 0) + 1);
    const largest = Math.max(...perTrace.values());
    assert.ok(largest < 500, `largest trace ${largest} spans`);
    t.diagnostic(`spans ${spans.length}, traces ${perTrace.size}, spans per trace median ${[...perTrace.values()].sort((a, b) => a - b)[Math.floor(perTrace.size / 2)]} max ${largest}, `
      + `timeout spans 0, crashes ${crashes.length} (escalate ${escalated.length}), false crashes 0`);
  });

  it('attached with ScopeBeam.Tracer: the snapshot gives processes alive before the attach their identity — crash reports, real initial calls and names', async (t) => {
    const run = await runOtpApps(t, { tracer: 'scope_beam', phases: ['traffic', 'crash', 'kill', 'trap'], processors: { correlation: { crash_window: '300ms' } } });
    const crashes = crashesOf(run);
    const byPid = new Map(crashes.map((c) => [c.pid as string, c]));
    const expected = [run.fact('crash.server'), run.fact('kill.ssh.target'), run.fact('kill.http.target'), run.fact('trap.http.target')].sort();
    assert.deepEqual(crashes.map((c) => c.pid as string).sort(), expected);

    const sm = byPid.get(run.fact('crash.server')) as ScopeEvent;
    assert.deepEqual([attr(sm, 'scope.crash.rule'), attr(sm, 'beam.initial_call'), attr(sm, 'beam.behaviour'), attr(sm, 'beam.registered_name')],
      ['crash_report', 'ssl_manager:init/1', 'gen_server', 'ssl_manager'], 'known from the snapshot before it crashed');
    assert.equal(attr(sm, 'scope.crash.poison_message'), run.fact('crash.message'));
    assert.equal(attr(sm, 'scope.crash.restarts') instanceof Array && (attr(sm, 'scope.crash.restarts') as unknown[]).length, 1);

    // The ssh connection handler existed before the attach: a gen_statem of ssh_connection_handler, supervised by a supervisor the snapshot names.
    const ssh = byPid.get(run.fact('kill.ssh.target')) as ScopeEvent;
    assert.deepEqual([attr(ssh, 'scope.crash.rule'), attr(ssh, 'beam.initial_call'), attr(ssh, 'beam.behaviour')], ['supervisor_report', 'ssh_connection_handler:init/1', 'gen_statem']);
    const sshTree = Object.keys(run.factsWithPrefix('kill.ssh.down.')).filter((p) => p !== run.fact('kill.ssh.target'));
    for (const p of sshTree) assert.ok(nextPids(ssh).includes(p), `${p} in died_next`);

    // Spans of processes alive before the attach are named by their registered name or callback module, never "process".
    const snapshots = new Map(run.events.filter((e) => e.type === 'process.snapshot').map((e) => [e.pid as string, e]));
    const identified = run.spans.filter((s) => s.attributes['beam.message.kind'] !== undefined && snapshots.get(s.attributes['beam.pid'] as string)?.attributes['beam.callback_module'] !== undefined);
    assert.ok(identified.length >= 20, `${identified.length} handling spans of snapshotted processes`);
    for (const s of identified) {
      const snap = snapshots.get(s.attributes['beam.pid'] as string) as ScopeEvent;
      const owner = String(snap.attributes['beam.registered_name'] ?? snap.attributes['beam.callback_module']).replace(/^Elixir\./, '');
      assert.ok(s.name.startsWith(`${owner} `), `${s.name} named after ${owner}`);
    }
    const names = new Set(identified.map((s) => s.name));
    assert.ok(names.has('ssl_manager handle_cast otp_apps_unknown_cast'), [...names].join(', '));
    assert.ok(names.has('ssh_subsystem_sup handle_info EXIT'), 'an unregistered supervisor, named by its callback module from the snapshot');
  });
});
