/** Shared benchmark helpers: repeated runs after warm-up, medians and spread, results as JSON. */
import type { Span } from '../src/model/types.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** A port free on 127.0.0.1 right now (benchmarks run one thing at a time). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  // After "(comm) ": utime and stime are the 12th and 13th fields.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** A process's peak resident set size so far, in MiB (VmHWM in /proc/<pid>/status). */
export function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** A process's resident set size now, in MiB (/proc/<pid>/status). */
export function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** The sum of a Prometheus metric's samples whose labels include `labels`. */
export function promMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  return text.split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

const PHOENIX_BASE = 1_764_000_000_123_456_789n;

/** Spans shaped like a Phoenix request tree: 8 attributes, one in ten with an exception event. */
export function phoenixSpan(i: number): Span {
  const start = PHOENIX_BASE + BigInt(i) * 1_001n;
  return {
    traceId: (i >> 3).toString(16).padStart(32, '0'),
    spanId: (i + 1).toString(16).padStart(16, '0'),
    ...(i % 8 ? { parentSpanId: (i - (i % 8) + 1).toString(16).padStart(16, '0') } : {}),
    name: i % 8 ? `Shop.Repo.query/${i % 5}` : `GET /users/${i % 50}`,
    spanKind: i % 8 ? 'internal' : 'server',
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(i % 1000) * 1_000n,
    attributes: {
      'http.route': `/users/${i % 50}`, 'http.request.method': 'GET', 'http.response.status_code': 200,
      'db.system': 'postgresql', 'db.statement': `SELECT * FROM users WHERE id = $1 -- ${i % 100}`,
      'beam.pid': `<0.${i % 900}.0>`, ratio: i / 7, cached: i % 2 === 0,
    },
    events: i % 10 === 0 ? [{ name: 'exception', timeUnixNano: start + 5n, attributes: { 'exception.type': 'DBConnection.ConnectionError' } }] : [],
    links: [],
    status: { code: i % 10 === 0 ? 'error' : 'unset' },
    resource: { 'service.name': 'shop', 'beam.node': 'shop@host' },
  };
}
