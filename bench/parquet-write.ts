/**
 * parquet-write: rows/s, file bytes and peak RSS writing span rows and event
 * rows to the archive through the exporter as the pipeline uses it (the
 * writer on its worker thread), side by side:
 * - `columns`: columns built on the pipeline's thread as batches arrive,
 *   their ArrayBuffers transferred to the worker, row groups encoded there by
 *   apache-arrow + parquet-wasm (the exporter's writer);
 * - `rows`: items structured-cloned to the worker, rows built there and
 *   encoded by hyparquet-writer (the writer before);
 * - anchor: DuckDB's own Parquet writer (COPY … TO, C++, both cores) writing
 *   the same rows, already inside DuckDB, in the same run.
 * Every run is a fresh process, so its peak RSS is its own. Each process
 * builds a pool of POOL batches first (untimed) and sends them in turn, so
 * the timed part is the exporter's alone, from the first batch to the end of
 * shutdown (every file complete and renamed). Also measured: the
 * pipeline-thread time per row (event-loop utilisation), the process's CPU
 * time per row over every thread (on 2 cores, the bound on throughput), and
 * the longest event-loop stall.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { metrics } from '@opentelemetry/api';
import { DuckDBInstance } from '@duckdb/node-api';
import { ParquetWorkerExporter } from '../src/exporters/parquet/proxy.js';
import type { ParquetExporterConfig } from '../src/exporters/parquet/config.js';
import type { ArchiveWriterMode } from '../src/exporters/parquet/archive.js';
import type { ComponentContext } from '../src/component/types.js';
import type { Batch, ScopeEvent } from '../src/model/types.js';
import { decodeTerm } from '../src/beam/etf.js';
import { FrameReader, OP_TERM } from '../src/receivers/beam_trace_port/framing.js';
import { TraceMapper } from '../src/receivers/beam_trace_port/mapping.js';
import { CAPTURE_FILE, recordCapture } from './capture.js';
import { ProblemReporter, silentLogger } from '../src/util/logger.js';
import { phoenixSpan as span, series, writeResult, type Series } from './lib.js';
import { stream } from './processors.js';

/**
 * `trace`: the events table again, from real trace frames (the load
 * generator's capture, bench/data/trace-capture.bin, mapped by the trace
 * port's mapper: sends and receives of small terms, calls and returns), as
 * the daemon archives them; its ~300 k events sent twice.
 */
const TABLES = { spans: 1_000_000, events: 500_000, trace: 600_000 } as const;
type Table = keyof typeof TABLES;
const RUNS = Number(process.env.BENCH_PARQUET_RUNS ?? 5);
/** BENCH_PARQUET_TABLES=events,trace: only those tables. */
const ONLY = process.env.BENCH_PARQUET_TABLES?.split(',');
const BATCH = 8192;
const POOL = 8;

function config(path: string): ParquetExporterConfig {
  return {
    path, partition_by: [], max_file_rows: 1_000_000, max_file_bytes: '1GiB', max_file_age: '1h', row_group_size: 20_000, compression: 'zstd',
    retention: { spans: '0', events: '0', metrics: '0', check_interval: '0' },
    promoted_attributes: { spans: ['http.request.method', 'http.route', 'http.response.status_code', 'db.system', 'error.type'], events: [], metrics: [] },
  };
}

function parquetFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, f));
}

/** The process's CPU time (every thread: the pipeline's, the worker's, GC's, DuckDB's) per row since `since`. */
const cpuPerRow = (since: NodeJS.CpuUsage, rows: number): number => {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / rows;
};

const bytesIn = (dir: string): number => parquetFiles(dir).reduce((sum, f) => sum + statSync(f).size, 0);

interface RunResult { rows_per_s: number; bytes: number; peak_rss_mib: number; cpu_us_per_row: number; main_us_per_row?: number; max_stall_ms?: number; writer_stall_ms?: number }

/**
 * POOL batches of the table's rows, built before timing starts. A batch's
 * spans share one resource object, as the OTLP receiver's spans of one
 * ResourceSpans do (an SDK sends its process's resource once per request).
 */
