#!/usr/bin/env -S node --max-semi-space-size=64 --expose-gc
/**
 * The scope-pipeline command. The only module that calls process.exit.
 * The shebang gives V8 a 64 MiB young generation: events live across a batch,
 * and with the default size the scavenger copies them again and again (it
 * halves trace-port throughput; see bench/README.md). A daemon without a
 * beam_trace_port receiver holds it at 8 MiB until collections take a
 * noticeable share of the time (util/young_generation.ts: an OTLP load of
 * 10 k spans/s keeps under half the RSS). --expose-gc lets the
 * memory_limiter collect while it refuses data (see its README).
 * Each command loads only what it uses (the component registry alone takes a
 * third of a second), so `inspect` answers a crash seconds old quickly.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { QueryFormat } from './archive/query.js';
import type { ResolvedConfig } from './config/types.js';
import { parseDuration } from './config/units.js';
import { inspect, UsageError, type InspectOptions } from './inspect/command.js';
import { ScopeError } from './util/errors.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './util/logger.js';
import { VERSION } from './version.js';

const HELP = `scope-pipeline ${VERSION}: an observability and debugging pipeline for BEAM systems

Usage:
  scope-pipeline [--config FILE]...
      run the pipeline (default: the bundled config/pipeline.yaml)
  scope-pipeline validate --config FILE...
      check a config; exit 0 when valid, 1 when not
  scope-pipeline print-config --config FILE...
      print the config as resolved (env expanded, defaults applied, secrets as [REDACTED])
  scope-pipeline components
      list every registered component type
  scope-pipeline query --archive DIR [--format table|json|csv] "SQL"
      run one read-only SQL statement over a Parquet archive (views spans, events, metrics;
      no other file access)
  scope-pipeline inspect crashes [--since T] [--node NODE]
      the archive's crashes: root causes, what they took down under them
  scope-pipeline inspect crash PID|latest
      one crash's story: reason, poison message and its sender, stack, last messages, open calls,
      the state before, cascade, restarts, trace
  scope-pipeline inspect process PID [--from T] [--to T]
      a process's life: spawn, names, links, messages in and out, calls, state changes, exit
      (PID: a pid or a registered name)
  scope-pipeline inspect processes --at T
      the process tree alive at T, under spawners and supervisors
  scope-pipeline inspect state PID [--at T]
      a watched GenServer's state at T and the change that led to it
  scope-pipeline inspect trace TRACE_ID|--latest-error
      a trace as a waterfall, a lane per process
  scope-pipeline inspect messages PID PID... [--from T] [--to T]
      a message sequence chart between processes
  scope-pipeline inspect anomalies [--since T]
      what the anomaly processor flagged, newest first
  scope-pipeline inspect test-case PID [--out DIR]
      an ExUnit test replaying a watched GenServer's recorded history
  scope-pipeline mcp [--archive DIR] [--daemon URL]
      a Model Context Protocol server on stdio: the inspect verbs as tools, and query_sql
  scope-pipeline beam-path [--format text|erl|elixir|json]
      compile beam-receiver (ScopeBeam) with the Elixir on PATH and print the absolute paths
      to load it into a node: -pa flags for erl and elixir/iex, code:add_pathsa/1,
      Code.prepend_path/1

Options:
  -c, --config FILE    a YAML config; repeat it to merge files, later ones override earlier
  --log-level LEVEL    debug, info, warn or error (overrides service.telemetry.logs.level)
  --archive DIR        query, inspect, mcp: the parquet exporter's path (default ./data/archive)
  --format FORMAT      query: table (default), json (one array of row objects) or csv;
                       inspect: table (default) or json (the inspection layer's result);
                       beam-path: text (default), erl or elixir (the -pa flags alone), json
  --since T            inspect: from this time on: RFC 3339 or relative (-5m, -2h, -1d)
  --from T, --to T     inspect process, messages: only between these times
  --at T               inspect processes, state: the instant (state: default now)
  --node NODE          inspect: only this BEAM node (and which node a pid is on)
  --limit N            inspect: at most N crashes, entries, messages or anomalies
  --latest-error       inspect trace: the trace of the latest span that ended in error
  --out DIR            inspect test-case: write the test file into DIR instead of printing it
  --daemon URL         inspect, mcp: also the running daemon's live window (its inspector
                       extension, e.g. http://127.0.0.1:4320): seconds ago, before any file rolled
  --token TOKEN        inspect, mcp --daemon: the inspector's token (default SCOPE_INSPECTOR_TOKEN)
  --unsafe             query: no sandbox (any statement, any file, extensions, network)
  --show-secrets       print-config: print secret values instead of [REDACTED]
  -h, --help           this text
  -v, --version        the version

SIGINT or SIGTERM drains the pipeline and exits 0 when everything was delivered;
a second signal exits at once.`;

function fail(message: string): never {
  process.stderr.write(`scope-pipeline: ${message}\n`);
  process.exit(1);
}

async function load(files: string[]): Promise<ResolvedConfig> {
  const { DEFAULT_CONFIG_PATH, loadConfig } = await import('./config/load.js');
  try {
    return loadConfig({ files: files.length > 0 ? files : [DEFAULT_CONFIG_PATH] });
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
}

async function listComponents(): Promise<void> {
  const { registry } = await import('./component/registry.js');
  const rows = registry.list().map((f) => [f.kind, f.type, f.stability ?? '', f.description]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 4));
  for (const r of rows) process.stdout.write(`${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3]}\n`);
}

/** The package root (build/src/cli.js is two levels below it), for relative paths in crash reports. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPONENT_DIRS: Record<string, string> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', extensions: 'extension' };

/**
 * Where an error was thrown, from its stack: `where`, the top frame outside
 * Node's own code (file:line:column, relative to the package); `kind` and
 * `component`, the built-in component whose source holds the first frame in
 * the package's component directories (`exporter`, `otlp_http`: the type, as
 * the stack cannot tell which instance), when there is one. A component loaded
 * from elsewhere is known by its file only.
 */
