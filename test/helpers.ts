/** Shared test helpers: collecting and failing exporters, temp dirs, event builders, the daemon as a child process. */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineExporter, type Batch, type ExportResult, type Logger, type LogFields, type ScopeEvent } from '../src/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'build/src/cli.js');

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'scope-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const scratchDirs: string[] = [];
/**
 * A directory for the whole test file (compiled BEAM modules, certificates),
 * removed when the test process exits — for what outlives any one test's hooks.
 */
export function processScratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (scratchDirs.length === 0) process.once('exit', () => scratchDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  scratchDirs.push(dir);
  return dir;
}

let seq = 0;
export function event(overrides: Partial<ScopeEvent> = {}): ScopeEvent {
  seq++;
  return {
    id: `e${seq}`,
    type: 'message.send',
    schemaVersion: 1,
    time: 1764000000000000000n + BigInt(seq),
    source: { node: 'app@host', component: 'test' },
    pid: '<0.80.0>',
    attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': `{ping,${seq}}` },
    ...overrides,
  };
}

export function eventBatch(count: number): Batch {
  return { events: Array.from({ length: count }, () => event()), spans: [], metrics: [] };
}

/** A sink that keeps every batch it is given (an exporter type tests register under their own name). */
export class Collector {
  readonly batches: Batch[] = [];
  started = 0;
  stopped = 0;
  /** When set, export() waits for it (lets tests hold the queue). */
  gate?: Promise<void>;
  failWith?: { retryable: boolean; message: string };

  get items(): number {
    return this.batches.reduce((n, b) => n + b.events.length + b.spans.length + b.metrics.length, 0);
  }

  get events(): ScopeEvent[] {
    return this.batches.flatMap((b) => b.events);
  }

  factory(type: string) {
    return defineExporter<Record<string, unknown>>({
      type,
      kind: 'exporter',
      description: 'test collector',
      configSchema: { type: 'object', additionalProperties: false, properties: {} },
      create: () => ({
        start: async () => {
          this.started++;
        },
        export: async (batch): Promise<ExportResult> => {
          if (this.gate) await this.gate;
          if (this.failWith) return { ok: false, retryable: this.failWith.retryable, error: new Error(this.failWith.message) };
          this.batches.push(batch);
          return { ok: true };
        },
        shutdown: async () => {
          this.stopped++;
        },
      }),
    });
  }
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Value of one Prometheus sample (summed over series whose labels include `labels`). */
export function promValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([^{ ]+)(\{(.*)\})? ([^ ]+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const series = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => series[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

export interface Daemon {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  stdout(): string;
  /** The /metrics base URL, once the daemon logged it. */
  metricsUrl(): Promise<string>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}): Daemon {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    metricsUrl: async () => {
      let url = '';
      await until(() => {
        const m = /"metrics":"(http:\/\/[^"]+)"/.exec(err);
        url = m ? m[1] : '';
        return url !== '' || child.exitCode !== null;
      }, 10_000, 'the daemon to log its metrics address');
      if (!url) throw new Error(`daemon exited early: ${err}`);
      return url;
    },
    exited: () => exited,
  };
}

const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 for a server (or an erl node) to listen on.
 * Picked at random below the kernel's ephemeral range and never twice in one
 * process: asking the kernel for port 0 and closing it again can hand the same
 * port to the next caller, or to another test file running in parallel.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    if (handedOut.has(port)) continue;
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    handedOut.add(port);
    return port;
  }
}

/** mulberry32: a small seeded PRNG, so a failing random test replays. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tmpfs of `size` (`2m`), unmounted after the test, once `stop` (the
 * pipeline's shutdown, the daemon's end) is done: a writer still running after
 * the unmount would write into the directory beneath.
 */
export function smallDisk(t: { after(fn: () => Promise<void>): void }, size: string, stop: () => Promise<unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'scope-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`these tests need a real small filesystem: mounting a ${size} tmpfs failed (run as root): ${(error as Error).message}`);
  }
  t.after(async () => {
    await stop();
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A child's stdout as complete lines (the last, unfinished one held back) and its stderr, as they arrive. */
export function outputOf(child: { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }): { lines: string[]; stderr(): string } {
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { lines, stderr: () => stderr };
}

/** A log line as a capturing logger keeps it. */
export interface Line { level: string; message: string; fields: LogFields }

/** A logger that keeps every line but debug ones in `lines`, with the fields its children bind. */
export function captureLogger(lines: Line[], bound: LogFields = {}): Logger {
  const write = (level: string) => (message: string, fields?: LogFields): void => {
    lines.push({ level, message, fields: { ...bound, ...fields } });
  };
  return { debug: () => undefined, info: write('info'), warn: write('warn'), error: write('error'), child: (f) => captureLogger(lines, { ...bound, ...f }) };
}

/** Samples `read` every `everyMs` until stopped; stop() resolves with the largest value seen. */
export function sampleMax(read: () => Promise<number>, everyMs = 5): { stop(): Promise<number> } {
  let max = 0;
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      max = Math.max(max, await read());
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await done;
      return max;
    },
  };
}