function pool(table: Table): Batch[] {
  if (table === 'spans') {
    return Array.from({ length: POOL }, (_, b) => {
      const spans = Array.from({ length: BATCH }, (_, k) => span(b * BATCH + k));
      const resource = spans[0].resource;
      for (const s of spans) s.resource = resource;
      return { spans, events: [], metrics: [] };
    });
  }
  const events = table === 'trace' ? traceEvents() : stream(POOL * BATCH);
  return Array.from({ length: Math.ceil(events.length / BATCH) }, (_, b) => ({ spans: [], events: events.slice(b * BATCH, (b + 1) * BATCH), metrics: [] }));
}

/** The capture's frames, decoded and mapped as the trace port does. */
function traceEvents(): ScopeEvent[] {
  const bytes = readFileSync(CAPTURE_FILE);
  const reader = new FrameReader(1 << 24);
  reader.feed(bytes);
  const mapper = new TraceMapper({ component: 'beam_trace_port', maxMessageBytes: 1024 });
  const events: ScopeEvent[] = [];
  for (let op = reader.next(); op >= 0; op = reader.next()) if (op === OP_TERM) mapper.map(decodeTerm(bytes, undefined, reader.start, reader.end), events);
  return events;
}

/** One measured run in this process (called in a child): the exporter in one mode, or DuckDB's COPY. */
async function child(kind: string, table: Table, dir: string): Promise<RunResult> {
  const rows = TABLES[table];
  if (kind === 'duckdb') {
    // Untimed: the same rows, from a file our exporter wrote, into a DuckDB table.
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${join(dir, `input-${table}.parquet`)}')`);
    const out = join(dir, 'duckdb.parquet');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await c.run(`COPY t TO '${out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 20000)`);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { rows_per_s: rows / seconds, bytes: statSync(out).size, peak_rss_mib: process.resourceUsage().maxRSS / 1024, cpu_us_per_row: cpuPerRow(cpu0, rows) };
  }
  const archive = join(dir, kind);
  const meter = metrics.getMeter('bench');
  const ctx = { id: 'parquet', type: 'parquet', kind: 'exporter', logger: silentLogger, problems: new ProblemReporter(silentLogger), meter, reportStatus: () => {} } as unknown as ComponentContext;
  const exporter = new ParquetWorkerExporter(config(archive), ctx, kind as ArchiveWriterMode);
  await exporter.start();
  const batches = pool(table);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let at = 0, b = 0; at < rows; b++) {
    let batch = batches[b % batches.length];
    const n = Math.min(batch.spans.length + batch.events.length, rows - at);
    if (n < batch.spans.length + batch.events.length) batch = { spans: batch.spans.slice(0, n), events: batch.events.slice(0, n), metrics: [] };
    at += n;
    const result = await exporter.export(batch);
    if (!result.ok) throw result.error;
  }
  await exporter.shutdown();
  const ns = Number(process.hrtime.bigint() - t0);
  const elu = performance.eventLoopUtilization(elu0);
  delay.disable();
  return {
    rows_per_s: rows / (ns / 1e9), bytes: bytesIn(archive), peak_rss_mib: process.resourceUsage().maxRSS / 1024, cpu_us_per_row: cpuPerRow(cpu0, rows),
    main_us_per_row: (elu.active * 1000) / rows, max_stall_ms: delay.max / 1e6, writer_stall_ms: exporter.longestWriterStallMs,
  };
}

function spawnRun(kind: string, table: Table, dir: string): RunResult {
  const out = execFileSync(process.execPath, ['--max-semi-space-size=64', fileURLToPath(import.meta.url), kind, table, dir], { encoding: 'utf8' });
  return JSON.parse(out) as RunResult;
}

/** DuckDB reads every file the run wrote: the row count, as a check that the series wrote what it was timed for. */
async function countRows(dir: string): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  try {
    const c = await db.connect();
    const r = await c.runAndReadAll(`SELECT count(*)::INTEGER FROM read_parquet('${dir}/**/*.parquet')`);
    return Number(r.getRowsJson()[0][0]);
  } finally {
    db.closeSync();
  }
}

const SHAPES: Record<Table, string> = {
  spans: 'spans, 8 attributes, 1 in 10 with an exception event',
  events: 'trace-port-shaped events (bench/processors.ts stream)',
  trace: 'events from real trace frames (bench/data/trace-capture.bin through the trace port\'s mapper), sent twice',
};

