/**
 * A real Parquet archive of a real Elixir crash (issue 18): the OTP application
 * in test/beam/crash_chain.exs (a one_for_one supervisor over the GenServer
 * chain CrashChain.A → B → C; B casts C the poison `{apply_discount,"SUMMER",-5}`,
 * C dies of a FunctionClauseError and is restarted) runs on a named Elixir node
 * traced by ScopeBeam.Tracer (processes :all, [:send, :receive, :procs], every
 * function of A, B and C with exception_trace) through its IP trace port, and
 * attached with ScopeBeam.attach/1 (C watched with ScopeBeam.watch/1), into an
 * in-process pipeline: beam_trace_port + beam_telemetry → the default
 * pipeline's processors (memory_limiter, correlation, privacy, batch, exactly
 * as config/pipeline.yaml configures them) → a parquet exporter in a temp dir
 * (max_file_age 1s). Of the default pipeline only the demo capture receiver
 * (jsonl/demo) and the debug exporter are left out.
 *
 *   const run = await captureCrashChain(t);
 *   await queryArchive(run.archive, `select … from events where type = 'process.crash'`);
 *   run.pids.c, run.pids.cNew, run.node
 *
 * The harness returns once the correlation processor emitted the crash, the
 * node stopped and the pipeline shut down (so every Parquet file is complete).
 *
 * To look at the pipeline while it runs (the inspector extension's live window,
 * before any file rolled):
 *
 *   await captureCrashChain(t, {
 *     parquet: { max_file_age: '1h' },
 *     extensions: { inspector: { endpoint: `127.0.0.1:${port}` } },
 *     whileRunning: async ({ pipeline, crashSeenAtMs, pids, archive }) => { … },
 *   });
 *
 * `extensions` are declared in the pipeline's config and all of them enabled
 * (service.extensions), in their order. `whileRunning` is called as soon as
 * the correlation processor emitted the crash (scope_correlation_crashes > 0,
 * polled every 20 ms from when the workload started; crashSeenAtMs is
 * Date.now() then), possibly while the node is still finishing its workload;
 * the node is stopped and the pipeline shut down only after both it returned
 * and the node printed `done`. If it throws, the harness throws that (after
 * the node's remaining steps, or their failure, which then wins).
 * No elixir (or erl, or mix) means a failing test, never a skipped one. The
 * node, the pipeline and the archive (unless parquet.path was given) are
 * cleaned up by t.after, in that order.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createPipeline, DEFAULT_CONFIG_PATH, readConfig, silentLogger, type Logger, type Pipeline, type ShutdownResult,
} from '../../src/index.js';
import { freePort, outputOf, until } from '../helpers.js';
import { BEAM_TEST_SOURCES } from './erl.js';
import { scopeBeamCodePath } from './otp_apps.js';

/** The poison C receives, as the pipeline renders it (`beam.message`, `scope.crash.poison_message`). */
export const CRASH_CHAIN_POISON = `{'$gen_cast',{apply_discount,<<"SUMMER">>,-5}}`;

export interface CrashChainOptions {
  /** Processors by id, in order, with their config. Default: the default pipeline's (config/pipeline.yaml). */
  processors?: Record<string, Record<string, unknown>>;
  /** More parquet exporter config; `path` is the archive (default a temp dir removed after the test). Default max_file_age 1s. */
  parquet?: Record<string, unknown>;
  /** Logger for the pipeline. Default silent. */
  logger?: Logger;
  /**
   * Also run the default pipeline's other BEAM receiver, beam_telemetry: the node calls ScopeBeam.attach/1 to it
   * and ScopeBeam.watch/1 on C, then on the restarted C (state.change events; process samples). Default true.
   */
  telemetry?: boolean;
  /** Longest wait for each step (node up, workload, crash event). Default 15 s. */
  timeoutMs?: number;
  /** Extensions by id with their config, declared in `extensions` and enabled in `service.extensions` (in this order). Default none. */
  extensions?: Record<string, Record<string, unknown>>;
  /**
   * Called once the correlation processor emitted the crash (scope_correlation_crashes > 0), before the node is
   * stopped and the pipeline shut down; the harness waits for it. See the doc comment at the top.
   */
  whileRunning?: (live: CrashChainLive) => Promise<void>;
}

