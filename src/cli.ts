#!/usr/bin/env -S node --max-semi-space-size=64 --expose-gc
/**
 * The scope-pipeline command. The only module that calls process.exit.
 * The shebang gives V8 a 64 MiB young generation: events live across a batch,
 * and with the default size the scavenger copies them again and again (it
 * halves trace-port throughput; see bench/README.md). --expose-gc lets the
 * memory_limiter collect while it refuses data (see its README).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { formatResult, queryArchive, type QueryFormat } from './archive/query.js';
import { registry } from './component/registry.js';
import { DEFAULT_CONFIG_PATH, loadConfig } from './config/load.js';
import type { ResolvedConfig } from './config/types.js';
import { createPipeline } from './pipeline/service.js';
import { ScopeError } from './util/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './util/logger.js';
import { VERSION } from './version.js';

const HELP = `scope-pipeline ${VERSION}: an observability and debugging pipeline for BEAM systems

Usage:
  scope-pipeline [--config FILE]...          run the pipeline (default: the bundled config/pipeline.yaml)
  scope-pipeline validate --config FILE...   check a config; exit 0 when valid, 1 when not
  scope-pipeline print-config --config FILE... print the config as resolved (env expanded, defaults applied)
  scope-pipeline components                  list every registered component type
  scope-pipeline query --archive DIR [--format table|json|csv] "SQL"
                                             run SQL over a Parquet archive (views spans, events, metrics)

Options:
  -c, --config FILE    a YAML config; repeat it to merge files, later ones override earlier
  --log-level LEVEL    debug, info, warn or error (overrides service.telemetry.logs.level)
  --archive DIR        query: the parquet exporter's path
  --format FORMAT      query: table (default), json (one array of row objects) or csv
  -h, --help           this text
  -v, --version        the version

SIGINT or SIGTERM drains the pipeline and exits 0 when everything was delivered;
a second signal exits at once.`;

function fail(message: string): never {
  process.stderr.write(`scope-pipeline: ${message}\n`);
  process.exit(1);
}

function load(files: string[]): ResolvedConfig {
  try {
    return loadConfig({ files: files.length > 0 ? files : [DEFAULT_CONFIG_PATH] });
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
}

function listComponents(): void {
  const rows = registry.list().map((f) => [f.kind, f.type, f.stability ?? '', f.description]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 4));
  for (const r of rows) process.stdout.write(`${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3]}\n`);
}

async function run(files: string[], logLevel: LogLevel | undefined): Promise<void> {
  const config = load(files);
  const logger = createLogger({ level: logLevel ?? config.service.telemetry.logs.level });
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
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // Not process.exit(): it waits for worker threads, and one may be stuck writing to a full pipe.
      // Re-raising with the default action ends the process at once.
      logger.warn('second signal: exiting without draining', { signal });
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    stopping = true;
    logger.info('draining', { signal });
    void pipeline.shutdown().then(({ drained }) => {
      clearInterval(keepAlive);
      process.exit(drained ? 0 : 1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled rejection (kept running)', { error: reason instanceof Error ? reason.stack : String(reason) });
  });
  try {
    await pipeline.start();
  } catch (error) {
    logger.error('pipeline failed to start', { error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

const QUERY_FORMATS: readonly QueryFormat[] = ['table', 'json', 'csv'];

async function query(archive: string | undefined, format: string | undefined, sql: string[]): Promise<void> {
  if (!archive) fail('query needs --archive DIR');
  if (sql.length !== 1) fail('query needs exactly one SQL argument (quote it)');
  const chosen = (format ?? 'table') as QueryFormat;
  if (!QUERY_FORMATS.includes(chosen)) fail(`--format must be one of ${QUERY_FORMATS.join(', ')}`);
  try {
    process.stdout.write(formatResult(await queryArchive(archive, sql[0]), chosen));
  } catch (error) {
    if (error instanceof ScopeError) fail(error.message);
    throw error;
  }
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', multiple: true },
        'log-level': { type: 'string' },
        archive: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return void process.stdout.write(HELP + '\n');
  if (values.version) return void process.stdout.write(VERSION + '\n');
  const level = values['log-level'];
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const files = values.config ?? [];
  const [command, ...extra] = positionals;
  if (command === 'query') return query(values.archive, values.format, extra);
  if (extra.length > 0) fail(`unexpected arguments: ${extra.join(' ')}\n\n${HELP}`);

  switch (command) {
    case undefined:
    case 'run':
      return run(files, level as LogLevel | undefined);
    case 'validate':
      if (files.length === 0) fail('validate needs --config FILE');
      load(files);
      process.stderr.write(`scope-pipeline: ${files.join(', ')}: valid\n`);
      return;
    case 'print-config':
      process.stdout.write(stringify(load(files)));
      return;
    case 'components':
      return listComponents();
    default:
      fail(`unknown command "${command}"\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`scope-pipeline: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