const KINDS: Array<{ kind: string; name: string }> = [
  { kind: 'duckdb', name: 'DuckDB COPY TO parquet (zstd, C++, 2 threads)' },
  { kind: 'columns', name: 'columns built as batches arrive, transferred; apache-arrow + parquet-wasm on the worker (zstd)' },
  { kind: 'rows', name: 'items cloned to the worker; hyparquet-writer (zstd)' },
];

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-parquet-'));
  const out: string[] = [];
  const json: Record<string, unknown> = {};
  try {
    const tables = (Object.keys(TABLES) as Table[]).filter((t) => !ONLY || ONLY.includes(t));
    if (tables.includes('trace')) await recordCapture();
    for (const table of tables) {
      const rows = TABLES[table];
      // The anchor's input: the same rows, written by the exporter (and counted by DuckDB on the way in).
      const first = spawnRun('columns', table, dir);
      const [input] = parquetFiles(join(dir, 'columns'));
      execFileSync('mv', [input, join(dir, `input-${table}.parquet`)]);
      rmSync(join(dir, 'columns'), { recursive: true, force: true });
      const results = KINDS.map(({ kind, name }) => {
        const runs: RunResult[] = [];
        for (let r = 0; r < RUNS; r++) {
          rmSync(join(dir, kind), { recursive: true, force: true });
          rmSync(join(dir, 'duckdb.parquet'), { force: true });
          runs.push(spawnRun(kind, table, dir));
        }
        const median = (key: keyof RunResult): number => series(name, key, runs.map((x) => x[key] ?? 0)).median;
        return {
          name, kind, rate: series(name, 'rows/s', runs.map((x) => x.rows_per_s)), bytes: median('bytes'), rss: median('peak_rss_mib'), cpu: median('cpu_us_per_row'),
          main: kind === 'duckdb' ? undefined : median('main_us_per_row'), stall: kind === 'duckdb' ? undefined : Math.max(...runs.map((x) => x.max_stall_ms ?? 0)),
          writerStall: kind === 'duckdb' ? undefined : Math.max(...runs.map((x) => x.writer_stall_ms ?? 0)),
        };
      });
      // What the last run of each exporter series wrote, read back by DuckDB.
      const counted: Record<string, number> = {};
      for (const { kind } of KINDS.slice(1)) counted[kind] = await countRows(join(dir, kind));
      for (const [kind, n] of Object.entries(counted)) if (n !== rows) throw new Error(`parquet-write ${table}: ${kind} wrote ${n} rows, not ${rows}`);
      const [anchor] = results;
      json[table] = {
        input: { rows, shape: SHAPES[table], batch: BATCH, pool_batches: table === 'trace' ? 'the capture' : POOL, row_group_size: 20_000, warmup_run: first },
        anchor: anchor.name,
        series: results.map((r) => ({ ...r.rate, median_bytes: r.bytes, median_peak_rss_mib: r.rss, median_cpu_us_per_row: r.cpu, median_main_thread_us_per_row: r.main, max_event_loop_stall_ms: r.stall, max_writer_thread_stall_ms: r.writerStall })),
      };
      const fmt = (s: Series): string => `${(s.median / 1e3).toFixed(0)} k rows/s`;
      out.push(
        `parquet-write, ${table}: ${rows / 1e6} M rows, ${RUNS} runs each in a fresh process`,
        '',
        '| series | median | min – max | vs anchor | file size | peak RSS | CPU, all threads | pipeline thread | longest stall | writer thread\'s longest stall |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...results.map((r) => `| ${r.name} | ${fmt(r.rate)} | ${(r.rate.min / 1e3).toFixed(0)} – ${(r.rate.max / 1e3).toFixed(0)} k | ${(r.rate.median / anchor.rate.median).toFixed(2)}× | ${(r.bytes / 2 ** 20).toFixed(1)} MiB | ${r.rss.toFixed(0)} MiB | ${r.cpu.toFixed(2)} µs/row | ${r.main === undefined ? '' : `${r.main.toFixed(2)} µs/row`} | ${r.stall === undefined ? '' : `${r.stall.toFixed(0)} ms`} | ${r.writerStall === undefined ? '' : `${r.writerStall.toFixed(0)} ms`} |`),
        '',
      );
    }
    writeResult('parquet-write', { runs: RUNS, ...json });
    return out.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a child: `node parquet-write.js <kind> <table> <dir>` prints one RunResult.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.length === 5) {
  process.stdout.write(JSON.stringify(await child(process.argv[2], process.argv[3] as Table, process.argv[4])));
}