/** What whileRunning is given: the running pipeline, and what is known of the run so far. */
export interface CrashChainLive {
  pipeline: Pipeline;
  /** Date.now() when the harness saw scope_correlation_crashes > 0 (it polls every 20 ms). */
  crashSeenAtMs: number;
  /** The archive root (the parquet exporter's path). */
  archive: string;
  /** The node's name, as the pipeline has it. */
  node: string;
  /** The pids the node printed before the workload (C's new pid comes later: CrashChainRun.pids.cNew). */
  pids: Omit<CrashChainPids, 'cNew'>;
}

export interface CrashChainPids {
  /** CrashChain.Sup, the one_for_one supervisor. */
  sup: string;
  a: string;
  b: string;
  /** C before the crash: the process that crashed. */
  c: string;
  /** C after the supervisor restarted it (it served the last order). */
  cNew: string;
  /** The process that made the requests through A. */
  client: string;
}

export interface CrashChainRun {
  /** The archive root (queryArchive(archive, sql)). */
  archive: string;
  /** The node's name, as the archive has it (`source.node`, resource beam.node). */
  node: string;
  /** Pids as the pipeline renders them (`<0.N.S>`). */
  pids: CrashChainPids;
  /** What the client got back: the three orders before the crash, the discount's reply, the order after the restart (Elixir inspect). */
  results: { ordersBefore: string; discount: string; ordersAfter: string };
  /** The poison message as rendered (CRASH_CHAIN_POISON). */
  poison: string;
  /** process.crash events the correlation processor emitted (scope_correlation_crashes), root causes and caused ones. */
  crashesEmitted: number;
  /** Items the parquet exporter wrote (events + spans + metrics). */
  exported: number;
  /** With telemetry: what the node's forwarder sent (and dropped) to the beam_telemetry receiver; else undefined. */
  forwarder?: { sent: number; dropped: number };
  /** The pipeline's shutdown result (drained: every queue emptied, the Parquet files completed). */
  shutdown: ShutdownResult;
  /** Every stdout line of the node (Logger's crash report included), and its stderr. */
  lines: string[];
  stderr: string;
}

interface TestContext {
  after(fn: () => unknown): void;
}

/** The default pipeline's processors, in its order, with its config. */
function defaultProcessors(): Record<string, Record<string, unknown>> {
  const raw = readConfig({ files: [DEFAULT_CONFIG_PATH] }) as {
    processors?: Record<string, Record<string, unknown> | null>;
    service?: { pipelines?: Record<string, { processors?: string[] }> };
  };
  const order = raw.service?.pipelines?.default?.processors;
  if (!order || order.length === 0) throw new Error(`${DEFAULT_CONFIG_PATH}: no processors in service.pipelines.default`);
  return Object.fromEntries(order.map((id) => [id, raw.processors?.[id] ?? {}]));
}

