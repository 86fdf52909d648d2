/**
 * A harness for tests against REAL OTP applications on a traced node
 * (test/beam/otp_apps_workload.erl): inets httpd, ssl, ssh, mnesia and a peer
 * node whose clients (httpc, ssh:connect, erpc) drive them, with real faults.
 * The node is traced through its IP trace port after the applications are up,
 * into a pipeline: beam_trace_port → the processors asked for → a collecting sink.
 * The trace is attached with plain dbg (tracer: 'dbg', the default) or with
 * ScopeBeam.Tracer from beam-receiver/ (tracer: 'scope_beam': compiled with mix,
 * its ebin and Elixir's elixir and logger ebins put on the node's code path,
 * application:ensure_all_started(scope_beam), then start/1 from the workload's
 * controller; its process.snapshot events are in run.events like any other).
 *
 *   const run = await runOtpApps(t, { processors: { correlation: { crash_window: '300ms' } } });
 *   const sb = await runOtpApps(t, { tracer: 'scope_beam', phases: ['crash'] });
 *   run.events, run.spans, run.fact('crash.server'), run.factsWithPrefix('kill.ssh.down.')
 *
 * No erl means a failing test, never a skipped one. Nodes (also the peer) and
 * temp dirs are cleaned up by t.after.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  createPipeline, defineExporter, registerComponent, registry, silentLogger,
  type ExportResult, type ScopeEvent, type Span,
} from '../../src/index.js';
import { decodeTerm, type Term } from '../../src/beam/etf.js';
import { renderTerm } from '../../src/beam/render.js';
import { FrameReader, OP_TERM } from '../../src/receivers/beam_trace_port/framing.js';
import { freePort, ROOT, until } from '../helpers.js';
import { compileErlang } from './erl.js';

/** The phases, in the order they always run (a subset keeps this order). */
export const OTP_APPS_PHASES = ['traffic', 'crash', 'kill', 'trap', 'timeout', 'erpc', 'escalate', 'shell'] as const;
export type OtpAppsPhase = (typeof OTP_APPS_PHASES)[number];

/** What the shell phase types into the node's Erlang shell, line by line. */
export const OTP_APPS_SHELL_COMMANDS: readonly string[] = [
  'otp_apps_workload:shell_fact(start).',
  'X = lists:seq(1, 5), lists:sum(X).',
  'otp_apps_workload:shell_fact(badarith), 1 / list_to_integer("0").',
  'otp_apps_workload:shell_fact(exit), exit(otp_apps_shell_exit).',
  'otp_apps_workload:shell_fact(throw), throw(otp_apps_shell_throw).',
  'otp_apps_workload:shell_fact(spawn), spawn(fun() -> exit(otp_apps_shell_spawned) end).',
  'otp_apps_workload:shell_fact(last).',
];

export interface OtpAppsOptions {
  /** Phases to run (always in OTP_APPS_PHASES order). Default: all of them. */
  phases?: readonly OtpAppsPhase[];
  /** Processors between the receiver and the sink, by id, in order, with their config: `{ correlation: { crash_window: '300ms' } }`. Default none. */
  processors?: Record<string, Record<string, unknown>>;
  /** More beam_trace_port config (e.g. `{ max_message_bytes: 8192 }`); the endpoint is set here. */
  receiver?: Record<string, unknown>;
  /** Run the node without -noshell so its stdin drives the real Erlang shell (commands are typed into it). Default: phases include 'shell'. */
  shell?: boolean;
  /** How long the sink must stay quiet after the node stopped before the run ends. Default 300 ms. */
  settleMs?: number;
  /** Longest wait for one phase. Default 15 s. */
  phaseTimeoutMs?: number;
  /** Also keep every raw trace term: the receiver then connects through a local tee that decodes the stream as it passes. Default false. */
  raw?: boolean;
  /**
   * How the trace is attached. 'dbg' (default): dbg:tracer(port, dbg:trace_port(ip, …)), dbg:tpl, dbg:p(all, …).
   * 'scope_beam': 'Elixir.ScopeBeam.Tracer':start/1 with the same flags, call patterns and timestamps, limits off;
   * it also writes the process snapshot (process.snapshot events). Anything missing for it fails the run.
   */
  tracer?: OtpAppsTracer;
}

export type OtpAppsTracer = 'dbg' | 'scope_beam';

