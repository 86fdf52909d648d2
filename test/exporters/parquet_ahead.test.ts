/**
 * The parquet exporter acknowledges a batch once it is posted to its writer
 * thread (proxy.ts): the batch is counted as held from that moment, the
 * writer takes it, and if the writer thread dies first, what it held and
 * what was on its way are counted as lost — never acknowledged and unsaid.
 * The real worker thread, the real self-metrics, DuckDB reading back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ComponentContext } from '../../src/component/types.js';
import { ParquetWorkerExporter } from '../../src/exporters/parquet/proxy.js';
import type { ParquetExporterConfig } from '../../src/exporters/parquet/config.js';
import type { ScopeEvent } from '../../src/model/types.js';
import { SelfTelemetry } from '../../src/pipeline/telemetry.js';
import { ProblemReporter, silentLogger } from '../../src/util/logger.js';
import { captureLogger, tempDir, until, type Line } from '../helpers.js';

type Sizes = Pick<ParquetExporterConfig, 'max_file_rows' | 'row_group_size'> & Partial<Pick<ParquetExporterConfig, 'max_file_age'>>;

function config(path: string, sizes: Sizes = { max_file_rows: 1_000_000, row_group_size: 1000 }): ParquetExporterConfig {
  return {
    path, partition_by: [], max_file_bytes: '1GiB', max_file_age: '1h', ...sizes, compression: 'zstd',
    retention: { spans: '0', events: '0', metrics: '0', check_interval: '0' },
    promoted_attributes: { spans: [], events: [], metrics: [] },
  };
}

const events = (from: number, n: number): ScopeEvent[] => Array.from({ length: n }, (_, k) => ({
  id: `e${from + k}`, type: 'message.send', schemaVersion: 1, time: 1_764_000_000_000_000_000n + BigInt(from + k),
  source: { node: 'a@h', component: 'test' }, pid: '<0.1.0>', attributes: { 'beam.message': `{n,${from + k}}` },
}));

function exporterWith(dir: string, lines: Line[] = [], sizes?: Parameters<typeof config>[1]): { exporter: ParquetWorkerExporter; telemetry: SelfTelemetry } {
  const logger = captureLogger(lines);
  const telemetry = new SelfTelemetry(silentLogger, 'test');
  const ctx = {
    id: 'parquet', type: 'parquet', kind: 'exporter', logger, problems: new ProblemReporter(logger), meter: telemetry.meter, reportStatus: () => {},
  } as unknown as ComponentContext;
  return { exporter: new ParquetWorkerExporter(config(dir, sizes), ctx), telemetry };
}

const workerOf = (exporter: ParquetWorkerExporter): Worker => (exporter as unknown as { worker: Worker }).worker;

describe('parquet exporter: batches acknowledged on their way to the writer', () => {
  it('counts an acknowledged batch as held from the moment it is posted, and archives every row', async (t) => {
    const dir = join(tempDir(t), 'archive');
    const { exporter, telemetry } = exporterWith(dir);
    await exporter.start();
    // 20 batches of 300, each acknowledged before the writer answered for it.
    for (let b = 0; b < 20; b++) {
      const result = await exporter.export({ spans: [], events: events(b * 300, 300), metrics: [] });
      assert.deepEqual(result, { ok: true });
      // Everything acknowledged is held (no file is complete before max_file_rows or shutdown): posted or taken, never neither.
      assert.equal(await telemetry.sum('scope_parquet_rows_buffered', { table: 'events' }), (b + 1) * 300);
    }
    await exporter.shutdown();
    assert.equal(await telemetry.sum('scope_parquet_rows_buffered'), 0);
    const db = await DuckDBInstance.create(':memory:');
    t.after(() => db.closeSync());
    const rows = (await (await db.connect()).runAndReadAll(
      `SELECT count(*)::INTEGER, count(DISTINCT id)::INTEGER, min(time) = make_timestamp_ns(1764000000000000000) FROM read_parquet('${dir}/**/*.parquet')`,
    )).getRowsJson();
    assert.deepEqual(rows, [[6000, 6000, true]]);
  });

  it('counts what the writer held and the batch on its way as lost when the writer thread dies, and fails later batches', async (t) => {
    const dir = join(tempDir(t), 'archive');
    const lines: Line[] = [];
    const { exporter, telemetry } = exporterWith(dir, lines);
    await exporter.start();
    // Taken by the writer (it answered for the first when the second went).
    assert.deepEqual(await exporter.export({ spans: [], events: events(0, 400), metrics: [] }), { ok: true });
    assert.deepEqual(await exporter.export({ spans: [], events: events(400, 250), metrics: [] }), { ok: true });
    await until(async () => (await telemetry.sum('scope_parquet_rows_buffered')) === 650, 5_000, 'both batches held');
    // The third is acknowledged and posted; the writer thread is killed before it can take it.
    assert.deepEqual(await exporter.export({ spans: [], events: events(650, 100), metrics: [] }), { ok: true });
    await workerOf(exporter).terminate();
    await until(async () => (await telemetry.sum('scope_parquet_rows_lost', { reason: 'worker_failed' })) === 750, 5_000, 'every acknowledged row counted lost');
    assert.equal(await telemetry.sum('scope_parquet_rows_lost', { table: 'events', reason: 'worker_failed' }), 750);
    assert.equal(await telemetry.sum('scope_parquet_rows_buffered'), 0);
    const later = await exporter.export({ spans: [], events: events(750, 10), metrics: [] });
    assert.equal(later.ok, false);
    assert.ok(lines.some((l) => l.message === 'parquet worker failed'));
    assert.ok(lines.some((l) => l.message.startsWith('parquet exporter lost') && (l.fields.events === 650 || l.fields.events === 750)), JSON.stringify(lines));
    await exporter.shutdown();
  });

  it('counts every acknowledged row once, held or written, while the writer makes the pipeline wait and completes files', async (t) => {
    const dir = join(tempDir(t), 'archive');
    // Small groups and files: the writer falls behind (answers wait for room) and completes files as batches come.
    const { exporter, telemetry } = exporterWith(dir, [], { max_file_rows: 2500, row_group_size: 500 });
    await exporter.start();
    for (let b = 0; b < 30; b++) assert.deepEqual(await exporter.export({ spans: [], events: events(b * 1200, 1200), metrics: [] }), { ok: true });
    const written = (): Promise<number> => telemetry.sum('scope_parquet_rows_written', { table: 'events' });
    await until(async () => (await written()) === 35_000, 10_000, 'every full file written');
    // Quiet now: what is not in a completed file is held, exactly.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await telemetry.sum('scope_parquet_rows_buffered', { table: 'events' }) + await written(), 36_000);
    await exporter.shutdown();
    assert.equal(await written(), 36_000);
  });

  it('completes files by age while batches keep coming: the last rows are encoded ahead, and rows that come meanwhile go to the next file', async (t) => {
    const dir = join(tempDir(t), 'archive');
    const { exporter, telemetry } = exporterWith(dir, [], { max_file_rows: 1_000_000, row_group_size: 1000, max_file_age: '100ms' });
    await exporter.start();
    const written = (): Promise<number> => telemetry.sum('scope_parquet_rows_written', { table: 'events' });
    const files = (): Promise<number> => telemetry.sum('scope_parquet_files_completed', { table: 'events' });
    // Batches of 137 (never a whole group) every few milliseconds for ~1.5 s: every file is completed by age, with rows arriving.
    let sent = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      assert.deepEqual(await exporter.export({ spans: [], events: events(sent, 137), metrics: [] }), { ok: true });
      sent += 137;
      await new Promise((r) => setTimeout(r, 3));
    }
    await until(async () => (await written()) === sent, 10_000, 'every row in a file completed by age');
    assert.ok((await files()) >= 5, `${await files()} files completed by age`);
    assert.equal(await telemetry.sum('scope_parquet_rows_buffered', { table: 'events' }), 0);
    await exporter.shutdown();
    assert.equal(await written(), sent);
    const db = await DuckDBInstance.create(':memory:');
    t.after(() => db.closeSync());
    const rows = (await (await db.connect()).runAndReadAll(
      `SELECT count(*)::INTEGER, count(DISTINCT id)::INTEGER, count(DISTINCT filename)::INTEGER FROM read_parquet('${dir}/**/*.parquet', filename = true)`,
    )).getRowsJson();
    assert.deepEqual(rows, [[sent, sent, await files()]]);
  });
});