export async function captureCrashChain(t: TestContext, options: CrashChainOptions = {}): Promise<CrashChainRun> {
  const timeout = options.timeoutMs ?? 15_000;
  const ebin = scopeBeamCodePath()[0];
  // One after-hook undoing everything in reverse (t.after hooks run first-registered first, so tempDir's
  // removal would run before the pipeline's shutdown completed its files into the directory).
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const undo of cleanups.reverse()) await undo();
  });
  const scratch = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'scope-crash-chain-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  const archive = typeof options.parquet?.path === 'string' ? options.parquet.path : scratch();
  const cwd = scratch();
  const name = `crash_chain_${process.pid}_${Math.floor(Math.random() * 0xffffff).toString(36)}`;
  const telemetry = options.telemetry ?? true;
  const telemetryPort = telemetry ? await freePort() : undefined;
  const cookie = Array.from({ length: 20 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('');

  const child = spawn('elixir', ['--sname', name, '--cookie', cookie, '-pa', ebin, join(BEAM_TEST_SOURCES, 'crash_chain.exs')], {
    cwd, stdio: 'pipe', env: { ...process.env, CRASH_CHAIN_TELEMETRY_PORT: telemetryPort === undefined ? '' : String(telemetryPort) },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  const stopNode = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(stopNode);
  const { lines, stderr } = outputOf(child);
  const tail = (): string => `stdout: ${lines.slice(-40).join('\n')}\nstderr: ${stderr().slice(-2000)}`;
  const line = async (prefix: string): Promise<string> => {
    let found: string | undefined;
    await until(() => {
      if (spawnError) throw new Error(`could not start elixir: ${spawnError.message}`);
      found = lines.find((l) => l.startsWith(prefix));
      if (found === undefined && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(`the crash_chain node exited (${child.exitCode ?? child.signalCode}) before "${prefix}"\n${tail()}`);
      }
      return found !== undefined;
    }, timeout, `the crash_chain node to print "${prefix}" (${tail()})`);
    return (found as string).slice(prefix.length);
  };
  const json = async (prefix: string): Promise<Record<string, string>> => JSON.parse(await line(prefix)) as Record<string, string>;

  const before = await json('pids ');
  const port = Number(await line('port '));

  const processors = options.processors ?? defaultProcessors();
  const parquet = { max_file_age: '1s', ...(options.parquet ?? {}), path: archive };
  const pipeline: Pipeline = createPipeline({
    receivers: {
      beam_trace_port: { endpoint: `127.0.0.1:${port}` },
      ...(telemetryPort === undefined ? {} : { beam_telemetry: { endpoint: `127.0.0.1:${telemetryPort}` } }),
    },
    processors,
    exporters: { parquet },
    ...(options.extensions ? { extensions: options.extensions } : {}),
    service: {
      ...(options.extensions ? { extensions: Object.keys(options.extensions) } : {}),
      pipelines: { crash_chain: { receivers: telemetryPort === undefined ? ['beam_trace_port'] : ['beam_trace_port', 'beam_telemetry'], processors: Object.keys(processors), exporters: ['parquet'] } },
      telemetry: { metrics: { level: 'none' } },
    },
  }, { logger: options.logger ?? silentLogger });
  let shutdown: ShutdownResult | undefined;
  cleanups.push(async () => {
    if (!shutdown) await pipeline.shutdown();
  });
  await pipeline.start();
  await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, timeout, 'the receiver to connect to the trace port');

  child.stdin.write('go\n');
  // The crash is held for correlation's crash_window (its restart must be seen), then emitted: watched from now
  // on, alongside the node's lines, so whileRunning starts as soon as it is out.
  const crashes = (): Promise<number> => pipeline.metrics.sum('scope_correlation_crashes');
  let abandoned = false;
  const emitted = until(async () => {
    if (abandoned) throw new Error('abandoned: the node failed first');
    return (await crashes()) > 0;
  }, timeout, 'the correlation processor to emit the process.crash').then(async () => {
    const crashSeenAtMs = Date.now();
    await options.whileRunning?.({
      pipeline, crashSeenAtMs, archive, node: before.node,
      pids: { sup: before.sup, a: before.a, b: before.b, c: before.c, client: before.client },
    });
  });
  emitted.catch(() => undefined); // awaited below; a failure of the node's steps first wins
  let restarted: Record<string, string>;
  let results: Record<string, string>;
  let forwarder: Record<string, string> | undefined;
  try {
    restarted = await json('restarted ');
    results = await json('result ');
    forwarder = telemetry ? await json('forwarder ') : undefined;
    await line('done');
  } catch (error) {
    abandoned = true;
    await emitted.catch(() => undefined); // a whileRunning under way finishes before the cleanups stop everything
    throw error;
  }
  try {
    await emitted;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('timed out')) error.message += ` (${tail()})`;
    throw error;
  }

  child.stdin.write('stop\n');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
  clearTimeout(timer);
  await stopNode();
  shutdown = await pipeline.shutdown();
  const exported = await pipeline.metrics.sum('scope_exporter_sent_items');

  return {
    archive,
    node: before.node,
    pids: { sup: before.sup, a: before.a, b: before.b, c: before.c, cNew: restarted.c_new, client: before.client },
    results: { ordersBefore: results.orders_before, discount: results.discount, ordersAfter: results.orders_after },
    poison: CRASH_CHAIN_POISON,
    crashesEmitted: await crashes(),
    exported,
    ...(forwarder ? { forwarder: { sent: Number(forwarder.sent), dropped: Number(forwarder.dropped) } } : {}),
    shutdown,
    lines,
    stderr: stderr(),
  };
}
