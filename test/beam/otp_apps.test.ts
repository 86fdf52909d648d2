/**
 * The OTP apps harness (test/beam/otp_apps.ts) on a real node: inets httpd,
 * ssl, ssh, mnesia and a peer node's clients, traced after they are up. With no
 * processors, the raw events must show every fault the node reports in its
 * facts: a gen_server crash and its supervisor's restart, killed connection
 * processes and their trees, exit signals to trapping processes, call
 * timeouts, erpc workers, a distribution connection closing, a supervisor
 * giving up, and the Erlang shell. Attached with ScopeBeam.Tracer instead of
 * dbg (tracer: 'scope_beam'), the same faults show, and a process snapshot
 * names the processes that were alive before the attach.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventSchemas, type ScopeEvent } from '../../src/index.js';
import { OTP_APPS_PHASES, runOtpApps, type OtpAppsRun } from './otp_apps.js';

const PID = /<\d+\.\d+\.\d+>/g;
/** What both attaches set: the dbg:p flags, and the dbg:tpl patterns (local, exception_trace). */
const ATTACH_FLAGS = "[send,'receive',procs,call,timestamp]";
const ATTACH_PATTERNS = '[{erpc,execute_call,4},{erpc,execute_cast,3},{gen_server,call,3},{ssl_manager,handle_cast,2},{mod_get,do,1},'
  + '{mod_esi,do,1},{mnesia,transaction,1},{supervisor,do_restart,3},{httpd_manager,handle_info,2},{otp_apps_workload,esi_kv,3},{otp_apps_workload,esi_crash,3},{ssh_auth,check_password,3},{otp_apps_workload,check_password,2}]';

function one(run: OtpAppsRun, pid: string, type: string, what: string, match?: (e: ScopeEvent) => boolean): ScopeEvent {
  const found = run.eventsOf(pid, type).filter((e) => match === undefined || match(e));
  assert.ok(found.length > 0, `${what}: no ${type} of ${pid} (its events: ${run.eventsOf(pid).map((e) => e.type).join(', ')})`);
  return found[0];
}

const message = (e: ScopeEvent): string => String(e.attributes['beam.message']);
const reason = (e: ScopeEvent): string => String(e.attributes['beam.reason']);

