/**
 * README.md's plain-Erlang attach recipe (the `dbg-attach` block), run as
 * written — only the port is the test's — by typing it into a real `erl`
 * node's shell, with a beam_trace_port receiver and the correlation processor
 * reading the trace in process. The node runs test/beam/my_cart.erl, the
 * recipe's `my_cart`: a cart started before the trace, a worker it spawns
 * after, a poison cast that crashes it. Then the shell is used as people use
 * it: exceptions, an exit, a process spawned from it.
 *
 * Asserted: `function.call` (with returns and the exception) for my_cart's
 * functions, in the cart and in the worker it started after the attach; the
 * cart's crash; and nothing from the shell: no event of the shell process or
 * of the evaluators after the attach, no process.exit but the cart's and its
 * worker's (the shell's command readers exit with the parsed command, which
 * `dbg:p(all, …)` traced), one process.crash, the cart's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createPipeline, registerComponent, silentLogger, type Pipeline, type ScopeEvent } from '../../src/index.js';
import { Collector, until } from '../helpers.js';
import { recipe, typeInto, type Typed } from '../readme_recipes.js';
import { compileErlang, freePort } from './erl.js';

const RECIPE = recipe('README.md', 'dbg-attach');
const sink = new Collector();
registerComponent(sink.factory('dbg_recipe_sink'));

let code = '';
let node: Typed | undefined;
let pipeline: Pipeline | undefined;
let events: ScopeEvent[] = [];
const pids: Record<string, string> = {};
const evaluators: string[] = [];

/** Types one command and waits for the line it prints (`label <pid>`), returning the pid. */
async function typed(command: string, label?: string): Promise<string | undefined> {
  const n = node as Typed;
  const from = n.output().length;
  n.type(`${command}\n`);
  if (label === undefined) {
    await n.waitFor(/\d+> /, 10_000, from);
    return undefined;
  }
  const [, pid] = await n.waitFor(new RegExp(`${label} (<\\d+\\.\\d+\\.\\d+>)`), 10_000, from);
  return pid;
}