export interface OtpAppsRun {
  events: ScopeEvent[];
  spans: Span[];
  /** The node's `fact <key> <value>` lines (keys are unique by construction). */
  facts: Record<string, string>;
  /** Every stdout line of the node (logger reports, shell output…), shell prompts left in. */
  lines: string[];
  stderr: string;
  node: string;
  /** The node's distribution cookie (20 random uppercase letters, as `auth` makes them). */
  cookie: string;
  /** How the trace was attached. */
  tracer: OtpAppsTracer;
  /** The phases run, with the node's own system time (ns) at their start and end. */
  phases: Array<{ phase: OtpAppsPhase; startNs: bigint; endNs: bigint }>;
  /** A fact that must exist (throws naming the key otherwise). */
  fact(key: string): string;
  /** The facts whose key starts with prefix, keyed by the rest of the key. */
  factsWithPrefix(prefix: string): Record<string, string>;
  /** Events of one pid (as the trace renders it, `<0.N.S>`). */
  eventsOf(pid: string, type?: string): ScopeEvent[];
  /** With raw: true, the trace terms as the node sent them (`{trace_ts, Pid, Tag, …}`), in order, and rendered whole. */
  rawTerms: Term[];
  raw: string[];
}

interface TestContext {
  after(fn: () => unknown): void;
}

const SINK = 'otp_apps_sink';
const sinks = new Map<string, { events: ScopeEvent[]; spans: Span[]; items: number }>();

function registerSink(): void {
  if (registry.get('exporter', SINK)) return;
  registerComponent(defineExporter<{ run: string }>({
    type: SINK,
    kind: 'exporter',
    description: 'collects what an otp_apps harness run exports',
    configSchema: { type: 'object', additionalProperties: false, required: ['run'], properties: { run: { type: 'string' } } },
    create: (config) => ({
      start: async () => {},
      export: async (batch): Promise<ExportResult> => {
        const sink = sinks.get(config.run);
        if (sink) {
          sink.events.push(...batch.events);
          sink.spans.push(...batch.spans);
          sink.items += batch.events.length + batch.spans.length;
        }
        return { ok: true };
      },
      shutdown: async () => {},
    }),
  }));
}

let scopeBeamPaths: string[] | undefined;

/**
 * The code path ScopeBeam.Tracer needs in a plain erl node: beam-receiver's ebin
 * (`mix compile`, MIX_ENV=dev, offline) and Elixir's own elixir and logger ebins.
 * Compiled once per test process; anything missing throws.
 */
