/** Shared benchmark helpers: repeated runs after warm-up, medians and spread, results as JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_ROOT = fileURLToPath(new URL('../../bench/', import.meta.url));

export interface Series {
  name: string;
  unit: string;
  runs: number[];
  median: number;
  min: number;
  max: number;
}

export function series(name: string, unit: string, runs: number[]): Series {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { name, unit, runs, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Runs `work` `warmup` times unmeasured, then `runs` times; returns items per second for each run. */
export function ratePerSecond(items: number, work: () => void, runs = 7, warmup = 2): number[] {
  for (let i = 0; i < warmup; i++) work();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    work();
    const ns = Number(process.hrtime.bigint() - t0);
    out.push(items / (ns / 1e9));
  }
  return out;
}

export function environment(): Record<string, unknown> {
  return {
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  const dir = join(BENCH_ROOT, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ benchmark: name, environment: environment(), ...result }, null, 2) + '\n');
  return file;
}

export function table(rows: Series[], anchor: Series): string {
  const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1));
  const lines = ['| series | median | min – max | vs anchor |', '|---|---|---|---|'];
  for (const r of [anchor, ...rows]) {
    lines.push(`| ${r.name} | ${fmt(r.median)} ${r.unit} | ${fmt(r.min)} – ${fmt(r.max)} | ${(r.median / anchor.median).toFixed(2)}× |`);
  }
  return lines.join('\n');
}