before(async () => {
  assert.equal(RECIPE.match(/4711/g)?.length, 1, `one port in the recipe:\n${RECIPE}`);
  const port = await freePort();
  code = compileErlang('my_cart');
  node = typeInto(`erl -pa '${code}' -eval 'my_cart:start()'`, { cwd: code });
  [, pids.cart] = await node.waitFor(/cart (<\d+\.\d+\.\d+>)/);
  await node.waitFor(/1> /);
  pipeline = createPipeline({
    receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}`, reconnect: { initial_interval: '20ms', max_interval: '200ms' } } },
    processors: { correlation: { crash_window: '300ms' } },
    exporters: { dbg_recipe_sink: {} },
    service: {
      pipelines: { p: { receivers: ['beam_trace_port'], processors: ['correlation'], exporters: ['dbg_recipe_sink'] } },
      telemetry: { metrics: { level: 'none' } },
    },
  }, { logger: silentLogger });
  await pipeline.start();

  // The README's lines, typed as a person pastes them.
  const attach = node.output().length;
  for (const line of RECIPE.replace('4711', String(port)).split('\n')) node.type(`${line}\n`);
  await node.waitFor(/\[1,1,1\]/, 15_000, attach);
  const p = pipeline;
  await until(async () => (await p.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'the receiver to connect to the trace port');

  // The shell in use: the evaluator that ran the recipe, the shell process, exceptions, a spawn.
  evaluators.push(await typed('io:format("evaluator ~w~n", [self()]).', 'evaluator') as string);
  pids.shell = await typed('io:format("shell ~w~n", [element(2, process_info(self(), parent))]).', 'shell') as string;
  await typed('my_cart:add(apple).');
  await typed('my_cart:add(pear).');
  await typed('1 / list_to_integer("0").');
  evaluators.push(await typed('io:format("evaluator ~w~n", [self()]).', 'evaluator') as string);
  await typed('exit(from_the_shell).');
  pids.spawned = await typed('io:format("spawned ~w~n", [spawn(fun() -> exit(spawned_from_the_shell) end)]).', 'spawned') as string;
  pids.worker = await typed('{Worker, _} = my_cart:checkout(), io:format("worker ~w~n", [Worker]).', 'worker') as string;
  evaluators.push(await typed('io:format("evaluator ~w~n", [self()]).', 'evaluator') as string);
  await typed('my_cart:poison().');
  await until(() => sink.events.some((e) => e.type === 'process.crash' && e.pid === pids.cart), 10_000, "the cart's process.crash");
  // Whatever the shell would have produced by now has arrived too.
  await new Promise((r) => setTimeout(r, 500));
  events = [...sink.events];
});

after(async () => {
  await node?.kill();
  await pipeline?.shutdown();
  if (code !== '') rmSync(code, { recursive: true, force: true });
});

const of = (pid: string, type?: string): ScopeEvent[] => events.filter((e) => e.pid === pid && (type === undefined || e.type === type));
const mfas = (pid: string, type: string): string[] => of(pid, type).map((e) => String(e.attributes['beam.mfa']));

describe("README.md's dbg attach recipe, typed into a real erl shell", () => {
  it('is the shell evaluating three expressions before it, and a new evaluator after each exception', () => {
    assert.notEqual(pids.shell, pids.cart);
    assert.equal(new Set(evaluators).size, 3, evaluators.join(' '));
  });

  it("traces the calls of my_cart's functions, with returns and the exception, in the cart and in the worker it spawned after the attach", () => {
    assert.deepEqual(mfas(pids.cart, 'function.call'), ['my_cart:handle_call/3', 'my_cart:handle_call/3', 'my_cart:handle_call/3', 'my_cart:handle_cast/2']);
    assert.deepEqual(mfas(pids.cart, 'function.return'), ['my_cart:handle_call/3', 'my_cart:handle_call/3', 'my_cart:handle_call/3']);
    assert.deepEqual(mfas(pids.cart, 'function.exception'), ['my_cart:handle_cast/2']);
    assert.equal(of(pids.cart, 'process.spawn').length, 1);
    assert.equal(of(pids.cart, 'process.spawn')[0].attributes['beam.peer_pid'], pids.worker);
    assert.deepEqual(mfas(pids.worker, 'function.call').filter((m) => m === 'my_cart:price/1'), ['my_cart:price/1', 'my_cart:price/1']);
  });

  it('the cart crashing is the one process.crash', () => {
    const crashes = events.filter((e) => e.type === 'process.crash');
    assert.deepEqual(crashes.map((e) => e.pid), [pids.cart]);
    assert.match(String(crashes[0].attributes['beam.reason']), /^\{badarith,/);
  });

  it("nothing comes from the shell: no event of the shell process or of the later evaluators, no exit but the cart's and its worker's", () => {
    assert.deepEqual(of(pids.shell), [], 'the shell process');
    // The evaluator that ran the recipe receives dbg's answer before the last line takes its trace off; nothing else.
    assert.deepEqual(of(evaluators[0]).map((e) => e.type).filter((t) => !t.startsWith('message.')), [], 'the evaluator that ran the recipe');
    for (const ev of evaluators.slice(1)) assert.deepEqual(of(ev), [], `the evaluator ${ev}`);
    assert.deepEqual(of(pids.spawned), [], 'the process spawned from the shell');
    const exits = events.filter((e) => e.type === 'process.exit');
    assert.deepEqual(new Set(exits.map((e) => e.pid)), new Set([pids.worker, pids.cart]), exits.map((e) => `${e.pid} ${String(e.attributes['beam.reason'])}`).join('\n'));
    assert.ok(!events.some((e) => /from_the_shell|badarith,\[\{erlang,'\/'/.test(String(e.attributes['beam.reason'] ?? ''))));
  });
});