export function scopeBeamCodePath(): string[] {
  if (scopeBeamPaths) return scopeBeamPaths;
  const dir = join(ROOT, 'beam-receiver');
  const env = { ...process.env, MIX_ENV: 'dev', HEX_OFFLINE: '1' };
  try {
    try {
      execFileSync('mix', ['compile'], { cwd: dir, env, stdio: 'pipe', timeout: 180_000 });
    } catch {
      // Once more: test/beam/scope_beam.test.ts may be compiling the same _build at the same moment.
      execFileSync('mix', ['compile'], { cwd: dir, env, stdio: 'pipe', timeout: 180_000 });
    }
  } catch (err) {
    const e = err as Error & { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`tracer: 'scope_beam' needs beam-receiver compiled (MIX_ENV=dev mix compile in ${dir}): ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  }
  const ebin = join(dir, '_build', 'dev', 'lib', 'scope_beam', 'ebin');
  let libs: string[];
  try {
    libs = execFileSync('elixir', ['-e', 'for a <- [:elixir, :logger], do: IO.puts(:code.lib_dir(a))'], { stdio: 'pipe', timeout: 60_000 })
      .toString().split('\n').map((l) => l.trim()).filter((l) => l !== '');
  } catch (err) {
    throw new Error(`tracer: 'scope_beam' needs Elixir (elixir on PATH) for its elixir and logger ebins: ${(err as Error).message}`);
  }
  if (libs.length !== 2) throw new Error(`elixir printed no lib dirs for elixir and logger: ${JSON.stringify(libs)}`);
  const paths = [ebin, ...libs.map((l) => join(resolve(l), 'ebin'))];
  for (const [path, app] of [[paths[0], 'scope_beam'], [paths[1], 'elixir'], [paths[2], 'logger']]) {
    if (!existsSync(join(path, `${app}.app`))) throw new Error(`tracer: 'scope_beam': no ${app}.app in ${path}`);
  }
  scopeBeamPaths = paths;
  return paths;
}

function requireErl(): void {
  try {
    execFileSync('erl', ['-noshell', '-eval', 'halt().'], { stdio: 'pipe', timeout: 20_000 });
  } catch (err) {
    throw new Error(`the OTP apps harness needs a working erl (Erlang/OTP 25+ with inets, ssl, ssh, mnesia; see .ci/run): ${(err as Error).message}`);
  }
}

const FACT = /^(?:\([^)]*\)\d+> |\d+> )*(fact|ready|phase_done|phase_error|setup_error)\b ?(.*)$/;

/** One line of the node's stdout, with any shell prompts in front of it taken off. */
function parseLine(line: string): { kind: string; rest: string } | undefined {
  const m = FACT.exec(line.replace(/\r$/, ''));
  return m ? { kind: m[1], rest: m[2] } : undefined;
}

/** A TCP tee between the receiver and the node's trace port that decodes every frame passing through. */
async function startTee(t: TestContext, upstreamPort: number, terms: Term[]): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    sockets.add(down);
    const up = connect({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(up);
    const frames = new FrameReader(64 * 1024 * 1024);
    up.on('data', (chunk: Buffer) => {
      down.write(chunk);
      frames.feed(chunk);
      for (let op = frames.next(); op !== -1; op = frames.next()) {
        if (op === OP_TERM) terms.push(decodeTerm(frames.payload, {}, frames.start, frames.end));
      }
    });
    const close = (): void => {
      up.destroy();
      down.destroy();
    };
    up.on('error', close).on('close', close);
    down.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

export async function runOtpApps(t: TestContext, options: OtpAppsOptions = {}): Promise<OtpAppsRun> {
  requireErl();
  registerSink();
  const wanted = new Set(options.phases ?? OTP_APPS_PHASES);
  for (const p of wanted) if (!OTP_APPS_PHASES.includes(p)) throw new Error(`unknown phase ${String(p)}`);
  const phases = OTP_APPS_PHASES.filter((p) => wanted.has(p));
  const shell = options.shell ?? wanted.has('shell');
  if (wanted.has('shell') && !shell) throw new Error('the shell phase needs shell: true');
  const phaseTimeout = options.phaseTimeoutMs ?? 15_000;
  const tracer = options.tracer ?? 'dbg';
  if (tracer !== 'dbg' && tracer !== 'scope_beam') throw new Error(`unknown tracer ${String(tracer)}`);
  const extraPaths = tracer === 'scope_beam' ? scopeBeamCodePath().flatMap((p) => ['-pa', p]) : [];

  const code = compileErlang('otp_apps_workload');
  t.after(() => rmSync(code, { recursive: true, force: true }));
  const dir = mkdtempSync(join(tmpdir(), 'scope-otp-apps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tracePort = await freePort();
  const name = `otp_apps_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(36)}`;
  const cookie = Array.from({ length: 20 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('');
  const args = ['-sname', name, '-setcookie', cookie, '-pa', code, ...extraPaths, ...(shell ? [] : ['-noshell']),
    '-run', 'otp_apps_workload', 'main', String(tracePort), dir, shell ? 'shell' : 'noshell', tracer];
  const child = spawn('erl', args, { cwd: dir, stdio: 'pipe' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const lines: string[] = [];
  const facts: Record<string, string> = {};
  const done = new Map<string, string>(); // phase → 'ok' | error text
  let ready = false;
  let setupError: string | undefined;
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      const parsed = parseLine(line);
      if (!parsed) continue;
      if (parsed.kind === 'fact') {
        const space = parsed.rest.indexOf(' ');
        facts[space < 0 ? parsed.rest : parsed.rest.slice(0, space)] = space < 0 ? '' : parsed.rest.slice(space + 1);
      } else if (parsed.kind === 'ready') ready = true;
      else if (parsed.kind === 'phase_done') done.set(parsed.rest.trim(), 'ok');
      else if (parsed.kind === 'phase_error') {
        const space = parsed.rest.indexOf(' ');
        done.set(parsed.rest.slice(0, space), parsed.rest.slice(space + 1));
      } else if (parsed.kind === 'setup_error') setupError = parsed.rest;
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killPeer = (): void => {
    const pid = Number(facts['peer.os_pid']);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const stopNode = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    killPeer();
  };
  t.after(stopNode);

  const fact = (key: string): string => {
    const v = facts[key];
    if (v === undefined) throw new Error(`no fact ${key} (facts: ${Object.keys(facts).join(', ')})`);
    return v;
  };
  const tail = (): string => `stdout: ${lines.slice(-40).join('\n')}\nstderr: ${stderr.slice(-2000)}`;
  const alive = (): void => {
    if (spawnError) throw new Error(`could not start erl: ${spawnError.message}`);
    if (setupError !== undefined) throw new Error(`the workload failed to set up: ${setupError}\n${tail()}`);
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`erl exited (${child.exitCode ?? child.signalCode})\n${tail()}`);
  };
  await until(() => (alive(), ready), 30_000, `the OTP apps node to be ready (${tail()})`);

  const sink = { events: [] as ScopeEvent[], spans: [] as Span[], items: 0 };
  const runId = name;
  sinks.set(runId, sink);
  t.after(() => sinks.delete(runId));
  const processors = options.processors ?? {};
  const rawTerms: Term[] = [];
  let pipeline: ReturnType<typeof createPipeline> | undefined;
  let pipelineDown = false;
  t.after(async () => {
    if (pipeline && !pipelineDown) await pipeline.shutdown();
  });
  const connectReceiver = async (): Promise<ReturnType<typeof createPipeline>> => {
    const receiverPort = options.raw ? await startTee(t, Number(fact('trace.port')), rawTerms) : Number(fact('trace.port'));
    const p = createPipeline({
      receivers: { beam_trace_port: { ...(options.receiver ?? {}), endpoint: `127.0.0.1:${receiverPort}` } },
      processors,
      exporters: { [SINK]: { run: runId } },
      service: {
        pipelines: { p: { receivers: ['beam_trace_port'], processors: Object.keys(processors), exporters: [SINK] } },
        telemetry: { metrics: { level: 'none' } },
      },
    }, { logger: silentLogger });
    pipeline = p;
    await p.start();
    await until(async () => (await p.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'the receiver to connect to the trace port');
    return p;
  };

  const command = (phase: string): void => {
    child.stdin.write(shell ? `otp_apps_workload:cmd(${phase}).\n` : `${phase}\n`);
  };
  const awaitPhase = async (phase: string): Promise<void> => {
    await until(() => (done.has(phase) || alive(), done.has(phase)), phaseTimeout, `phase ${phase} (${tail()})`);
    const result = done.get(phase);
    if (result !== 'ok') throw new Error(`phase ${phase} failed on the node: ${result}\n${tail()}`);
  };

  // dbg: the port listens from setup on, the receiver connects before the attach. ScopeBeam opens
  // the port in start/1 itself: attach first (the driver queues the clock, snapshot and trace
  // frames until a client connects), then connect.
  let connected: ReturnType<typeof createPipeline>;
  if (tracer === 'dbg') {
    connected = await connectReceiver();
    command('attach');
    await awaitPhase('attach');
  } else {
    command('attach');
    await awaitPhase('attach');
    connected = await connectReceiver();
  }
  const ran: OtpAppsRun['phases'] = [];
  for (const phase of phases) {
    if (phase === 'shell') {
      command('shell_begin');
      await awaitPhase('shell_begin');
      for (const line of OTP_APPS_SHELL_COMMANDS) child.stdin.write(`${line}\n`);
      command('shell_done');
      await awaitPhase('shell_done');
    } else {
      command(phase);
      await awaitPhase(phase);
    }
    const [first, last] = phase === 'shell' ? ['shell_begin', 'shell_done'] : [phase, phase];
    ran.push({ phase, startNs: BigInt(fact(`phase.${first}.start_ns`)), endNs: BigInt(fact(`phase.${last}.end_ns`)) });
  }

  // Stop: the node stops its peer and halts; the receiver sees the connection close.
  command('stop');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
  clearTimeout(timer);
  await stopNode();
  const settle = options.settleMs ?? 300;
  let last = -1;
  let quietSince = Date.now();
  await until(() => {
    if (sink.items !== last) {
      last = sink.items;
      quietSince = Date.now();
    }
    return Date.now() - quietSince >= settle;
  }, 20_000, 'the sink to go quiet');
  await connected.shutdown();
  pipelineDown = true;

  return {
    events: sink.events,
    spans: sink.spans,
    facts,
    lines,
    stderr,
    node: facts.node ?? `${name}@?`,
    cookie,
    tracer,
    phases: ran,
    fact,
    factsWithPrefix: (prefix) => Object.fromEntries(Object.entries(facts).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v])),
    eventsOf: (pid, type) => sink.events.filter((e) => e.pid === pid && (type === undefined || e.type === type)),
    rawTerms,
    raw: rawTerms.map((term) => renderTerm(term)),
  };
}