function crashSite(stack: string | undefined): { where?: string; kind?: string; component?: string } {
  const out: { where?: string; kind?: string; component?: string } = {};
  for (const line of (stack ?? '').split('\n')) {
    const frame = /^\s+at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame || frame[1].startsWith('node:') || frame[1].startsWith('internal/')) continue;
    const file = frame[1].startsWith('file://') ? fileURLToPath(frame[1]) : frame[1];
    const shown = file.startsWith(PACKAGE_ROOT) ? file.slice(PACKAGE_ROOT.length) : file;
    out.where ??= `${shown}:${frame[2]}:${frame[3]}`;
    const component = /^build\/src\/(receivers|processors|exporters|extensions)\/([a-z0-9_]+)\//.exec(shown);
    if (component) {
      out.kind = COMPONENT_DIRS[component[1]];
      out.component = component[2];
      break;
    }
  }
  return out;
}

/** A second identical signal sooner than this after the first is the same request delivered twice (npm forwards it). */
const SIGNAL_ECHO_MS = 150;

async function run(files: string[], logLevel: LogLevel | undefined): Promise<void> {
  const config = await load(files);
  const logger = createLogger({ level: logLevel ?? config.service.telemetry.logs.level });
  // The shebang's 64 MiB semi-spaces are for beam_trace_port; without one the young generation is held (8 MiB).
  const { CAPPED_SEMI_SPACE_MIB, sizeYoungGeneration } = await import('./util/young_generation.js');
  if (sizeYoungGeneration(config) === 'held') logger.debug('young generation held', { semi_space_mib: CAPPED_SEMI_SPACE_MIB });
  const { createPipeline } = await import('./pipeline/service.js');
  let pipeline;
  try {
    pipeline = createPipeline(config, { logger });
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
  // A daemon runs until signalled, even when nothing else (a server, a socket) holds the event loop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  let failed = false;
  const drain = (fields: Record<string, unknown>): void => {
    stopping = true;
    logger.info('draining', fields);
    pipeline.shutdown().then(({ drained }) => {
      clearInterval(keepAlive);
      process.exit(drained && !failed ? 0 : 1);
    }, (error: unknown) => {
      crashed(logger, 'shutdown failed', error);
      process.exit(1);
    });
  };
  let firstSignal: { signal: NodeJS.Signals; at: number } | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    // Ctrl-C under `npm start` arrives twice at once: from the terminal (to the whole process group) and
    // forwarded by npm. A repeat within 150 ms is that echo, not a person asking to stop now.
    if (firstSignal && firstSignal.signal === signal && Date.now() - firstSignal.at < SIGNAL_ECHO_MS) return;
    firstSignal ??= { signal, at: Date.now() };
    if (stopping) {
      // Not process.exit(): it waits for worker threads, and one may be stuck writing to a full pipe.
      // Re-raising with the default action ends the process at once.
      logger.warn('second signal: exiting without draining', { signal });
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    drain({ signal });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A bug that escapes every component and the pipeline: say what and where in one line, then stop as
  // for a signal (receivers stop, queues drain within shutdown_timeout) and exit 1.
  const crash = (what: 'uncaught exception' | 'unhandled rejection', reason: unknown): void => {
    crashed(logger, what, reason);
    failed = true;
    if (stopping) return;
    drain({ reason: what });
    // If the failure broke shutdown itself, do not hang: the pipeline's own deadline plus a margin.
    setTimeout(() => {
      logger.error('shutdown after the failure did not finish; exiting', { timeout: config.service.shutdown_timeout });
      process.exit(1);
    }, parseDuration(config.service.shutdown_timeout) + 5000).unref();
  };
  process.on('uncaughtException', (error) => crash('uncaught exception', error));
  process.on('unhandledRejection', (reason) => crash('unhandled rejection', reason));
  try {
    await pipeline.start();
  } catch (error) {
    logger.error('pipeline failed to start', { error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

function crashed(logger: Logger, what: string, reason: unknown): void {
  try {
    const stack = reason instanceof Error ? reason.stack : undefined;
    const message = reason instanceof Error ? reason.message : String(reason);
    logger.error(what, { error: message, ...crashSite(stack), stack: stack ?? message });
  } catch {
    // The logger itself failed (stderr closed): nothing left to tell.
  }
}

const QUERY_FORMATS: readonly QueryFormat[] = ['table', 'json', 'csv'];

async function query(archive: string | undefined, format: string | undefined, unsafe: boolean, sql: string[]): Promise<void> {
  if (!archive) fail('query needs --archive DIR');
  if (sql.length !== 1) fail('query needs exactly one SQL argument (quote it)');
  const chosen = (format ?? 'table') as QueryFormat;
  if (!QUERY_FORMATS.includes(chosen)) fail(`--format must be one of ${QUERY_FORMATS.join(', ')}`);
  if (unsafe) {
    process.stderr.write('scope-pipeline: warning: query --unsafe: no sandbox; the SQL can read and write any file this user can, attach databases, install and load extensions and reach the network\n');
  }
  const { formatResult, queryArchive } = await import('./archive/query.js');
  try {
    process.stdout.write(formatResult(await queryArchive(archive, sql[0], { unsafe }), chosen));
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
}

/** A long step's name on a terminal's last line (overwritten, then cleared); nothing when stderr is not a terminal. */
function progressLine(stream: NodeJS.WriteStream): ((step: string | null) => void) | undefined {
  if (!stream.isTTY) return undefined;
  let shown = false;
  return (step) => {
    if (shown) stream.write('\r\x1b[2K');
    shown = step !== null;
    if (step !== null) stream.write(`scope-pipeline: ${step.slice(0, Math.max(10, (stream.columns ?? 80) - 20))} …`);
  };
}

async function inspectCli(args: string[], options: Omit<InspectOptions, 'format'> & { format?: string }): Promise<void> {
  const chosen = options.format ?? 'table';
  if (chosen !== 'table' && chosen !== 'json') fail('inspect --format must be table or json');
  const [verb, ...rest] = args;
  try {
    process.stdout.write(await inspect(verb, rest, { ...options, format: chosen, progress: progressLine(process.stderr) }));
  } catch (error) {
    if (error instanceof ScopeError || error instanceof UsageError) fail(error.message);
    throw error;
  }
}

/** Options whose value may start with "-" (a relative time, --at -5m): joined to it, as --at=-5m, before parsing. */
const TIME_OPTIONS = new Set(['--since', '--from', '--to', '--at']);

function joinRelativeTimes(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (TIME_OPTIONS.has(argv[i]) && /^-\d/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/**
 * An argument that starts with "-" but holds a space or a line break is no
 * option: SQL opening with a `-- comment`. It is set aside before parsing and
 * put back among the positionals after.
 */
function setAsideText(argv: string[]): { args: string[]; restore(positionals: string[]): string[] } {
  const kept: string[] = [];
  const args = argv.map((a) => (a.startsWith('-') && /\s/.test(a) ? `\u0000${kept.push(a) - 1}` : a));
  return { args, restore: (positionals) => positionals.map((p) => (p.startsWith('\u0000') ? kept[Number(p.slice(1))] : p)) };
}

async function main(argv: string[]): Promise<void> {
  const text = setAsideText(joinRelativeTimes(argv));
  let parsed;
  try {
    parsed = parseArgs({
      args: text.args,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', multiple: true },
        'log-level': { type: 'string' },
        archive: { type: 'string' },
        format: { type: 'string' },
        unsafe: { type: 'boolean' },
        since: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        at: { type: 'string' },
        limit: { type: 'string' },
        'latest-error': { type: 'boolean' },
        out: { type: 'string' },
        node: { type: 'string' },
        daemon: { type: 'string' },
        token: { type: 'string' },
        'show-secrets': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${HELP}`);
  }
  const { values } = parsed;
  const positionals = text.restore(parsed.positionals);
  if (values.help) return void process.stdout.write(HELP + '\n');
  if (values.version) return void process.stdout.write(VERSION + '\n');
  const level = values['log-level'];
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const files = values.config ?? [];
  const [command, ...extra] = positionals;
  if (values.unsafe && command !== 'query') fail('--unsafe is an option of query');
  if (values['show-secrets'] && command !== 'print-config') fail('--show-secrets is an option of print-config');
  const inspectOnly = ['since', 'from', 'to', 'at', 'node', 'limit', 'latest-error', 'out'] as const;
  const misplaced = inspectOnly.find((o) => values[o] !== undefined);
  if (misplaced && command !== 'inspect') fail(`--${misplaced} is an option of inspect`);
  if ((values.daemon ?? values.token) !== undefined && command !== 'inspect' && command !== 'mcp') fail('--daemon and --token are options of inspect and mcp');
  if (command === 'query') return query(values.archive, values.format, values.unsafe === true, extra);
  const token = values.token ?? process.env.SCOPE_INSPECTOR_TOKEN;
  const daemon = values.daemon ? { url: values.daemon, ...(token ? { token } : {}) } : undefined;
  if (command === 'inspect') {
    return inspectCli(extra, {
      archive: values.archive ?? './data/archive', format: values.format, since: values.since, from: values.from, to: values.to, at: values.at,
      node: values.node, limit: values.limit, latestError: values['latest-error'], out: values.out, daemon,
    });
  }
  if (command === 'beam-path') {
    if (extra.length > 0) fail(`beam-path takes no arguments (got ${extra.join(' ')})`);
    const { beamPath, BeamPathError } = await import('./beam_receiver_path.js');
    try {
      return void process.stdout.write(beamPath(values.format, (text) => process.stderr.write(text)));
    } catch (error) {
      if (error instanceof BeamPathError) fail(error.message);
      throw error;
    }
  }
  if (command === 'mcp') {
    if (extra.length > 0) fail(`mcp takes no arguments (got ${extra.join(' ')})`);
    const { serveMcp } = await import('./mcp/server.js');
    return serveMcp({ archive: values.archive ?? './data/archive', ...(daemon ? { daemon } : {}) });
  }
  if (extra.length > 0) fail(`unexpected arguments: ${extra.join(' ')}\n\n${HELP}`);

  switch (command) {
    case undefined:
    case 'run':
      return run(files, level as LogLevel | undefined);
    case 'validate':
      if (files.length === 0) fail('validate needs --config FILE');
      await load(files);
      process.stderr.write(`scope-pipeline: ${files.join(', ')}: valid\n`);
      return;
    case 'print-config': {
      const { stringify } = await import('yaml');
      if (values['show-secrets']) {
        process.stderr.write('scope-pipeline: warning: --show-secrets: the output holds tokens, passwords and keys; do not share it\n');
        process.stdout.write(stringify(await load(files)));
      } else {
        const { redactSecrets } = await import('./config/redact.js');
        process.stdout.write(stringify(redactSecrets(await load(files))));
      }
      return;
    }
    case 'components':
      return listComponents();
    default:
      fail(`unknown command "${command}"\n\n${HELP}`);
  }
}

// A reader that went away (`… | head`) ends the output, not with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`scope-pipeline: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