/** The crash phase: ssl_manager cast a message it has no clause for, restarted by ssl_admin_sup (rest_for_one). */
function assertCrash(run: OtpAppsRun): void {
  const server = run.fact('crash.server');
  const sup = run.fact('crash.supervisor');
  const restarted = run.fact('crash.new_server');
  assert.notEqual(restarted, server);
  assert.match(run.fact('crash.location'), /^ssl_manager\.erl:\d+$/);
  one(run, server, 'message.receive', 'the poison cast', (e) => message(e).startsWith("{'$gen_cast',{otp_apps_unknown_cast,"));
  one(run, server, 'function.exception', 'handle_cast raising function_clause',
    (e) => e.attributes['beam.mfa'] === 'ssl_manager:handle_cast/2' && e.attributes['beam.exception.class'] === 'error' && reason(e) === 'function_clause');
  const died = one(run, server, 'process.exit', 'the crash');
  assert.match(reason(died), /^\{function_clause,\[\{ssl_manager,handle_cast,\[\{otp_apps_unknown_cast,/);
  assert.ok(run.fact('crash.reason').startsWith('{function_clause,[{ssl_manager,handle_cast,'));
  one(run, sup, 'process.getting_unlinked', 'the supervisor losing its link', (e) => e.attributes['beam.peer_pid'] === server);
  const exitMsg = one(run, sup, 'message.receive', "the supervisor's 'EXIT'", (e) => message(e).startsWith(`{'EXIT',${server},{function_clause,`));
  const spawn = one(run, sup, 'process.spawn', 'the restart', (e) => e.attributes['beam.peer_pid'] === restarted);
  assert.equal(spawn.attributes['beam.mfa'], 'proc_lib:init_p/5');
  assert.ok(spawn.time >= exitMsg.time, 'restarted after the EXIT');
  one(run, restarted, 'process.spawned', 'the restarted child', (e) => e.attributes['beam.peer_pid'] === sup);
  one(run, restarted, 'process.register', 'the name taken again', (e) => e.attributes['beam.registered_name'] === 'ssl_manager');
  const downs = run.factsWithPrefix('crash.down.');
  const shutDown = Object.entries(downs).filter(([, r]) => r === 'shutdown').map(([p]) => p);
  assert.equal(shutDown.length, 1, `rest_for_one stops the child started after ssl_manager: ${JSON.stringify(downs)}`);
  assert.equal(reason(one(run, shutDown[0], 'process.exit', 'the sibling stopped')), 'shutdown');
  one(run, shutDown[0], 'message.receive', 'the sibling told', (e) => message(e) === `{'EXIT',${sup},shutdown}`);
}

/** A kill/trap/escalate fault: exit(Target, Signal) from a fresh process, the target's exit and every down of its tree. */
function assertSignalled(run: OtpAppsRun, prefix: string): void {
  const target = run.fact(`${prefix}.target`);
  const expected = prefix.startsWith('kill') ? 'killed' : prefix === 'trap.ssh' ? '{shutdown,otp_apps_signal}' : prefix === 'trap.http' ? 'otp_apps_signal' : 'shutdown';
  assert.equal(run.fact(`${prefix}.exit_reason`), expected, prefix);
  assert.equal(reason(one(run, target, 'process.exit', `${prefix}: the target`)), expected);
  const from = run.fact(`${prefix}.from`);
  one(run, from, 'process.spawned', `${prefix}: the sender of the signal`);
  if (!prefix.startsWith('kill')) {
    // A trapping process gets the signal as a message, then stops.
    const got = one(run, target, 'message.receive', `${prefix}: the 'EXIT' message`, (e) => message(e) === `{'EXIT',${from},${run.fact(`${prefix}.signal`)}}`);
    assert.ok(got.time <= one(run, target, 'process.exit', prefix).time);
  } else {
    assert.equal(run.eventsOf(target, 'message.receive').filter((e) => message(e).startsWith(`{'EXIT',${from}`)).length, 0, 'kill is not a message');
  }
  const down = run.factsWithPrefix(`${prefix}.down.`);
  assert.ok(Object.keys(down).length >= 1, `${prefix}: downs`);
  for (const [pid, r] of Object.entries(down)) {
    assert.equal(reason(one(run, pid, 'process.exit', `${prefix}: ${pid} went down`)), r, `${prefix}: ${pid}`);
  }
}

/** kill.ssh: the per-connection supervisor (one_for_all, auto_shutdown) takes the rest of the connection's tree with it. Returns that supervisor. */
function assertSshTreeDown(run: OtpAppsRun): string {
  const sshDown = run.factsWithPrefix('kill.ssh.down.');
  assert.ok(Object.keys(sshDown).length >= 4, JSON.stringify(sshDown));
  assert.ok(Object.entries(sshDown).every(([pid, r]) => pid === run.fact('kill.ssh.target') ? r === 'killed' : r === 'shutdown'));
  const [survivor] = run.fact('kill.ssh.survivors').match(PID) ?? [];
  assert.ok(survivor, 'the daemon\'s ssh_system_sup survives');
  const sshTree = Object.keys(run.factsWithPrefix('kill.ssh.tree.'));
  const connSup = sshTree.find((p) => run.fact(`kill.ssh.tree.${p}`).includes('ssh_subsystem_sup'));
  assert.ok(connSup);
  one(run, survivor, 'message.receive', 'ssh_system_sup told', (e) => message(e) === `{'EXIT',${connSup},shutdown}`);
  assert.match(run.fact('kill.ssh.client_saw'), /conn_alive => false/);
  return connSup;
}

describe('otp_apps harness on a real traced node', () => {
  it('a full run: every fault the node reports is in the trace', async (t) => {
    const run = await runOtpApps(t);
    assert.deepEqual(run.phases.map((p) => p.phase), [...OTP_APPS_PHASES]);
    for (const p of run.phases) assert.ok(p.endNs >= p.startNs && p.startNs > 0n, `${p.phase}: ${p.startNs}..${p.endNs}`);
    for (const key of ['node', 'http.port', 'ssh.port', 'peer.node', 'peer.os_pid', 'trace.port', 'workload.ctl']) assert.ok(run.fact(key) !== '', key);
    assert.equal(run.tracer, 'dbg');
    assert.equal(run.fact('tracer'), 'dbg');
    assert.equal(run.fact('attach.flags'), ATTACH_FLAGS);
    assert.equal(run.fact('attach.patterns'), ATTACH_PATTERNS);
    assert.match(run.fact('traffic.http.index'), /^\{200,\d+\}$/);
    assert.match(run.fact('traffic.http.esi_kv'), /^\{200,\d+\}$/);
    assert.match(run.fact('traffic.ssh.b.exec'), /^\{ok,<<"6/, 'the ssh exec evaluated lists:sum([1,2,3])');
    for (const e of run.events) assert.equal(eventSchemas.validate(e), null, `${e.type} must satisfy its schema`);
    const types = new Set(run.events.map((e) => e.type));
    for (const type of ['message.send', 'message.receive', 'process.spawn', 'process.spawned', 'process.exit', 'process.link',
      'process.getting_linked', 'process.getting_unlinked', 'process.register', 'function.call', 'function.return', 'function.exception']) {
      assert.ok(types.has(type), `${type} in ${[...types].join(', ')}`);
    }
    assert.ok(!types.has('process.snapshot'), 'dbg writes no process snapshot');
    // The workload's controller is untraced once attached: at most the replies of the attach itself.
    assert.ok(run.eventsOf(run.fact('workload.ctl')).length < 10, 'the controller stays out of the trace');

    // --- crash: ssl_manager cast a message it has no clause for, restarted by ssl_admin_sup (rest_for_one).
    assertCrash(run);

    // --- kill: exit(Pid, kill) on the ssh connection handler of an open connection, and on an httpd keep-alive handler.
    for (const prefix of ['kill.ssh', 'kill.http', 'trap.ssh', 'trap.http', 'escalate']) assertSignalled(run, prefix);
    assertSshTreeDown(run);
    // The handler's socket: {tcp, Port, Data} messages from a #Port<…> tracee.
    const handlerB = run.fact('traffic.ssh.b.server_handler');
    const tcp = one(run, handlerB, 'message.receive', 'ssh bytes', (e) => /^\{tcp,#Port<\d+\.\d+>,/.test(message(e)));
    const port = /#Port<\d+\.\d+>/.exec(message(tcp))?.[0] as string;
    assert.ok(run.eventsOf(port, 'message.send').some((e) => e.attributes['beam.peer_pid'] === handlerB), 'the port itself is traced: it sends {tcp, …}');

    // --- timeout: gen_server:call(httpc_manager, which_cookies, 200) while it is suspended.
    const dier = run.fact('timeout.dier');
    const catcher = run.fact('timeout.catcher');
    const timeoutReason = '{timeout,{gen_server,call,[httpc_manager,which_cookies,200]}}';
    assert.equal(run.fact(`timeout.down.${dier}`), timeoutReason);
    assert.equal(reason(one(run, dier, 'process.exit', 'the caller dying of the timeout')), timeoutReason);
    one(run, dier, 'message.receive', "receive … after: the trace's 'receive' timeout", (e) => message(e) === 'timeout');
    for (const pid of [dier, catcher]) {
      one(run, pid, 'function.exception', 'gen_server:call/3 exiting', (e) => e.attributes['beam.mfa'] === 'gen_server:call/3'
        && e.attributes['beam.exception.class'] === 'exit' && reason(e) === timeoutReason);
    }
    assert.equal(reason(one(run, catcher, 'process.exit', 'the catcher')), 'normal');
    assert.equal(run.fact('timeout.late_reply'), 'none', 'the late reply went to a dead alias');

    // --- erpc from the peer: workers exit {Ref, return|throw|exit, …} or {Ref, error, Reason, Stack}.
    const worker = (run.fact('erpc.call_return').match(PID) ?? [])[0];
    assert.ok(worker);
    assert.match(reason(one(run, worker, 'process.exit', 'the erpc worker')), new RegExp(`^\\{#Ref<[^>]+>,return,${worker.replace(/\./g, '\\.')}\\}$`));
    one(run, worker, 'function.exception', 'erpc:execute_call/4 exits with the result', (e) => e.attributes['beam.mfa'] === 'erpc:execute_call/4' && e.attributes['beam.exception.class'] === 'exit');
    const exits = run.events.filter((e) => e.type === 'process.exit').map(reason);
    for (const tail of [/,throw,otp_apps_throw\}$/, /,error,otp_apps_error,\[/, /,exit,otp_apps_exit\}$/, /,return,\[\{otp_apps_kv,1,one\}\]\}$/]) {
      assert.ok(exits.some((r) => /^\{#Ref<[^>]+>,/.test(r) && tail.test(r)), `an erpc worker exit matching ${tail}`);
    }
    assert.equal(run.fact('erpc.call_throw'), '{throw,otp_apps_throw}');
    assert.equal(run.fact('erpc.call_timeout'), '{error,{erpc,timeout}}');
    // The distribution connection process exits connection_closed when the peer disconnects.
    const conns = Object.keys(run.factsWithPrefix('erpc.down.'));
    assert.ok(conns.length >= 1);
    for (const pid of conns) {
      assert.equal(run.fact(`erpc.down.${pid}`), 'connection_closed');
      assert.equal(reason(one(run, pid, 'process.exit', 'the connection process')), 'connection_closed');
      one(run, run.fact('pid.net_kernel'), 'message.receive', 'net_kernel told', (e) => message(e) === `{'EXIT',${pid},connection_closed}`);
    }
    assert.equal(run.fact('erpc.nodedown'), '[{nodedown_reason,connection_closed}]');

    // --- escalate: httpd_instance_sup (intensity 0) shuts down; httpd_sup restarts it, or gives up and is restarted by inets_sup.
    const instanceSup = run.fact('escalate.instance_sup');
    const httpdSup = run.fact('escalate.httpd_sup');
    const instanceDown = one(run, instanceSup, 'process.exit', 'the instance supervisor giving up');
    assert.equal(reason(instanceDown), 'shutdown');
    one(run, instanceSup, 'function.return', 'do_restart answering shutdown: intensity reached',
      (e) => e.attributes['beam.mfa'] === 'supervisor:do_restart/3' && String(e.attributes['beam.return']).startsWith('{shutdown,'));
    one(run, httpdSup, 'message.receive', "httpd_sup's 'EXIT'", (e) => message(e) === `{'EXIT',${instanceSup},shutdown}`);
    const restarts = run.events.filter((e) => e.type === 'process.spawn' && e.pid === httpdSup && e.time >= instanceDown.time);
    assert.ok(restarts.length >= 1, 'httpd_sup restarts the instance');
    const newHttpdSup = run.fact('escalate.httpd_sup_after');
    if (run.fact('escalate.outcome') === 'httpd_sup_restarted') {
      assert.equal(reason(one(run, httpdSup, 'process.exit', 'httpd_sup giving up')), 'shutdown');
      assert.notEqual(newHttpdSup, httpdSup);
      one(run, run.fact('escalate.inets_sup'), 'process.spawn', 'inets_sup restarting httpd_sup', (e) => e.attributes['beam.peer_pid'] === newHttpdSup);
    } else {
      assert.equal(run.fact('escalate.outcome'), 'instance_restarted');
      assert.equal(newHttpdSup, httpdSup);
      assert.equal(run.eventsOf(httpdSup, 'process.exit').length, 0);
      const [newInstance] = run.fact('escalate.httpd_sup_children_after').match(PID) ?? [];
      assert.ok(restarts.some((e) => e.attributes['beam.peer_pid'] === newInstance), 'the running instance is the one httpd_sup spawned');
    }

    // --- shell: commands typed into the real Erlang shell.
    const shell = run.fact('shell.start.shell');
    const evaluator = run.fact('shell.badarith.evaluator');
    one(run, evaluator, 'message.send', 'the evaluator reporting the exception', (e) => message(e).startsWith(`{ev_exit,{${evaluator},error,{badarith,`) && e.attributes['beam.peer_pid'] === shell);
    assert.equal(reason(one(run, evaluator, 'process.exit', 'the evaluator after badarith')), 'normal');
    assert.notEqual(run.fact('shell.exit.evaluator'), evaluator, 'a new evaluator after the exception');
    one(run, run.fact('shell.exit.evaluator'), 'process.spawned', 'the new evaluator', (e) => e.attributes['beam.peer_pid'] === shell);
    const readers = run.events.filter((e) => e.type === 'process.spawn' && e.pid === shell).map((e) => String(e.attributes['beam.peer_pid']));
    const parsed = run.events.filter((e) => e.type === 'process.exit' && readers.includes(e.pid as string) && reason(e).startsWith('{ok,[{call,'));
    assert.ok(parsed.length >= 5, `the shell's reader processes exit with the parsed expressions (${parsed.length})`);
    assert.ok(exits.includes('otp_apps_shell_spawned'), 'the fun spawned from the shell');
  });

  it('a subset without the shell: kill alone opens the connections it needs, no shell phase', async (t) => {
    const run = await runOtpApps(t, { phases: ['kill'], receiver: { max_message_bytes: 4096 } });
    assert.deepEqual(run.phases.map((p) => p.phase), ['kill']);
    assert.equal(run.fact('mode'), 'noshell');
    assert.equal(run.facts['shell.start.evaluator'], undefined);
    assert.equal(run.facts['traffic.http.index'], undefined, 'no traffic phase');
    for (const prefix of ['kill.ssh', 'kill.http']) {
      assert.equal(reason(one(run, run.fact(`${prefix}.target`), 'process.exit', prefix)), 'killed');
    }
    // The ssh connection was opened before the attach: no spawn or link of its handler in the trace, yet its supervisor's unlink and 'EXIT'.
    const target = run.fact('kill.ssh.target');
    assert.equal(run.events.filter((e) => (e.type === 'process.spawn' || e.type === 'process.link') && e.attributes['beam.peer_pid'] === target).length, 0);
    const connSup = Object.keys(run.factsWithPrefix('kill.ssh.tree.')).find((p) => run.fact(`kill.ssh.tree.${p}`).includes('ssh_subsystem_sup')) as string;
    one(run, connSup, 'process.getting_unlinked', 'the unlink of a link made before the attach', (e) => e.attributes['beam.peer_pid'] === target);
    one(run, connSup, 'message.receive', "the supervisor's 'EXIT'", (e) => message(e) === `{'EXIT',${target},killed}`);
    // The httpd handler of the GET made just before: spawned by httpd_connection_sup with its proc_lib start.
    const handler = run.fact('kill.http.target');
    const spawned = one(run, handler, 'process.spawned', 'the httpd request handler');
    assert.equal(spawned.attributes['beam.mfa'], 'proc_lib:init_p/5');
  });

  it("tracer: 'scope_beam': ScopeBeam.Tracer attaches instead of dbg; its snapshot names the processes alive before, and the faults show as with dbg", async (t) => {
    const started = Date.now();
    const run = await runOtpApps(t, { tracer: 'scope_beam', phases: ['traffic', 'crash', 'kill'] });
    const took = Date.now() - started;
    assert.ok(took < 30_000, `the run took ${took} ms`);
    assert.equal(run.tracer, 'scope_beam');
    assert.equal(run.fact('tracer'), 'scope_beam');
    assert.equal(run.fact('mode'), 'noshell');
    assert.deepEqual(run.phases.map((p) => p.phase), ['traffic', 'crash', 'kill']);
    // Loaded from the code path only: beam-receiver's ebin, started with what it needs.
    assert.match(run.fact('scope_beam.ebin'), /beam-receiver\/_build\/dev\/lib\/scope_beam\/ebin$/);
    for (const app of ['elixir', 'logger', 'scope_beam']) assert.match(run.fact('scope_beam.started_apps'), new RegExp(`[\\[,]${app}[,\\]]`), app);
    // The same attach as dbg's: flags, local call patterns with exception_trace, every process.
    assert.equal(run.fact('attach.flags'), ATTACH_FLAGS);
    assert.equal(run.fact('attach.patterns'), ATTACH_PATTERNS);
    assert.equal(run.fact('trace.targets'), '[all]');
    assert.match(run.fact('attach.options'), /\{exception_trace,true\}.*\{max_duration,infinity\},\{max_events_per_second,infinity\}/);
    for (const e of run.events) assert.equal(eventSchemas.validate(e), null, `${e.type} must satisfy its schema`);
    const types = new Set(run.events.map((e) => e.type));
    for (const type of ['process.snapshot', 'message.send', 'message.receive', 'process.spawn', 'process.spawned', 'process.exit', 'process.link',
      'process.getting_linked', 'process.getting_unlinked', 'process.register', 'function.call', 'function.return', 'function.exception']) {
      assert.ok(types.has(type), `${type} in ${[...types].join(', ')}`);
    }

    // --- the snapshot: one event per process alive at the attach, all at one moment inside the attach phase.
    const snapshots = run.events.filter((e) => e.type === 'process.snapshot');
    const snap = new Map<string, ScopeEvent>();
    for (const e of snapshots) {
      assert.ok(!snap.has(e.pid as string), `one snapshot per process: ${e.pid}`);
      snap.set(e.pid as string, e);
    }
    assert.ok(snapshots.length >= 60, `the node's processes (${snapshots.length})`);
    const source = run.eventsOf(run.fact('crash.server'), 'process.exit')[0]?.source;
    for (const e of snapshots) {
      assert.match(e.pid as string, /^(<\d+\.\d+\.\d+>|#Port<\d+\.\d+>)$/);
      assert.equal(e.schemaVersion, 1);
      assert.deepEqual(e.source, source, 'the same source as the trace events');
      assert.equal(typeof e.attributes['beam.initial_call'], 'string', `${e.pid}: an initial call`);
    }
    const attachStart = BigInt(run.fact('phase.attach.start_ns'));
    const attachEnd = BigInt(run.fact('phase.attach.end_ns'));
    assert.equal(new Set(snapshots.map((e) => e.time)).size, 1, 'one snapshot moment');
    assert.ok(snapshots[0].time >= attachStart && snapshots[0].time <= attachEnd, `${snapshots[0].time} in ${attachStart}..${attachEnd}`);
    const of = (pid: string, what: string): ScopeEvent['attributes'] => {
      const e = snap.get(pid);
      assert.ok(e, `${what}: no process.snapshot of ${pid}`);
      return e.attributes;
    };
    // Every process the node named before the attach, under its registered name.
    for (const [name, pid] of Object.entries(run.factsWithPrefix('pid.'))) {
      const a = of(pid, name);
      if (name !== 'httpd_manager') assert.equal(a['beam.registered_name'], name, pid);
    }
    // ssl_manager (the crash victim): a gen_server, as proc_lib reports its initial call.
    const sslManager = run.fact('pid.ssl_manager');
    assert.equal(run.fact('crash.server'), sslManager);
    const ssl = of(sslManager, 'ssl_manager');
    assert.equal(ssl['beam.initial_call'], 'ssl_manager:init/1');
    assert.equal(ssl['beam.behaviour'], 'gen_server');
    assert.equal(ssl['beam.callback_module'], 'ssl_manager');
    assert.equal(ssl['beam.proc_lib'], true);
    assert.equal(ssl['beam.trap_exit'], true);
    assert.deepEqual((ssl['beam.ancestors'] as string[]).slice(0, 2), ['ssl_admin_sup', 'ssl_sup']);
    assert.deepEqual(ssl['beam.links'], [run.fact('crash.supervisor')]);
    assert.equal(of(run.fact('crash.supervisor'), 'ssl_admin_sup')['beam.behaviour'], 'supervisor');
    // ssh connection A's tree (opened before the attach): each process as proc_lib translates its initial call.
    const tree = run.factsWithPrefix('kill.ssh.tree.');
    assert.ok(Object.keys(tree).length >= 5, JSON.stringify(tree));
    for (const [pid, label] of Object.entries(tree)) {
      const [, m, f, a] = /^\{\{proc_lib,init_p,5\},\{(\w+),(\w+),(\d+)\}/.exec(label) ?? [];
      assert.ok(m, label);
      const s = of(pid, `kill.ssh.tree ${label}`);
      assert.equal(s['beam.initial_call'], `${m}:${f}/${a}`, pid);
      if (m === 'supervisor') {
        assert.equal(s['beam.behaviour'], 'supervisor', pid);
        assert.equal(s['beam.callback_module'], f, pid);
      }
    }
    const handlerA = run.fact('kill.ssh.target');
    assert.equal(run.fact('ssh.a.server_handler'), handlerA);
    const connSup = Object.keys(tree).find((p) => tree[p].includes('{supervisor,ssh_subsystem_sup,1}')) as string;
    assert.ok(connSup, 'an ssh_subsystem_sup in the tree');
    assert.ok((of(connSup, 'ssh_subsystem_sup')['beam.links'] as string[]).includes(handlerA), 'the connection supervisor is linked to its handler');
    const handler = of(handlerA, 'ssh connection handler A');
    assert.equal(handler['beam.behaviour'], 'gen_statem');
    assert.equal(handler['beam.callback_module'], 'ssh_connection_handler');
    assert.equal((handler['beam.ancestors'] as string[])[0], connSup);
    // httpd's connection supervisor (made with the instance, before the attach).
    const httpTree = run.factsWithPrefix('kill.http.tree.');
    const httpConnSup = Object.keys(httpTree).find((p) => httpTree[p].includes('{supervisor,httpd_connection_sup,1}')) as string;
    assert.ok(httpConnSup, JSON.stringify(httpTree));
    const hcs = of(httpConnSup, 'httpd_connection_sup');
    assert.equal(hcs['beam.behaviour'], 'supervisor');
    assert.equal(hcs['beam.initial_call'], 'supervisor:httpd_connection_sup/1');
    assert.equal(hcs['beam.registered_name'], /,(\w+)\}$/.exec(httpTree[httpConnSup])?.[1]);
    // Processes started after the attach are not in it: the trace saw them spawn.
    for (const pid of [run.fact('crash.new_server'), run.fact('kill.http.target'), run.fact('traffic.ssh.b.server_handler'), run.fact('crash.sender')]) {
      assert.equal(snap.has(pid), false, `${pid} was spawned after the attach`);
      one(run, pid, 'process.spawned', 'a process started after the attach');
    }

    // --- who is not traced: ScopeBeam's monitor and port, its caller (the controller) and the stdin reader.
    const server = run.fact('trace.scope_beam_server');
    const monitor = of(server, 'the ScopeBeam.Tracer.Server monitor');
    assert.equal(monitor['beam.role'], 'tracer');
    assert.equal(monitor['beam.registered_name'], 'Elixir.ScopeBeam.Tracer.Server');
    assert.deepEqual(monitor['beam.links'], [run.fact('trace.tracer')], 'the monitor owns the trace port');
    // It untraces itself first, before any call of its own could be traced.
    const leaked = run.eventsOf(server).filter((e) => e.type !== 'process.snapshot');
    assert.deepEqual(leaked.map((e) => [e.type, e.attributes]), [], 'the monitor\'s own events');
    assert.equal(run.eventsOf(run.fact('trace.tracer')).length, 0, 'the trace port is not traced');
    const ctl = run.fact('workload.ctl');
    const ctlSnap = of(ctl, 'the controller');
    assert.equal(ctlSnap['beam.role'], 'tracer', 'the caller of start/1 is one of the tracer\'s own');
    assert.equal(ctlSnap['beam.registered_name'], 'otp_apps_ctl');
    assert.deepEqual(run.eventsOf(ctl).filter((e) => e.type !== 'process.snapshot').map((e) => e.type), [], 'the controller stays out of the trace');
    const reader = run.fact('workload.stdin_reader');
    of(reader, 'the stdin reader');
    assert.deepEqual(run.eventsOf(reader).filter((e) => e.type !== 'process.snapshot').map((e) => e.type), [], 'the stdin reader stays out of the trace');

    // --- the faults, as with dbg, at the node's times.
    assertCrash(run);
    const died = one(run, sslManager, 'process.exit', 'the crash');
    assert.ok(died.time >= BigInt(run.fact('phase.crash.start_ns')) && died.time <= BigInt(run.fact('phase.crash.end_ns')), 'the crash inside its phase');
    for (const prefix of ['kill.ssh', 'kill.http']) assertSignalled(run, prefix);
    assert.equal(assertSshTreeDown(run), connSup);
    one(run, connSup, 'process.getting_unlinked', 'the unlink of a link made before the attach', (e) => e.attributes['beam.peer_pid'] === handlerA);
    one(run, connSup, 'message.receive', "the supervisor's 'EXIT'", (e) => message(e) === `{'EXIT',${handlerA},killed}`);
  });
});
