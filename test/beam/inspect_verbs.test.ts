/**
 * The inspect verbs past the crash (issue 18) — process, processes --at,
 * state --at, trace, messages, anomalies — as a user runs them (the real CLI)
 * and as an AI assistant does (the MCP server driven by the SDK's own client
 * over stdio), over the archive of a real Elixir crash (crash_chain.exs:
 * supervisor, GenServers A → B → C, B casts C the poison, C is restarted;
 * C watched). The JSON forms are asserted against what the node did; the
 * table forms against snapshots with the run's pids, times and ids named.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI, ROOT } from '../helpers.js';
import { captureCrashChain, CRASH_CHAIN_POISON, type CrashChainRun } from './crash_chain.js';
import type { MessageSequence, ProcessTimeline, ProcessTree, StateAt, TraceView, TreeNode } from '../../src/inspect/types.js';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const REF = /#Ref<[\d.]+>/g;
const ORDERS = [[1, 349], [2, 599], [3, 849]] as const;
const items = (n: number): string => `[{<<"sku-${n}">>,${n},250},{<<"gift-wrap">>,1,99}]`;

interface ToolResult { isError?: boolean; content: Array<{ type: string; text?: string }>; structuredContent?: Record<string, unknown> }

describe('inspect process, processes, state, trace, messages over a real Elixir crash; the same as MCP tools', () => {
  let run: CrashChainRun;
  let client: Client;
  const hooks: Array<() => unknown> = [];
  before(async () => {
    run = await captureCrashChain({ after: (fn) => hooks.push(fn) });
    client = new Client({ name: 'scope-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--archive', run.archive], cwd: ROOT, stderr: 'pipe' }));
  });
  after(async () => {
    await client?.close();
    for (const fn of hooks.splice(0)) await fn();
  });

  const json = <T>(args: string[]): T => {
    const r = cli(['inspect', ...args, '--archive', run.archive, '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };
  const table = (args: string[]): string => {
    const r = cli(['inspect', ...args, '--archive', run.archive]);
    assert.equal(r.status, 0, r.stderr);
    for (const line of r.stdout.split('\n')) assert.ok([...line].length <= 100, `over 100 columns: ${line}`);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    return r.stdout;
  };
  const tool = async (name: string, args: Record<string, unknown>): Promise<ToolResult> => (await client.callTool({ name, arguments: args })) as ToolResult;
  /** The crash's time, from the archive (the node's clock): instants before and after it. */
  const crashNs = async (): Promise<bigint> => BigInt(json<ProcessTimeline>(['process', run.pids.c]).process.exit?.time.unixNano ?? '0');
  const anonymise = (text: string): string => {
    let out = text;
    for (const [value, name] of [[run.pids.cNew, '<C2>'], [run.pids.sup, '<SUP>'], [run.pids.a, '<A>'], [run.pids.b, '<B>'], [run.pids.c, '<C>'], [run.pids.client, '<CLIENT>'], [run.node, 'NODE']]) {
      out = out.split(value).join(name);
    }
    return out.replace(/#Ref<[\d.]+(>?)/g, '#Ref<R$1').replace(/\b[0-9a-f]{32}\b/g, 'TRACE_ID').replace(/\d+ spans, \d+ processes/, 'N spans, N processes')
      .replace(/\((\d+)\)$/gm, '(N)').replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d+Z?/g, 'TIME').replace(/\d{2}:\d{2}:\d{2}\.\d{6}/g, 'CLOCK')
      .replace(/\+ *\d+(\.\d+)? ms/g, '+N ms').replace(/\d+(\.\d+)? ms/g, 'N ms').replace(/\|[█·]+\|/g, '|BAR|').replace(/ {2,}/g, '  ');
  };
  const snapshot = (name: string, actual: string): void => {
    const path = join(ROOT, 'test/beam/snapshots', name);
    if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(path, actual);
    assert.equal(actual, readFileSync(path, 'utf8'), `${name} (UPDATE_SNAPSHOTS=1 rewrites it; review the diff)`);
  };

  it('messages A B C C2: every call, cast and reply between them in order, replies matched to their callers, sends by name to the C of the time', async () => {
    const seq = json<MessageSequence>(['messages', 'CrashChain.A', run.pids.b, run.pids.c, run.pids.cNew]);
    const { a, b, c, cNew } = run.pids;
    const expected: Array<[string, string, string, string]> = [];
    for (const [n, total] of ORDERS) {
      expected.push(
        [a, b, 'call', `{'$gen_call',{${a},[alias|#Ref<R>]},{price,<<"order-${n}">>,${items(n)}}}`],
        [b, c, 'call', `{'$gen_call',{${b},[alias|#Ref<R>]},{total,${items(n)}}}`],
        [c, b, 'reply', `{[alias|#Ref<R>],${total}}`],
        [b, c, 'cast', `{'$gen_cast',{record,<<"order-${n}">>,${total}}}`],
        [b, a, 'reply', `{[alias|#Ref<R>],{ok,<<"order-${n}">>,${total}}}`],
      );
    }
    expected.push(
      [a, b, 'call', `{'$gen_call',{${a},[alias|#Ref<R>]},{discount,<<"order-4">>,<<"SUMMER">>,-5}}`],
      [b, c, 'cast', CRASH_CHAIN_POISON],
      [b, a, 'reply', '{[alias|#Ref<R>],{ok,<<"order-4">>,discount_sent}}'],
      [a, b, 'call', `{'$gen_call',{${a},[alias|#Ref<R>]},{price,<<"order-5">>,[{<<"sku-5">>,2,1000}]}}`],
      [b, cNew, 'call', `{'$gen_call',{${b},[alias|#Ref<R>]},{total,[{<<"sku-5">>,2,1000}]}}`],
      [cNew, b, 'reply', '{[alias|#Ref<R>],2000}'],
      [b, cNew, 'cast', `{'$gen_cast',{record,<<"order-5">>,2000}}`],
      [b, a, 'reply', '{[alias|#Ref<R>],{ok,<<"order-5">>,2000}}'],
    );
    assert.deepEqual(seq.messages.map((m) => [m.from, m.to, m.kind, m.message.replace(REF, '#Ref<R>')]), expected);
    assert.equal(seq.total, expected.length);
    assert.deepEqual(seq.processes.map((p) => [p.pid, p.name]), [[a, 'Elixir.CrashChain.A'], [b, 'Elixir.CrashChain.B'], [c, 'Elixir.CrashChain.C'], [cNew, 'Elixir.CrashChain.C']]);
    snapshot('inspect_messages.txt', anonymise(table(['messages', a, b, c, cNew])));

    const mcp = await tool('message_sequence', { processes: ['CrashChain.A', b, c, cNew] });
    assert.equal(mcp.isError, undefined, JSON.stringify(mcp.content));
    assert.deepEqual(mcp.structuredContent, { sequence: seq });
  });

  it('process C: snapshot, the messages from B with their sender, each state change, the exception, exit, crash, unregister', async () => {
    const timeline = json<ProcessTimeline>(['process', run.pids.c, '--limit', '10000']);
    const { b, c, sup } = run.pids;
    assert.deepEqual(
      { ...timeline.process, exit: null },
      { pid: c, node: run.node, names: ['Elixir.CrashChain.C'], initialCall: "'Elixir.CrashChain.C':init/1", behaviour: 'gen_server', callbackModule: 'Elixir.CrashChain.C', spawnedBy: sup, spawnedAt: null, exit: null, crashId: timeline.process.crashId },
    );
    assert.match(timeline.process.exit?.reason ?? '', /^\{function_clause,\[\{'Elixir\.CrashChain\.C',handle_cast,\[\{apply_discount,<<"SUMMER">>,-5\}/);
    assert.equal(timeline.total, timeline.entries.length);
    // The workload's own entries (the watch's system messages and lazy code loading come and go with the node).
    const kept = timeline.entries.filter((e) => ['snapshot', 'state', 'exception', 'exit', 'crash', 'unregister'].includes(e.kind) || (e.peer === b && e.kind === 'receive'));
    const shown = kept.map((e) => [e.kind, e.peer, e.text.replace(REF, '#Ref<R>').replace(/ (\{function_clause,).*$/, ' $1…')]);
    // Receives are traced when a message enters the mailbox, state changes when the callback returned: a busy C
    // (loading Inspect implementations on its first render) interleaves them by timing, so each kind in its order.
    const received: unknown[][] = [];
    const states: unknown[][] = [];
    let seq = 0;
    for (const [n, total] of ORDERS) {
      received.push(['receive', b, `call {total,${items(n)}}`], ['receive', b, `cast {record,<<"order-${n}">>,${total}}`]);
      states.push(['state', b, `call {:total, [{"sku-${n}", ${n}, 250}, {"gift-wrap", 1, 99}]}: state unchanged (#${++seq})`]);
      states.push(['state', null, `cast {:record, "order-${n}", ${total}}: state changed ledger (#${++seq})`]);
    }
    received.push(['receive', b, 'cast {apply_discount,<<"SUMMER">>,-5}']);
    assert.deepEqual(shown[0], ['snapshot', null, "alive at the attach: 'Elixir.CrashChain.C':init/1"]);
    assert.deepEqual(shown.filter((e) => e[0] === 'receive'), received);
    assert.deepEqual(shown.filter((e) => e[0] === 'state'), states);
    assert.deepEqual(shown.filter((e) => !['snapshot', 'receive', 'state'].includes(String(e[0]))), [
      ['exception', null, "'Elixir.CrashChain.C':handle_cast/2 raised function_clause"],
      ['exit', null, 'exit {function_clause,…'],
      ['crash', null, 'crash (root cause): {function_clause,…'],
      ['unregister', null, 'unregistered Elixir.CrashChain.C'],
    ]);
    // The poison arrived after the last state change and before the exception.
    const index = (kind: string, text: string): number => shown.findIndex((e) => e[0] === kind && String(e[2]).includes(text));
    assert.ok(index('state', '#6') < index('receive', 'apply_discount') && index('receive', 'apply_discount') < index('exception', ''));
    const times = timeline.entries.map((e) => BigInt(e.time.unixNano));
    assert.deepEqual(times, [...times].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)), 'in time order');

    // By name: the C of now is the restarted one, spawned by the supervisor.
    const now = json<ProcessTimeline>(['process', 'CrashChain.C', '--limit', '3']);
    assert.deepEqual([now.process.pid, now.process.spawnedBy, now.entries.map((e) => e.kind)], [run.pids.cNew, sup, ['spawned', 'link', 'register']]);
    assert.ok(now.total > 3);
    snapshot('inspect_process.txt', anonymise(table(['process', 'CrashChain.C', '--limit', '3'])));

    const mcp = await tool('process_timeline', { process: run.pids.c, limit: 10000 });
    assert.deepEqual(mcp.structuredContent, { timeline });
  });

  it('processes --at: the supervisor over A, B and C before the crash, over A, B and the new C after it', async () => {
    const t = await crashNs();
    const sup = (tree: ProcessTree): TreeNode | undefined => {
      const find = (ns: TreeNode[]): TreeNode | undefined => ns.map((n) => (n.pid === run.pids.sup ? n : find(n.children))).find((n) => n !== undefined);
      return find(tree.nodes.find((n) => n.node === run.node)?.roots ?? []);
    };
    const children = (n: TreeNode | undefined): unknown[] => (n?.children ?? []).map((c) => [c.pid, c.name, c.behaviour, c.spawnedAt === null]);
    const beforeCrash = json<ProcessTree>(['processes', '--at', isoOf(t - 1n)]);
    const s = sup(beforeCrash);
    assert.deepEqual([s?.name, s?.behaviour], ['Elixir.CrashChain.Sup', 'supervisor']);
    const { a, b, c, cNew } = run.pids;
    assert.deepEqual(children(s), [[c, 'Elixir.CrashChain.C', 'gen_server', true], [b, 'Elixir.CrashChain.B', 'gen_server', true], [a, 'Elixir.CrashChain.A', 'gen_server', true]]);
    const afterRestart = json<ProcessTree>(['processes', '--at', isoOf(t + 500_000_000n)]);
    assert.deepEqual(children(sup(afterRestart)), [[b, 'Elixir.CrashChain.B', 'gen_server', true], [a, 'Elixir.CrashChain.A', 'gen_server', true], [cNew, 'Elixir.CrashChain.C', 'gen_server', false]]);
    assert.ok(!JSON.stringify(afterRestart).includes(`"${c}"`), 'the crashed C is gone');

    // The supervisor's subtree of the table form.
    const text = table(['processes', '--at', isoOf(t - 1n)]);
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.includes(`${run.pids.sup}  CrashChain.Sup`));
    assert.ok(at > 0, text);
    snapshot('inspect_processes.txt', anonymise(lines.slice(at, at + 4).join('\n') + '\n'));

    const mcp = await tool('process_tree_at', { at: isoOf(t - 1n) });
    assert.deepEqual(mcp.structuredContent, { tree: beforeCrash });
  });

  it('state --at: C\'s state just before the poison, the change that led to it; before the first change; the new C after the restart', async () => {
    const t = await crashNs();
    const s = json<StateAt>(['state', run.pids.c, '--at', isoOf(t - 1n)]);
    const ledger = '[{"order-3", 849}, {"order-2", 599}, {"order-1", 349}]';
    assert.deepEqual(
      { pid: s.pid, node: s.node, module: s.module, state: s.state, next: s.next, changes: s.changes, exitedAt: s.exitedAt },
      { pid: run.pids.c, node: run.node, module: 'CrashChain.C', state: `%{discounts: [], ledger: ${ledger}}`, next: null, changes: 6, exitedAt: null },
    );
    assert.deepEqual(
      { ...s.change, time: null },
      {
        seq: 6, time: null, kind: 'cast', message: '{:record, "order-3", 849}', from: null, reply: null, changed: true, changedKeys: ['ledger'],
        diff: { ledger: { old: '[{"order-2", 599}, {"order-1", 349}]', new: ledger } },
        oldState: '%{discounts: [], ledger: [{"order-2", 599}, {"order-1", 349}]}', newState: `%{discounts: [], ledger: ${ledger}}`,
      },
    );
    // After the crash the state is the last one C had, and it says so.
    const dead = json<StateAt>(['state', run.pids.c, '--at', isoOf(t + 1n)]);
    assert.deepEqual([dead.state, dead.exitedAt?.unixNano], [s.state, t.toString()]);
    // Before the first recorded change (after the attach saw C): the state the watch began with.
    const timeline = json<ProcessTimeline>(['process', run.pids.c, '--limit', '10000']);
    const firstChange = BigInt(timeline.entries.find((e) => e.kind === 'state')?.time.unixNano ?? '0');
    const first = json<StateAt>(['state', run.pids.c, '--at', isoOf(firstChange - 1n)]);
    assert.deepEqual([first.state, first.change, first.next?.seq, first.next?.time.unixNano], ['%{discounts: [], ledger: []}', null, 1, firstChange.toString()]);
    // Before anything of C was recorded (a minute before the crash): not known.
    const unknown = json<StateAt>(['state', run.pids.c, '--at', isoOf(t - 60_000_000_000n)]);
    assert.deepEqual([unknown.state, unknown.change, unknown.next?.seq], [null, null, 1]);
    // By name, now: the restarted C with the one order it served.
    const now = json<StateAt>(['state', 'CrashChain.C']);
    assert.deepEqual([now.pid, now.state, now.change?.seq, now.changes], [run.pids.cNew, '%{discounts: [], ledger: [{"order-5", 2000}]}', 2, 2]);
    const never = cli(['inspect', 'state', run.pids.b, '--archive', run.archive]);
    assert.equal(never.status, 1);
    assert.match(never.stderr, /has no recorded state: it was not watched \(ScopeBeam\.watch\/1/);
    snapshot('inspect_state.txt', anonymise(table(['state', run.pids.c, '--at', isoOf(t - 1n)])));

    const mcp = await tool('state_at', { process: run.pids.c, at: isoOf(t - 1n) });
    assert.deepEqual(mcp.structuredContent, { state: s });
  });

  it('trace --latest-error: the crash\'s trace as a waterfall, a lane per process, the poison\'s handling in error', async () => {
    const view = json<TraceView>(['trace', '--latest-error']);
    const crash = json<Array<{ traceId: string }>>(['crashes'])[0];
    assert.equal(view.traceId, crash.traceId);
    const { a, b, c, client } = run.pids;
    const lanes = new Map([[client, 'client'], [a, 'A'], [b, 'B'], [c, 'C']]);
    // The workload's spans (code loading, logging and the forwarder come and go with the node).
    const ours = view.spans.filter((s) => s.pid !== null && lanes.has(s.pid) && !/handle_info (system|code_call)/.test(s.name));
    const errors = ours.filter((s) => s.status === 'error').map((s) => [lanes.get(s.pid ?? ''), s.name]);
    assert.deepEqual(errors, [['C', 'CrashChain.C handle_cast apply_discount'], ['C', 'CrashChain.C.handle_cast/2']]);
    const server = ours.filter((s) => s.kind === 'server').map((s) => [lanes.get(s.pid ?? ''), s.name]);
    assert.deepEqual(server, [
      ...ORDERS.flatMap(() => [['A', 'CrashChain.A handle_call order'], ['B', 'CrashChain.B handle_call price'], ['C', 'CrashChain.C handle_call total']]),
      ['A', 'CrashChain.A handle_call discount'], ['B', 'CrashChain.B handle_call discount'],
    ]);
    // Tree order: each span after its parent, one deeper, with only the parent's descendants between them
    // (a subtree is contiguous), and siblings by start.
    const at = new Map(view.spans.map((s, i) => [s.spanId, i]));
    const byId = new Map(view.spans.map((s) => [s.spanId, s]));
    const under = (s: (typeof view.spans)[number], ancestor: string): boolean => {
      for (let p = s.parentSpanId; p !== null; p = byId.get(p)?.parentSpanId ?? null) if (p === ancestor) return true;
      return false;
    };
    let checked = 0;
    view.spans.forEach((s, i) => {
      const p = s.parentSpanId === null ? undefined : at.get(s.parentSpanId);
      if (p === undefined) return assert.equal(s.depth, 0);
      assert.ok(p < i);
      assert.equal(s.depth, view.spans[p].depth + 1);
      for (let j = p + 1; j < i; j++) assert.ok(under(view.spans[j], view.spans[p].spanId), `${view.spans[j].name} between ${view.spans[p].name} and its child ${s.name}`);
      checked++;
    });
    assert.ok(checked >= 40, `${checked} parent links checked`);
    const siblings = new Map<string | null, bigint[]>();
    for (const s of view.spans) siblings.set(s.parentSpanId, [...(siblings.get(s.parentSpanId) ?? []), BigInt(s.start.unixNano)]);
    for (const starts of siblings.values()) assert.deepEqual(starts, [...starts].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    assert.equal(view.total, view.spans.length);
    assert.equal(view.errors, view.spans.filter((s) => s.status === 'error').length);
    assert.deepEqual(view.lanes.slice(0, 4).map((l) => [l.pid, l.name]), [[client, null], [a, 'Elixir.CrashChain.A'], [b, 'Elixir.CrashChain.B'], [c, 'Elixir.CrashChain.C']]);
    const text = table(['trace', view.traceId]);
    const workload = text.split('\n').filter((l) => /^ *CrashChain\.|^trace |^ {2}[A-D] {2}/.test(l)).join('\n');
    snapshot('inspect_trace.txt', anonymise(`${workload}\n`));

    const mcp = await tool('trace', { latest_error: true });
    assert.deepEqual(mcp.structuredContent, { trace: view });
    const bad = await tool('trace', { trace_id: 'nope' });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text ?? '', /trace_id/);
  });

  it('names mean the process that had them at the time asked about; bad arguments are refused with the reason', async () => {
    const t = await crashNs();
    const beforeCrash = json<ProcessTimeline>(['process', 'CrashChain.C', '--to', isoOf(t - 1n), '--limit', '1']);
    assert.equal(beforeCrash.process.pid, run.pids.c);
    const state = json<StateAt>(['state', 'Elixir.CrashChain.C', '--at', isoOf(t - 1n)]);
    assert.equal(state.pid, run.pids.c);
    // A time before the name was taken at all: its latest holder (the name is not unknown, just later).
    const early = json<StateAt>(['state', 'CrashChain.C', '--at', isoOf(t - 3_600_000_000_000n)]);
    assert.equal(early.pid, run.pids.cNew);
    const messages = json<MessageSequence>(['messages', 'CrashChain.B', 'CrashChain.C', '--to', isoOf(t - 1n)]);
    assert.ok(messages.messages.some((m) => m.message === CRASH_CHAIN_POISON && m.to === run.pids.c));
    // A relative time after a space, as people type it.
    const relative = cli(['inspect', 'processes', '--at', '-1s', '--archive', run.archive, '--format', 'json']);
    assert.equal(relative.status, 0, relative.stderr);
    const refused: Array<[string[], RegExp]> = [
      [['state', run.pids.c, '--at', '2026-02-30T00:00:00Z'], /--at "2026-02-30T00:00:00Z" is not a time/],
      [['process', run.pids.c, '--from', isoOf(t), '--to', isoOf(t - 1n)], /--from is later than --to/],
      [['messages', run.pids.a, run.pids.a], /is named twice/],
      [['messages', run.pids.a], /inspect messages needs two or more PIDs/],
      [['processes'], /inspect processes needs --at T/],
      [['trace', 'nothex'], /"nothex" is not a trace id/],
      [['process', "'); DROP TABLE events; --"], /no process registered as '\); DROP TABLE events; --/],
      [['crash', 'latest', '--daemon', 'notaurl'], /--daemon "notaurl" is not a URL/],
      [['process', run.pids.c, '--limit', '0'], /--limit "0" must be a whole number/],
    ];
    for (const [args, reason] of refused) {
      const r = cli(['inspect', ...args, '--archive', run.archive]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, reason);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    // The trace id as printed elsewhere in capitals is the same trace.
    const crash = json<Array<{ traceId: string }>>(['crashes'])[0];
    assert.equal(json<TraceView>(['trace', crash.traceId.toUpperCase()]).traceId, crash.traceId);
  });

  it('anomalies: none in this run (no anomaly processor in the default pipeline), as an empty list in both faces', async () => {
    assert.deepEqual(json<unknown[]>(['anomalies']), []);
    assert.equal(table(['anomalies']), 'no anomalies in the archive for these filters\n');
    const mcp = await tool('anomalies', {});
    assert.deepEqual(mcp.structuredContent, { anomalies: [] });
    const bad = await tool('anomalies', { kind: 'sunspots' });
    assert.equal(bad.isError, true);
  });

  it('the MCP server lists every tool with a JSON Schema input and output', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'anomalies', 'explain_crash', 'generate_exunit_test', 'list_crashes', 'message_sequence', 'process_timeline', 'process_tree_at', 'query_sql', 'state_at', 'trace',
    ]);
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object', t.name);
      assert.ok(t.outputSchema, `${t.name} declares its structured output`);
      assert.equal(t.annotations?.readOnlyHint, true, t.name);
    }
    const bad = await tool('process_timeline', { process: '<0.999.0>' });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text ?? '', /no events of <0\.999\.0>/);
    const badTime = await tool('state_at', { process: run.pids.c, at: 'teatime' });
    assert.match(badTime.content[0].text ?? '', /at "teatime" is not a time/);
  });

  it('test-case and generate_exunit_test: the same ExUnit module, printed, written with --out, returned by the tool', async () => {
    const printed = cli(['inspect', 'test-case', run.pids.c, '--archive', run.archive]);
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /^# Generated by scope-pipeline from the recorded history of /);
    assert.match(printed.stdout, /defmodule CrashChain\.CReplayTest do/);
    assert.match(printed.stdout, /GenServer\.cast\(pid, \{:apply_discount, "SUMMER", -5\}\)/);
    const dir = join(run.archive, '..', `tests-${process.pid}`);
    const wrote = cli(['inspect', 'test-case', run.pids.c, '--archive', run.archive, '--out', dir]);
    assert.equal(wrote.status, 0, wrote.stderr);
    assert.match(wrote.stdout, /^wrote .*c_replay_test\.exs \(7 steps, ending in the crash\): mix test /);
    assert.equal(readFileSync(join(dir, 'c_replay_test.exs'), 'utf8'), printed.stdout);
    const mcp = await tool('generate_exunit_test', { process: run.pids.c });
    assert.equal(mcp.isError, undefined, JSON.stringify(mcp.content));
    const test = (mcp.structuredContent as { test: { source: string; steps: number; crash: boolean; fileName: string } }).test;
    assert.deepEqual([test.source, test.steps, test.crash, test.fileName], [printed.stdout, 7, true, 'c_replay_test.exs']);
    const unwatched = await tool('generate_exunit_test', { process: run.pids.b });
    assert.equal(unwatched.isError, true);
    assert.match(unwatched.content[0].text ?? '', /not watched/);
  });
});

function isoOf(ns: bigint): string {
  const ms = ns / 1_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}
