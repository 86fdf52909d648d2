/**
 * disk-queue: the disk sending queue's storage candidates side by side — our
 * segment log (src/pipeline/disk_queue/segment_log.ts) and LMDB (the `lmdb`
 * package, the alternative named by the issue) — on the same payloads in the
 * same run: append throughput and ack latency with fsync before the ack and
 * with the relaxed setting (survives a killed process, not a power cut), 64
 * appenders in flight and one at a time; then recovery after a SIGKILL,
 * FIFO read-back + release, disk bytes and RSS. Every series runs in a fresh
 * process, so its RSS is its own.
 *
 * Payloads are what the queue stores: `[u32 items][v8.serialize(Batch)]`, a
 * Batch of 250 OTLP-like spans (bigint times, attributes, ids), and 1 KiB
 * records. Serialising is the queue's cost with either store and is done
 * once, before anything is timed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { open, type RootDatabase } from 'lmdb';
import type { Span } from '../src/model/types.js';
import { SegmentLog, type FsyncPolicy } from '../src/pipeline/disk_queue/segment_log.js';
import { phoenixSpan, rssMiB, series, writeResult, type Series } from './lib.js';

type StoreKind = 'log' | 'lmdb';
type PayloadKind = 'batch' | 'small';
/** durable: fsync before the ack (log `always`, lmdb default sync, acked on the put's `flushed`); relaxed: log `interval`, lmdb `noSync`. */
type Durability = 'durable' | 'relaxed';

const RUNS = 5;
const WINDOW_MS = 400;
const WARMUP_MS = 200;
const SPANS = 250;
const SMALL_BYTES = 1024;
/** Bytes the recovery store holds when the process is killed. */
const RECOVERY_BYTES = 200 * 2 ** 20;
const RECOVERY_RUNS = 3;
const SEGMENT_BYTES = 16 << 20; // as DiskExporterQueue
const MAP_SIZE = 8 * 2 ** 30; // lmdb's address space: a queue would size it from max_size
const VARIANTS = 8;

/** An OTLP-like span as the otlp receiver makes it: parquet-write's Phoenix span, with an SDK resource and a scope. */
function span(i: number): Span {
  const base = phoenixSpan(i);
  return { ...base, resource: { ...base.resource, 'telemetry.sdk.language': 'erlang' }, scope: { name: 'opentelemetry_ecto', version: '1.2.0' } };
}

/** A few distinct records of one kind, as DiskExporterQueue frames them: `[u32 items][payload]`. */
function payloads(kind: PayloadKind): Buffer[] {
  return Array.from({ length: VARIANTS }, (_, v) => {
    if (kind === 'small') {
      const record = randomBytes(SMALL_BYTES);
      record.writeUInt32LE(1, 0);
      return record;
    }
    const body = serialize({ spans: Array.from({ length: SPANS }, (_, k) => span(v * SPANS + k)), events: [], metrics: [] });
    const record = Buffer.allocUnsafe(4 + body.length);
    record.writeUInt32LE(SPANS, 0);
    body.copy(record, 4);
    return record;
  });
}

/** One store behind the same few calls. `acked` settles at the durability setting's ack point. */
interface Store {
  append(payload: Buffer): { acked: Promise<unknown>; committed?: Promise<unknown> };
  close(): Promise<void>;
}

function openLog(dir: string, durability: Durability): { store: Store; log: SegmentLog; seqs: number[] } {
  const fsync: FsyncPolicy = durability === 'durable' ? 'always' : 'interval';
  const log = new SegmentLog({ dir, segmentBytes: SEGMENT_BYTES, fsync, fsyncIntervalMs: 1000, maxRecordBytes: 1 << 30 });
  const { seqs } = log.open();
  return { log, seqs, store: { append: (payload) => ({ acked: log.append(payload).durable }), close: () => log.close() } };
}

function openLmdb(dir: string, durability: Durability): { store: Store; db: RootDatabase<Buffer, number> } {
  const db = open<Buffer, number>({
    path: dir, encoding: 'binary', mapSize: MAP_SIZE,
    // durable: the default (overlappingSync on Linux: a put resolves at commit, its `flushed` after the sync)
    ...(durability === 'durable' ? { separateFlushed: true } : { noSync: true }),
  });
  let seq = 0;
  const store: Store = {
    append(payload) {
      const put = db.put(++seq, payload);
      if (durability === 'relaxed') return { acked: put };
      const flushed = (put as Promise<boolean> & { flushed?: Promise<unknown> }).flushed;
      if (!flushed) throw new Error('lmdb: a put without a flushed promise (separateFlushed)');
      return { acked: flushed, committed: put };
    },
    close: () => db.close(),
  };
  return { store, db };
}

