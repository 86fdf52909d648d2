/**
 * parquet-write: rows/s, file bytes and peak RSS writing 1 M span rows to the
 * archive, against DuckDB's own Parquet writer (COPY … TO, C++, both cores)
 * writing the same rows in the same run. Every run is a fresh process, so
 * its peak RSS is its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metrics } from '@opentelemetry/api';
import { DuckDBInstance } from '@duckdb/node-api';
import { ParquetArchiveExporter } from '../src/exporters/parquet/archive.js';
import type { Compression, ParquetExporterConfig } from '../src/exporters/parquet/config.js';
import type { Span } from '../src/model/types.js';
import { ProblemReporter, silentLogger } from '../src/util/logger.js';
import { phoenixSpan as span, series, writeResult, type Series } from './lib.js';

const ROWS = 1_000_000;
const RUNS = 5;
const BATCH = 8192;


function config(path: string, compression: Compression): ParquetExporterConfig {
  return {
    path, partition_by: [], max_file_rows: 1_000_000, max_file_bytes: '1GiB', max_file_age: '1h', row_group_size: 20_000, compression,
    retention: { spans: '0', events: '0', metrics: '0', check_interval: '0' },
    promoted_attributes: { spans: ['http.request.method', 'http.route', 'http.response.status_code', 'db.system', 'error.type'], events: [], metrics: [] },
  };
}

function parquetFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, f));
}

const bytesIn = (dir: string): number => parquetFiles(dir).reduce((sum, f) => sum + statSync(f).size, 0);

interface RunResult { rows_per_s: number; bytes: number; peak_rss_mib: number }

/** One measured run in this process (called in a child): our exporter, or DuckDB's COPY. */
async function child(kind: string, dir: string): Promise<RunResult> {
  if (kind === 'duckdb') {
    // Untimed: the same rows, from the file our exporter wrote, into a DuckDB table.
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`CREATE TABLE spans AS SELECT * FROM read_parquet('${join(dir, 'input.parquet')}')`);
    const out = join(dir, 'duckdb.parquet');
    const t0 = process.hrtime.bigint();
    await c.run(`COPY spans TO '${out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 20000)`);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { rows_per_s: ROWS / seconds, bytes: statSync(out).size, peak_rss_mib: process.resourceUsage().maxRSS / 1024 };
  }
  const archive = join(dir, kind);
  const meter = metrics.getMeter('bench');
  const exporter = new ParquetArchiveExporter(config(archive, kind as Compression), {
    logger: silentLogger, problems: new ProblemReporter(silentLogger), meter,
  });
  await exporter.start();
  // Spans are built batch by batch, as they would arrive, and only the exporter's work is timed.
  let ns = 0n;
  for (let at = 0; at < ROWS; at += BATCH) {
    const spans = Array.from({ length: Math.min(BATCH, ROWS - at) }, (_, k) => span(at + k));
    const t0 = process.hrtime.bigint();
    await exporter.export({ spans, events: [], metrics: [] });
    ns += process.hrtime.bigint() - t0;
  }
  const t0 = process.hrtime.bigint();
  await exporter.shutdown();
  ns += process.hrtime.bigint() - t0;
  return { rows_per_s: ROWS / (Number(ns) / 1e9), bytes: bytesIn(archive), peak_rss_mib: process.resourceUsage().maxRSS / 1024 };
}

function spawnRun(kind: string, dir: string): RunResult {
  const out = execFileSync(process.execPath, ['--max-semi-space-size=64', fileURLToPath(import.meta.url), kind, dir], { encoding: 'utf8' });
  return JSON.parse(out) as RunResult;
}

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-parquet-'));
  try {
    // The anchor's input: one zstd file of the same rows, written by us (checked by DuckDB on the way in).
    const first = spawnRun('zstd', dir);
    const [input] = parquetFiles(join(dir, 'zstd'));
    execFileSync('mv', [input, join(dir, 'input.parquet')]);
    const kinds: Array<{ kind: string; name: string }> = [
      { kind: 'duckdb', name: 'DuckDB COPY TO parquet (zstd, C++, 2 threads)' },
      { kind: 'zstd', name: 'parquet exporter, zstd (hyparquet-writer)' },
      // BENCH_PARQUET_SNAPPY=1 adds snappy (same speed, 4× the bytes when last measured; kept out to save time).
      ...(process.env.BENCH_PARQUET_SNAPPY ? [{ kind: 'snappy', name: 'parquet exporter, snappy (hyparquet-writer)' }] : []),
    ];
    const results = kinds.map(({ kind, name }) => {
      const runs = Array.from({ length: RUNS }, () => {
        rmSync(join(dir, kind), { recursive: true, force: true });
        rmSync(join(dir, 'duckdb.parquet'), { force: true });
        return spawnRun(kind, dir);
      });
      const median = (key: keyof RunResult): number => series(name, key, runs.map((r) => r[key])).median;
      return { name, rate: series(name, 'rows/s', runs.map((r) => r.rows_per_s)), bytes: median('bytes'), rss: median('peak_rss_mib') };
    });
    const [anchor] = results;
    writeResult('parquet-write', {
      input: { rows: ROWS, shape: 'spans, 8 attributes, 1 in 10 with an exception event', row_group_size: 20_000, warmup_run: first },
      anchor: anchor.name,
      runs: RUNS,
      series: results.map((r) => ({ ...r.rate, median_bytes: r.bytes, median_peak_rss_mib: r.rss })),
    });
    const fmt = (s: Series): string => `${(s.median / 1e3).toFixed(0)} k rows/s`;
    return [
      `parquet-write: ${ROWS / 1e6} M span rows, ${RUNS} runs each in a fresh process`,
      '',
      '| series | median | min – max | vs anchor | file size | peak RSS |',
      '|---|---|---|---|---|---|',
      ...results.map((r) => `| ${r.name} | ${fmt(r.rate)} | ${(r.rate.min / 1e3).toFixed(0)} – ${(r.rate.max / 1e3).toFixed(0)} k | ${(r.rate.median / anchor.rate.median).toFixed(2)}× | ${(r.bytes / 2 ** 20).toFixed(1)} MiB | ${r.rss.toFixed(0)} MiB |`),
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a child: `node parquet-write.js <kind> <dir>` prints one RunResult.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.length === 4) {
  process.stdout.write(JSON.stringify(await child(process.argv[2], process.argv[3])));
}
