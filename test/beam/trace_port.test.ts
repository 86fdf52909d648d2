/**
 * beam_trace_port against a real erl node: a workload with spawn/link, a
 * crash, message ping-pong, and call/return/exception tracing, traced through
 * OTP's own IP trace port (dbg:trace_port(ip, ...)). Asserts each process's
 * exact sequence of events and the conversion of timestamps to Unix time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, eventSchemas, registerComponent, silentLogger, type Pipeline, type ScopeEvent } from '../../src/index.js';
import { Collector, until } from '../helpers.js';
import { compileErlang, freePort, startErl, type ErlNode } from './erl.js';

const sink = new Collector();
registerComponent(sink.factory('trace_port_sink'));
let codePath = '';

before(() => {
  codePath = compileErlang('workload');
});

function pipelineFor(port: number): Pipeline {
  return createPipeline({
    receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}`, reconnect: { initial_interval: '20ms', max_interval: '200ms' } } },
    exporters: { trace_port_sink: {} },
    service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['trace_port_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
}

interface Run {
  node: ErlNode;
  pids: Record<string, string>;
  times: Record<string, bigint>;
  events: ScopeEvent[];
}

/** Every node started, so the suite stops them even when a test fails half-way. */
const nodes: ErlNode[] = [];

/** Runs the workload on a fresh node (on `port`, or a free one) with `pipeline` attached. */
async function runWorkload(pipeline: Pipeline, port: number, tsFlag: string, started = false): Promise<Run> {
  // Read before the node starts: a running receiver may reconnect the moment the node listens.
  const connectsBefore = await pipeline.metrics.sum('scope_beam_trace_port_connects');
  const node = startErl(codePath, 'workload', 'main', [String(port), tsFlag]);
  nodes.push(node);
  assert.equal(Number(await node.line('port ')), port);
  if (!started) await pipeline.start();
  await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > connectsBefore, 10_000, 'the receiver to connect');
  const first = sink.events.length;
  node.send('go\n');
  await node.line('done');
  const pids: Record<string, string> = {};
  const times: Record<string, bigint> = {};
  for (const l of node.lines) {
    const [kind, name, value] = l.split(' ');
    if (kind === 'pid') pids[name] = value;
    if (kind === 'time') times[name] = BigInt(value);
  }
  // Everything the node traced has been written before "done"; give the socket a moment to deliver it.
  let count = -1;
  await until(() => {
    const stable = sink.events.length === count;
    count = sink.events.length;
    return stable && count > first;
  }, 10_000, 'the events to arrive');
  return { node, pids, times, events: sink.events.slice(first) };
}

function sequence(events: ScopeEvent[], pid: string): string[] {
  return events.filter((e) => e.pid === pid).map((e) => {
    const a = e.attributes;
    const detail = [a['beam.mfa'], a['beam.args'], a['beam.peer_pid'], a['beam.message'], a['beam.return'], a['beam.exception.class'], a['beam.reason']]
      .filter((x) => x !== undefined).join(' ');
    return `${e.type} ${detail}`.trim();
  });
}