function openStore(kind: StoreKind, dir: string, durability: Durability): Store {
  return kind === 'log' ? openLog(dir, durability).store : openLmdb(dir, durability).store;
}

interface AppendRun { records: number; bytes: number; seconds: number }

/** Keeps `concurrency` appends outstanding for `windowMs` (closed loop: each ack issues the next), then waits for the last acks. */
function appendFor(store: Store, records: Buffer[], concurrency: number, windowMs: number, acks: number[], commits: number[], maxBytes = Infinity): Promise<AppendRun> {
  let issued = 0;
  let bytes = 0;
  let outstanding = 0;
  const t0 = performance.now();
  const until = t0 + windowMs;
  return new Promise((resolve, reject) => {
    const issue = (): void => {
      const payload = records[issued % records.length];
      issued++;
      bytes += payload.length;
      outstanding++;
      const start = performance.now();
      const { acked, committed } = store.append(payload);
      committed?.then(() => commits.push(performance.now() - start), reject);
      acked.then(() => {
        const now = performance.now();
        acks.push(now - start);
        outstanding--;
        if (now < until && bytes < maxBytes) issue();
        else if (outstanding === 0) resolve({ records: issued, bytes, seconds: (now - t0) / 1000 });
      }, reject);
    };
    for (let i = 0; i < concurrency; i++) issue();
  });
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Allocated and apparent bytes of every file under `dir`. */
function diskBytes(dir: string): { allocated: number; apparent: number } {
  let allocated = 0;
  let apparent = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(join(dir, name));
    if (!st.isFile()) continue;
    allocated += st.blocks * 512;
    apparent += st.size;
  }
  return { allocated, apparent };
}

interface AppendResult {
  runs: AppendRun[];
  record_bytes: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  /** lmdb durable only: when the put's transaction committed (visible, not yet synced). */
  commit_p50_ms?: number;
  commit_p99_ms?: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  rss_delta_mib: number;
  peak_rss_delta_mib: number;
}

/** Child: one append series, a warm-up and RUNS windows, each on a fresh store. */
async function appendChild(kind: StoreKind, payload: PayloadKind, durability: Durability, concurrency: number, dir: string): Promise<AppendResult> {
  const records = payloads(payload);
  const once = async (i: number, windowMs: number, acks: number[], commits: number[]): Promise<AppendRun> => {
    const path = join(dir, `run-${i}`);
    const store = openStore(kind, path, durability);
    const result = await appendFor(store, records, concurrency, windowMs, acks, commits);
    await store.close();
    rmSync(path, { recursive: true, force: true });
    execFileSync('sync'); // relaxed runs leave dirty pages: not the next run's cost
    return result;
  };
  await once(-1, WARMUP_MS, [], []);
  const rss0 = rssMiB(process.pid);
  const peak0 = process.resourceUsage().maxRSS / 1024;
  const acks: number[] = [];
  const commits: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const runs: AppendRun[] = [];
  let rss1 = rss0;
  for (let i = 0; i < RUNS; i++) {
    const path = join(dir, `run-${i}`);
    const store = openStore(kind, path, durability);
    loop.enable();
    runs.push(await appendFor(store, records, concurrency, WINDOW_MS, acks, commits));
    loop.disable();
    rss1 = Math.max(rss1, rssMiB(process.pid));
    await store.close();
    rmSync(path, { recursive: true, force: true });
    execFileSync('sync');
  }
  return {
    runs,
    record_bytes: records[0].length,
    ack_p50_ms: percentile(acks, 50),
    ack_p99_ms: percentile(acks, 99),
    ...(commits.length > 0 ? { commit_p50_ms: percentile(commits, 50), commit_p99_ms: percentile(commits, 99) } : {}),
    // The histogram's samples are timer delays at 1 ms resolution: the stall is what is above it.
    loop_delay_p99_ms: Math.max(0, loop.percentile(99) / 1e6 - 1),
    loop_delay_max_ms: Math.max(0, loop.max / 1e6 - 1),
    rss_delta_mib: rss1 - rss0,
    peak_rss_delta_mib: Math.max(0, process.resourceUsage().maxRSS / 1024 - peak0),
  };
}

