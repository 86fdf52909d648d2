/**
 * Issue 18's "Done when": a real Elixir node (a test app with a supervisor, a
 * GenServer chain a → b → c and a poison message) traced through the default
 * pipeline into the archive. test/beam/crash_chain.ts produces the archive;
 * this checks with DuckDB (queryArchive) that it tells the crash's story:
 * one root-cause process.crash for C naming the poison, B as its sender (and
 * B's span at the send), the restart; spans for the chain's work; C's watched
 * state. No elixir means a failing test, never a skipped one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { queryArchive, type Cell } from '../../src/archive/query.js';
import { CRASH_CHAIN_POISON, captureCrashChain } from './crash_chain.js';

type Row = Record<string, Cell>;

async function rows(archive: string, sql: string): Promise<Row[]> {
  const result = await queryArchive(archive, sql);
  return result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]])));
}

const sqlText = (text: string): string => `'${text.replace(/'/g, "''")}'`;
const json = (cell: Cell): Record<string, unknown> => (typeof cell === 'string' ? JSON.parse(cell) : cell) as Record<string, unknown>;

it('a poison cast crashes C in a real Elixir app: the Parquet archive holds its process.crash (poison, sender and its span, restart) and the chain\'s spans', async (t) => {
  const run = await captureCrashChain(t);
  const { pids, archive } = run;
  assert.equal(run.shutdown.drained, true, 'the pipeline drained: every Parquet file completed');
  assert.equal(run.crashesEmitted, 1, 'correlation emitted one process.crash');
  assert.equal(run.results.discount, '{:ok, "order-4", :discount_sent}', 'B answered A before C crashed (a cast)');
  assert.equal(run.results.ordersAfter, '{:ok, "order-5", 2000}', 'the restarted C served the next order');
  assert.equal(new Set(Object.values(pids)).size, 6, `distinct pids ${JSON.stringify(pids)}`);

  // --- exactly one process.crash, a root cause, for C's old pid; none for A, B, the supervisor (or anyone else).
  const crashes = await rows(archive, `
    select id, pid, node, trace_id, span_id, attributes,
           json_extract_string(attributes, '$."scope.crash.poison_sender"') as sender,
           json_extract_string(attributes, '$."scope.crash.poison_message"') as poison,
           json_extract(attributes, '$."scope.crash.root_cause"')::BOOLEAN as root_cause
    from events where type = 'process.crash'`);
  assert.deepEqual(crashes.map((c) => c.pid), [pids.c], 'one process.crash, for C (none for A, B or the supervisor)');
  const crash = crashes[0];
  const attrs = json(crash.attributes);
  assert.equal(crash.root_cause, true);
  assert.equal(crash.node, run.node);
  assert.equal(attrs['scope.crash.root_pid'], pids.c);
  assert.equal(attrs['scope.crash.rule'], 'crash_report');
  assert.equal(attrs['scope.crash.trigger'], 'message');
  assert.equal(attrs['beam.reason.class'], 'error');
  assert.equal(attrs['beam.exception.error'], 'function_clause');
  assert.match(String(attrs['beam.reason']), /^\{function_clause,\[\{'Elixir\.CrashChain\.C',handle_cast,\[\{apply_discount,<<"SUMMER">>,-5\},/);
  assert.equal(attrs['beam.registered_name'], 'Elixir.CrashChain.C');
  assert.equal(attrs['beam.initial_call'], "'Elixir.CrashChain.C':init/1");
  assert.equal(attrs['beam.behaviour'], 'gen_server');
  const stack = attrs['scope.crash.stack'] as string[];
  assert.match(stack[0], /^CrashChain\.C\.handle_cast\/2 \(.*test\/beam\/crash_chain\.exs:\d+\)$/, 'innermost first');
  // Then OTP's frames (gen_server:handle_msg/6, or /7 with the :sys debug function ScopeBeam.watch installs).
  assert.equal(stack[1]?.replace(/ \(.*$/, ''), 'gen_server:try_dispatch/4');
  assert.match(stack.at(-1) ?? '', /^proc_lib:init_p_do_apply\/3 /);

  // --- the poison and its sender.
  assert.equal(crash.poison, CRASH_CHAIN_POISON);
  assert.ok(String(crash.poison).includes('{apply_discount,<<"SUMMER">>,-5}'), 'the poison, recognisable (privacy left it alone)');
  assert.equal(crash.sender, pids.b, 'B sent the poison');
  assert.deepEqual(attrs['scope.crash.died_next'], [], 'nothing else went down (one_for_one)');
  assert.deepEqual(attrs['scope.crash.restarts'], [{ supervisor: pids.sup, old_pid: pids.c, new_pid: pids.cNew, initial_call: "'Elixir.CrashChain.C':init/1" }]);
  assert.equal(attrs['scope.crash.caused_by'], undefined, 'its own code raised: caused by no other exit');

  // --- B's span at the send: its handle_call of A's discount request, in the trace of the client's requests.
  const senderSpanId = attrs['scope.crash.poison_sender_span_id'];
  const senderTraceId = attrs['scope.crash.poison_sender_trace_id'];
  assert.equal(typeof senderSpanId, 'string', 'correlation names the sender\'s span');
  assert.equal(senderTraceId, crash.trace_id, 'the crash is in the trace of the request that carried the poison');
  const trace = await rows(archive, `select span_id, parent_span_id, name, pid, kind, status_code, status_message, trace_id from spans where trace_id = ${sqlText(String(crash.trace_id))}`);
  const byId = new Map(trace.map((s) => [s.span_id as string, s]));
  const sender = byId.get(senderSpanId as string);
  assert.ok(sender, `a span with the poison sender's span id ${String(senderSpanId)}`);
  assert.equal(sender.pid, pids.b);
  assert.equal(sender.name, 'CrashChain.B.handle_call/3');
  // Up from it: B handling A's call, A's handle_call, A handling the client's call, the client's discount/3, the client's `go`.
  const chain: Row[] = [];
  for (let s: Row | undefined = sender; s; s = s.parent_span_id ? byId.get(s.parent_span_id as string) : undefined) chain.push(s);
  assert.deepEqual(chain.map((s) => `${String(s.pid)} ${String(s.name)}`), [
    `${pids.b} CrashChain.B.handle_call/3`,
    `${pids.b} CrashChain.B handle_call discount`,
    `${pids.a} CrashChain.A.handle_call/3`,
    `${pids.a} CrashChain.A handle_call discount`,
    `${pids.client} CrashChain.A.discount/3`,
    `${pids.client} process handle_info go`,
  ]);
  assert.equal(chain.at(-1)?.parent_span_id, null, 'rooted at the client');
  // The crash points at C's span handling the poison, a child of B's: ERROR with the exit reason.
  const crashed = byId.get(crash.span_id as string);
  assert.ok(crashed, 'the crash\'s span is in the archive');
  assert.equal(crashed.pid, pids.c);
  assert.equal(crashed.name, 'CrashChain.C handle_cast apply_discount');
  assert.equal(crashed.parent_span_id, senderSpanId);
  assert.equal(crashed.status_code, 'error');
  assert.equal(crashed.status_message, attrs['beam.reason']);
  // The poison among C's last messages, with its sender and the sender's span.
  const last = attrs['scope.crash.last_messages'] as Array<Record<string, unknown>>;
  assert.ok(last.length > 0 && last.length <= 10, 'at most crash_context_messages');
  const poisonSeen = last.find((m) => m.message === CRASH_CHAIN_POISON);
  assert.ok(poisonSeen, `the poison among the last messages: ${JSON.stringify(last.map((m) => m.message))}`);
  assert.equal(poisonSeen.from, pids.b);
  assert.equal(poisonSeen.span_id, senderSpanId);

  // --- the work of the chain: A, B and C (old and new) each handled requests in spans.
  const work = await rows(archive, `select pid, name, count(*)::INTEGER as n from spans where pid in (${[pids.a, pids.b, pids.c, pids.cNew].map(sqlText).join(',')}) and kind = 'server' group by 1, 2 order by 1, 2`);
  const served = Object.fromEntries(work.map((w) => [`${String(w.pid)} ${String(w.name)}`, w.n]));
  assert.deepEqual(served, {
    [`${pids.a} CrashChain.A handle_call order`]: 4,
    [`${pids.a} CrashChain.A handle_call discount`]: 1,
    [`${pids.b} CrashChain.B handle_call price`]: 4,
    [`${pids.b} CrashChain.B handle_call discount`]: 1,
    [`${pids.c} CrashChain.C handle_call total`]: 3,
    [`${pids.cNew} CrashChain.C handle_call total`]: 1,
  });
  // Each callback under the handling of the message it took, wherever a later message reached C's mailbox
  // meanwhile (B's record cast and the next order's total call race): a trace receive is the delivery.
  const callbacks = await rows(archive, `select c.name as fn, h.name as handling, (c.attributes->>'code.function') as f
    from spans c join spans h on c.parent_span_id = h.span_id
    where c.pid in (${[pids.c, pids.cNew].map(sqlText).join(',')}) and c.name similar to 'CrashChain\\.C\\.handle_(call|cast)/[23]' order by c.start_time`);
  assert.ok(callbacks.length >= 9, `${callbacks.length} callbacks of C`);
  for (const cb of callbacks) {
    assert.equal(String(cb.handling).split(' ')[1], String(cb.f), `${String(cb.fn)} under ${String(cb.handling)}`);
  }
  assert.equal(callbacks.filter((cb) => cb.handling === 'CrashChain.C handle_cast record').length, 4, 'each ledger record has its handle_cast');
  // The restart as the trace saw it: the supervisor spawned the new C, which registered C's name.
  const restart = await rows(archive, `
    select type, pid, json_extract_string(attributes, '$."beam.peer_pid"') as peer, json_extract_string(attributes, '$."beam.registered_name"') as name
    from events where (type = 'process.spawn' and pid = ${sqlText(pids.sup)}) or (type = 'process.register' and pid = ${sqlText(pids.cNew)}) order by time`);
  assert.deepEqual(restart.map((r) => [r.type, r.peer ?? r.name]), [['process.spawn', pids.cNew], ['process.register', 'Elixir.CrashChain.C']]);

  // --- C's state history (ScopeBeam.watch through beam_telemetry): the ledger as it was before the poison.
  assert.equal(run.forwarder?.dropped, 0);
  const states = await rows(archive, `
    select pid, json_extract_string(attributes, '$.new_state') as state, json_extract(attributes, '$.seq')::INTEGER as seq
    from events where type = 'state.change' order by pid, seq`);
  const ofOld = states.filter((s) => s.pid === pids.c);
  assert.equal(ofOld.length, 6, 'three totals and three records');
  assert.equal(ofOld.at(-1)?.state, '%{discounts: [], ledger: [{"order-3", 849}, {"order-2", 599}, {"order-1", 349}]}');
  assert.deepEqual(states.filter((s) => s.pid === pids.cNew).map((s) => s.state), ['%{discounts: [], ledger: []}', '%{discounts: [], ledger: [{"order-5", 2000}]}']);
});

it('without ScopeBeam.watch (so the crashing process loads its error-formatting modules on the way down), the poison is still the last message, not pushed out by code_server replies', async (t) => {
  const run = await captureCrashChain(t, { telemetry: false });
  const [crash] = await rows(run.archive, `select attributes::VARCHAR as a from events where type = 'process.crash'`);
  const last = (JSON.parse(String(crash.a)) as Record<string, unknown>)['scope.crash.last_messages'] as Array<{ message: string; from: string | null }>;
  assert.ok(last.length > 0);
  assert.deepEqual(last.at(-1), { ...last.at(-1), message: CRASH_CHAIN_POISON, from: run.pids.b });
  assert.ok(last.every((m) => !m.message.startsWith('{code_server,')), JSON.stringify(last.map((m) => m.message)));
});