describe('beam_trace_port receiver with a real erl node', () => {
  after(async () => {
    for (const n of nodes) await n.stop();
  });

  for (const tsFlag of ['monotonic_timestamp', 'timestamp', 'strict_monotonic_timestamp']) {
    it(`maps every process's trace messages in order (${tsFlag})`, async (t) => {
      const port = await freePort();
      const pipeline = pipelineFor(port);
      t.after(() => pipeline.shutdown());
      const run = await runWorkload(pipeline, port, tsFlag);
      const { root, child, crasher, server } = run.pids;
      assert.ok(root && child && crasher && server, JSON.stringify(run.pids));

      assert.deepEqual(sequence(run.events, child), [
        `process.spawned workload:child/0 ${root}`,
        `process.getting_linked ${root}`,
        `message.receive {ping,${root}}`,
        `message.send ${root} pong`,
        'message.receive {fact,3}',
        'function.call workload:fact/1 [3]',
        'function.call workload:fact/1 [2]',
        'function.call workload:fact/1 [1]',
        'function.call workload:fact/1 [0]',
        'function.return workload:fact/1 1',
        'function.return workload:fact/1 1',
        'function.return workload:fact/1 2',
        'function.return workload:fact/1 6',
        `message.send ${root} {fact,6}`,
        'message.receive divide',
        'function.call workload:crash/1 [0]',
        'function.exception workload:crash/1 error badarith',
        `message.send ${root} {divided,error}`,
        'function.call workload:tagged/1 [1]',
      ]);
      // A match spec's {message, Term} adds an element to the call trace.
      const tagged = run.events.find((e) => e.pid === child && e.attributes['beam.mfa'] === 'workload:tagged/1');
      assert.equal(tagged?.attributes['beam.trace_message'], 'hello');
      const crash = sequence(run.events, crasher);
      assert.deepEqual(crash.slice(0, 4), [
        `process.spawned workload:crash/1 ${root}`,
        `process.getting_linked ${root}`,
        'function.call workload:crash/1 [0]',
        'function.exception workload:crash/1 error badarith',
      ]);
      assert.match(crash.at(-1) ?? '', /^process\.exit \{badarith,\[\{erlang,'div',\[1,0\],/);
      const rootSeq = sequence(run.events, root);
      assert.deepEqual(rootSeq.slice(0, 10), [
        'message.receive start',
        `process.spawn workload:child/0 ${child}`,
        `process.link ${child}`,
        `message.send ${child} {ping,${root}}`,
        'message.receive pong',
        `message.send ${child} {fact,3}`,
        'message.receive {fact,6}',
        `message.send ${child} divide`,
        'message.receive {divided,error}',
        `process.spawn workload:crash/1 ${crasher}`,
      ]);
      assert.ok(rootSeq.some((s) => s.startsWith(`message.receive {'EXIT',${crasher},{badarith,`)), rootSeq.join('\n'));

      // GenServer call and cast: the gen_server protocol as it crosses the trace port.
      const call = String.raw`\{'\$gen_call',\{${root.replace(/[.]/g, '\\.')},\[alias\|#Ref<0\.\d+\.\d+\.\d+>\]\},get\}`;
      const serverSeq = sequence(run.events, server);
      assert.match(serverSeq[0], new RegExp(`^process\.spawned proc_lib:init_p/5 ${root.replace(/[.<>]/g, '\$&')}$`));
      const messages = serverSeq.filter((l) => l.startsWith('message.'));
      const ref = String.raw`#Ref<0\.\d+\.\d+\.\d+>`;
      const rootRe = root.replace(/[.<>]/g, '\\$&');
      const expected = [
        `^message\\.send ${rootRe} \\{ack,`, // proc_lib's init ack
        `^message\\.receive ${call}$`,
        `^message\\.send ${ref} \\{\\[alias\\|${ref}\\],0\\}$`, // the reply goes to the caller's alias
        String.raw`^message\.receive \{'\$gen_cast',\{add,5\}\}$`,
        `^message\\.receive ${call}$`,
        `^message\\.send ${ref} \\{\\[alias\\|${ref}\\],5\\}$`,
      ];
      assert.equal(messages.length, expected.length, serverSeq.join('\n'));
      expected.forEach((re, i) => assert.match(messages[i], new RegExp(re)));
      assert.ok(rootSeq.some((l) => l === `process.spawn proc_lib:init_p/5 ${server}`), rootSeq.join('\n'));
      assert.ok(rootSeq.some((l) => l === `message.send ${server} {'$gen_cast',{add,5}}`), rootSeq.join('\n'));

      // Every event is well-formed (the receiver is trusted to build valid events: check it) and from the node's pids.
      for (const e of run.events) {
        assert.equal(eventSchemas.validate(e), null, JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
        assert.equal(e.source.component, 'beam_trace_port');
        assert.match(e.source.node, /^nonode@nohost$/);
      }
      // Times: Unix nanoseconds within 1 ms of the node's own clock around the ping, and in order per process.
      const ping = run.events.find((e) => e.pid === root && e.type === 'message.send' && e.attributes['beam.message'] === `{ping,${root}}`);
      assert.ok(ping);
      const ms = 1_000_000n;
      assert.ok(ping.time >= run.times.ping_before - ms && ping.time <= run.times.ping_after + ms,
        `ping at ${ping.time}, node clock ${run.times.ping_before}..${run.times.ping_after}`);
      for (const pid of [root, child, crasher]) {
        const ts = run.events.filter((e) => e.pid === pid).map((e) => e.time);
        assert.deepEqual(ts, [...ts].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      }
      assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items'), 0);
      await pipeline.shutdown();
      await run.node.stop();
    });
  }

  it('reconnects when the node goes away and comes back, without a restart', async (t) => {
    const port = await freePort();
    const pipeline = pipelineFor(port);
    t.after(() => pipeline.shutdown());
    const first = await runWorkload(pipeline, port, 'monotonic_timestamp');
    assert.ok(first.events.length > 20);
    await first.node.stop();
    const second = await runWorkload(pipeline, port, 'monotonic_timestamp', true);
    assert.ok(second.events.some((e) => e.pid === second.pids.child && e.type === 'function.return' && e.attributes['beam.return'] === '6'));
    assert.ok((await pipeline.metrics.sum('scope_beam_trace_port_connects')) >= 2);
    await pipeline.shutdown();
  });
});