/** Child: fills a store to RECOVERY_BYTES with fsync before the ack (64 appenders), then dies by SIGKILL: no close, no released seq written. */
async function fillChild(kind: StoreKind, payload: PayloadKind, dir: string): Promise<never> {
  const store = openStore(kind, dir, 'durable');
  const run = await appendFor(store, payloads(payload), 64, Infinity, [], [], RECOVERY_BYTES);
  process.stdout.write(JSON.stringify(run)); // a pipe: written synchronously on Linux
  process.kill(process.pid, 'SIGKILL');
  return new Promise(() => {});
}

interface RecoverResult {
  records: number;
  /** Open and find what is unreleased: log open() (reads + CRCs every segment); lmdb open + its keys from the first. */
  open_ms: number;
  /** Then each record's item count, as DiskExporterQueue.open reads it (log: read(seq) of each; lmdb: a getRange pass over the values). */
  items_ms: number;
  rss_delta_open_mib: number;
  consume_seconds: number;
  consume_bytes: number;
  disk_after_release: { allocated: number; apparent: number };
}

/** Child: recovers a killed store, then reads back and releases every record in FIFO order, as delivery would. */
async function recoverChild(kind: StoreKind, payload: PayloadKind, dir: string): Promise<RecoverResult> {
  // Delivery releases one batch record per turn of the event loop (a send in between); small records 64 per turn.
  const perTurn = payload === 'batch' ? 1 : 64;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const rss0 = rssMiB(process.pid);
  let t0 = performance.now();
  let items = 0;
  let consumeBytes = 0;
  if (kind === 'log') {
    const { log, seqs } = openLog(dir, 'durable');
    const open_ms = performance.now() - t0;
    t0 = performance.now();
    for (const seq of seqs) items += log.read(seq).readUInt32LE(0);
    const items_ms = performance.now() - t0;
    const rss_delta_open_mib = rssMiB(process.pid) - rss0;
    t0 = performance.now();
    for (let i = 0; i < seqs.length; i++) {
      const record = log.read(seqs[i]);
      consumeBytes += record.length;
      log.release(seqs[i]);
      if ((i + 1) % perTurn === 0) await turn();
    }
    const consume_seconds = (performance.now() - t0) / 1000;
    await log.close();
    if (items === 0) throw new Error('nothing recovered');
    return { records: seqs.length, open_ms, items_ms, rss_delta_open_mib, consume_seconds, consume_bytes: consumeBytes, disk_after_release: diskBytes(dir) };
  }
  const { db } = openLmdb(dir, 'durable');
  const keys: number[] = [];
  for (const key of db.getKeys({ start: 0 })) keys.push(key);
  const open_ms = performance.now() - t0;
  t0 = performance.now();
  for (const { value } of db.getRange({ start: keys[0] })) items += value.readUInt32LE(0);
  const items_ms = performance.now() - t0;
  const rss_delta_open_mib = rssMiB(process.pid) - rss0;
  t0 = performance.now();
  let last: Promise<boolean> = Promise.resolve(true);
  for (let i = 0; i < keys.length; i++) {
    const record = db.getBinary(keys[i]);
    if (!record) throw new Error(`lmdb: key ${keys[i]} missing`);
    consumeBytes += record.length;
    last = db.remove(keys[i]);
    if ((i + 1) % perTurn === 0) await turn();
  }
  await last;
  const consume_seconds = (performance.now() - t0) / 1000;
  await db.close();
  if (items === 0) throw new Error('nothing recovered');
  return { records: keys.length, open_ms, items_ms, rss_delta_open_mib, consume_seconds, consume_bytes: consumeBytes, disk_after_release: diskBytes(dir) };
}

const CHILD_FLAGS = ['--max-semi-space-size=64'];

function spawnChild(args: string[]): { out: string; signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, [...CHILD_FLAGS, fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 && r.signal !== 'SIGKILL') throw new Error(`disk-queue child ${args.join(' ')} failed: ${r.stderr}`);
  return { out: r.stdout, signal: r.signal };
}

const STORE_NAME: Record<StoreKind, string> = { log: 'segment log', lmdb: 'lmdb' };
const ACK_NAME: Record<Durability, string> = {
  durable: 'fsync before ack (log `always`; lmdb default, ack on `flushed`)',
  relaxed: 'write before ack (log `interval`; lmdb `noSync`)',
};

const k = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0));
const ms = (n: number): string => (n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2));
const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-disk-queue-'));
  const started = performance.now();
  try {
    const recordBytes: Record<PayloadKind, number> = { batch: 0, small: 0 };
    const appendRows: Array<{ payload: PayloadKind; durability: Durability; concurrency: number; store: StoreKind; rate: Series; mbps: Series; result: AppendResult }> = [];
    for (const payload of ['batch', 'small'] as const) {
      for (const durability of ['durable', 'relaxed'] as const) {
        for (const concurrency of [64, 1]) {
          // Which store goes first alternates, so neither always follows the other's writes.
          const order: StoreKind[] = appendRows.length % 4 === 0 ? ['log', 'lmdb'] : ['lmdb', 'log'];
          for (const store of order) {
            const childDir = join(dir, `${store}-${payload}-${durability}-${concurrency}`);
            mkdirSync(childDir);
            const result = JSON.parse(spawnChild(['append', store, payload, durability, String(concurrency), childDir]).out) as AppendResult;
            rmSync(childDir, { recursive: true, force: true });
            recordBytes[payload] = result.record_bytes;
            const name = `${STORE_NAME[store]}, ${payload}, ${durability}, ${concurrency} appenders`;
            appendRows.push({
              payload, durability, concurrency, store, result,
              rate: series(name, 'records/s', result.runs.map((r) => r.records / r.seconds)),
              mbps: series(name, 'MB/s', result.runs.map((r) => r.bytes / r.seconds / 1e6)),
            });
          }
        }
      }
    }

    const recoveryRows: Array<{ payload: PayloadKind; store: StoreKind; fill: AppendRun[]; disk: Array<{ allocated: number; apparent: number }>; runs: RecoverResult[] }> = [];
    for (const payload of ['batch', 'small'] as const) {
      const rows = (['log', 'lmdb'] as const).map((store) => ({ payload, store, fill: [] as AppendRun[], disk: [] as Array<{ allocated: number; apparent: number }>, runs: [] as RecoverResult[] }));
      for (let i = 0; i < RECOVERY_RUNS; i++) {
        for (const row of i % 2 === 0 ? rows : [...rows].reverse()) {
          const storeDir = join(dir, `recover-${row.store}-${payload}-${i}`);
          const filled = spawnChild(['fill', row.store, payload, storeDir]);
          if (filled.signal !== 'SIGKILL') throw new Error('disk-queue fill child was not killed');
          row.fill.push(JSON.parse(filled.out) as AppendRun);
          row.disk.push(diskBytes(storeDir));
          row.runs.push(JSON.parse(spawnChild(['recover', row.store, payload, storeDir]).out) as RecoverResult);
          rmSync(storeDir, { recursive: true, force: true });
          execFileSync('sync');
        }
      }
      recoveryRows.push(...rows);
    }

    const med = (values: number[]): number => series('', '', values).median;
    const recoverySeries = recoveryRows.map((r) => {
      const name = `${STORE_NAME[r.store]}, ${r.payload}`;
      return {
        ...r,
        open: series(`${name}: open`, 'ms', r.runs.map((x) => x.open_ms)),
        openItems: series(`${name}: open + item counts`, 'ms', r.runs.map((x) => x.open_ms + x.items_ms)),
        consume: series(`${name}: read back + release`, 'records/s', r.runs.map((x) => x.records / x.consume_seconds)),
        consumeMBps: series(`${name}: read back + release`, 'MB/s', r.runs.map((x) => x.consume_bytes / x.consume_seconds / 1e6)),
      };
    });

    writeResult('disk-queue', {
      input: {
        batch_record_bytes: recordBytes.batch, batch_spans: SPANS, small_record_bytes: recordBytes.small,
        record: '[u32 items][v8.serialize(Batch)] as DiskExporterQueue frames it; 8 distinct records per kind, reused',
        tmpdir: tmpdir(), window_ms: WINDOW_MS, runs: RUNS, recovery_bytes: RECOVERY_BYTES, recovery_runs: RECOVERY_RUNS,
        segment_bytes: SEGMENT_BYTES, lmdb_map_size: MAP_SIZE,
        lmdb: 'lmdb 3.5 (LMDB via lmdb-js); durable = default options (overlappingSync) + separateFlushed, ack on the put\'s flushed; relaxed = noSync: true, ack on the put',
        log: 'SegmentLog; durable = fsync always; relaxed = fsync interval (1 s: its background fsync does not fall inside a 400 ms window)',
        consume: 'read back + release in FIFO order, one batch record (or 64 small records) per event-loop turn, as delivery would release them',
        recovery: 'fill to recovery_bytes with fsync before ack, SIGKILL, then a fresh process opens it (page cache warm); lmdb keys-only open, then a getRange pass for item counts',
      },
      elapsed_s: (performance.now() - started) / 1000,
      append: appendRows.map((r) => ({
        store: r.store, payload: r.payload, durability: r.durability, appenders: r.concurrency,
        records_per_s: r.rate, mb_per_s: r.mbps, ...r.result,
      })),
      recovery: recoverySeries.map((r) => ({
        store: r.store, payload: r.payload, fill: r.fill, disk_after_fill: r.disk, runs: r.runs,
        open_ms: r.open, open_and_items_ms: r.openItems, consume_records_per_s: r.consume, consume_mb_per_s: r.consumeMBps,
      })),
    });

    const lines = [
      `disk-queue: segment log vs lmdb, ${RUNS} runs of ${WINDOW_MS} ms per series in a fresh process; records ${(recordBytes.batch / 1024).toFixed(0)} KiB (a v8-serialized Batch of ${SPANS} spans) and ${recordBytes.small} B; ${tmpdir()}`,
      '',
      '| record | ack point | appenders | store | records/s (min – max) | vs lmdb | MB/s | ack p50 | ack p99 | event-loop stall p99 | RSS Δ |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    // Each scenario's two rows are next to each other in appendRows (in either order); the log's is printed first.
    for (let i = 0; i < appendRows.length; i += 2) {
      const pair = appendRows.slice(i, i + 2);
      const log = pair.find((r) => r.store === 'log') as (typeof pair)[number];
      const lmdb = pair.find((r) => r.store === 'lmdb') as (typeof pair)[number];
      for (const r of [log, lmdb]) {
        lines.push(`| ${r.payload === 'batch' ? `${(recordBytes.batch / 1024).toFixed(0)} KiB batch` : '1 KiB'} | ${r.durability === 'durable' ? 'fsync' : 'write'} | ${r.concurrency} | ${STORE_NAME[r.store]} | ${k(r.rate.median)} (${k(r.rate.min)} – ${k(r.rate.max)}) | ${(r.rate.median / lmdb.rate.median).toFixed(2)}× | ${r.mbps.median.toFixed(0)} | ${ms(r.result.ack_p50_ms)} ms | ${ms(r.result.ack_p99_ms)} ms | ${ms(r.result.loop_delay_p99_ms)} ms | ${r.result.peak_rss_delta_mib.toFixed(0)} MiB |`);
      }
    }
    lines.push(
      '',
      `Recovery after SIGKILL of a store holding ${mib(RECOVERY_BYTES)} (filled with fsync before ack, 64 appenders), then FIFO read-back + release of everything (${RECOVERY_RUNS} runs):`,
      '',
      '| record | store | records | open (min – max) | open + item counts | read back + release | disk after fill | disk after release | RSS Δ open |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const r of recoverySeries) {
      lines.push(`| ${r.payload === 'batch' ? `${(recordBytes.batch / 1024).toFixed(0)} KiB batch` : '1 KiB'} | ${STORE_NAME[r.store]} | ${k(med(r.runs.map((x) => x.records)))} | ${ms(r.open.median)} ms (${ms(r.open.min)} – ${ms(r.open.max)}) | ${ms(r.openItems.median)} ms | ${k(r.consume.median)} records/s, ${r.consumeMBps.median.toFixed(0)} MB/s | ${mib(med(r.disk.map((d) => d.allocated)))} | ${mib(med(r.runs.map((x) => x.disk_after_release.allocated)))} | ${med(r.runs.map((x) => x.rss_delta_open_mib)).toFixed(0)} MiB |`);
    }
    lines.push('', `(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a child: `node disk-queue.js append|fill|recover …` prints one JSON result.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.length > 2) {
  const [mode, store, payload, ...rest] = process.argv.slice(2) as [string, StoreKind, PayloadKind, ...string[]];
  let out: unknown;
  if (mode === 'append') out = await appendChild(store, payload, rest[0] as Durability, Number(rest[1]), rest[2]);
  else if (mode === 'fill') out = await fillChild(store, payload, rest[0]);
  else if (mode === 'recover') out = await recoverChild(store, payload, rest[0]);
  else throw new Error(`disk-queue: unknown mode ${mode}`);
  process.stdout.write(JSON.stringify(out));
}
