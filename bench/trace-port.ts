/**
 * trace-port: a real erl node (bench/beam/loadgen.erl) traces message
 * ping-pong and call/return as fast as it can through
 * dbg:trace_port(ip, {Port, QueueSize}); one reader at a time takes the
 * stream, on the same load:
 *   (a) OTP's dbg:trace_client(ip, …) with a handler that only counts — the anchor;
 *   (b) the beam_trace_port receiver, decoding and mapping every frame, events discarded;
 *   (c) the scope-pipeline daemon with the default config's processors (memory_limiter,
 *       correlation, privacy, batch) and the parquet exporter (spans counted apart);
 *   (d) the daemon with memory_limiter and batch only (what correlation and privacy cost).
 * For each: frames emitted, received, dropped by the driver (Op 1 counts),
 * events/s, and the CPU of the reading process (from /proc). Then the anchor
 * and the daemons again with the load paced at given rates (BENCH_TRACE_RATES,
 * messages/s, one run each): what each takes below the node's full rate.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBeam } from './capture.js';
import { cpuSeconds, peakRssMiB, promMetric, series, writeResult, type Series } from './lib.js';

const MESSAGES = 1_200_000;
const QUEUE = 1000;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** BENCH_SERIES=receiver,daemon: only those series (the anchor always runs, for the ratio). */
const ONLY = process.env.BENCH_SERIES?.split(',');
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const HOST = fileURLToPath(new URL('./pipeline-host.js', import.meta.url));
/** BENCH_CPU_PROF=dir: the Node readers write V8 CPU profiles there (node --cpu-prof). */
/** The paced rates, messages/s. */
const RATES = (process.env.BENCH_TRACE_RATES ?? '100000,200000,300000').split(',').filter(Boolean).map(Number);
const PROFILE = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

/** `items`: everything exported (events and, with correlation, its spans), where the reader tells it apart. */
interface Counts { frames: number; dropped: number; events: number; spans?: number; items?: number }

interface Reader {
  process: ChildProcessWithoutNullStreams;
  ready(): Promise<void>;
  counts(): Promise<Counts>;
  stop(): Promise<void>;
}

/** A child whose stdout is read line by line; `next(re)` waits for a matching line. */
function lines(child: ChildProcessWithoutNullStreams): { next(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> } {
  let buffer = '';
  const waiting: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (const w of waiting.splice(0)) w();
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    next: (re, timeoutMs = 60_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} from ${child.spawnfile}: ${buffer}${stderr}`)), timeoutMs);
      const check = (): void => {
        const at = buffer.search(re);
        if (at >= 0) {
          const m = re.exec(buffer.slice(at)) as RegExpExecArray;
          buffer = buffer.slice(at + m[0].length);
          clearTimeout(timer);
          resolve(m);
        } else if (child.exitCode !== null) {
          clearTimeout(timer);
          reject(new Error(`${child.spawnfile} exited: ${buffer}${stderr}`));
        } else {
          waiting.push(check);
        }
      };
      check();
    }),
  };
}


const exited = (child: ChildProcessWithoutNullStreams): Promise<void> =>
  child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

function anchorReader(code: string, port: number): Reader {
  // +sbwt none: schedulers do not spin while idle, so the CPU measured is the work.
  const child = spawn('erl', ['-noshell', '+sbwt', 'none', '-pa', code, '-run', 'trace_client_anchor', 'main', String(port)], { stdio: 'pipe' });
  const out = lines(child);
  return {
    process: child,
    ready: async () => {
      await out.next(/connected\n/);
    },
    counts: async () => {
      child.stdin.write('report\n');
      const m = await out.next(/count (\d+) (\d+)\n/);
      return { frames: Number(m[1]), dropped: Number(m[2]), events: Number(m[1]) };
    },
    stop: async () => {
      child.stdin.end('stop\n');
      await exited(child);
    },
  };
}

function receiverReader(port: number): Reader {
  const config = {
    receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}` } },
    exporters: { discard: {} },
    service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['discard'] } }, telemetry: { metrics: { level: 'none' } } },
  };
  const metrics = ['scope_beam_trace_port_connects', 'scope_beam_trace_port_frames', 'scope_receiver_accepted_items', 'scope_beam_trace_dropped_messages'];
  const child = spawn(process.execPath, ['--max-semi-space-size=64', ...PROFILE, HOST, JSON.stringify(config), ...metrics], { stdio: 'pipe' });
  const out = lines(child);
  const report = async (): Promise<Counts & { connects: number }> => {
    child.stdin.write('report\n');
    const m = JSON.parse((await out.next(/\{.*\}\n/))[0]) as Record<string, number>;
    return { connects: m[metrics[0]], frames: m[metrics[1]], events: m[metrics[2]], dropped: m[metrics[3]] };
  };
  return {
    process: child,
    ready: async () => {
      for (let i = 0; i < 500 && (await report()).connects < 1; i++) await new Promise((r) => setTimeout(r, 20));
    },
    counts: report,
    stop: async () => {
      child.stdin.end();
      await exited(child);
    },
  };
}

/** The daemons' processors: the default config's four (config/pipeline.yaml), or without correlation and privacy. */
const PROCESSORS = {
  default: '[memory_limiter, correlation, privacy, batch]',
  daemon: '[memory_limiter, batch]',
};

function daemonReader(port: number, dir: string, processors: string): Reader {
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, `
receivers:
  beam_trace_port: { endpoint: 127.0.0.1:${port} }
processors:
  memory_limiter: { limit_mib: 512 }
  correlation: {}
  privacy: {}
  batch: { send_batch_size: 8192, timeout: 200ms }
exporters:
  parquet: { path: ${join(dir, 'archive')}, retention: { events: 0, spans: 0 } }
service:
  pipelines:
    default: { receivers: [beam_trace_port], processors: ${processors}, exporters: [parquet] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: warn } }
`);
  const child = spawn(process.execPath, ['--max-semi-space-size=64', '--expose-gc', ...PROFILE, CLI, '--config', config, '--log-level', 'info'], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let url = '';
  const report = async (): Promise<Counts & { connects: number }> => {
    const text = await (await fetch(url)).text();
    return {
      connects: promMetric(text, 'scope_beam_trace_port_connects_total'),
      frames: promMetric(text, 'scope_beam_trace_port_frames_total'),
      // Exported items less the correlation's spans: the events archived.
      events: promMetric(text, 'scope_exporter_sent_items_total') - promMetric(text, 'scope_correlation_spans_total'),
      spans: promMetric(text, 'scope_correlation_spans_total'),
      items: promMetric(text, 'scope_exporter_sent_items_total'),
      dropped: promMetric(text, 'scope_beam_trace_dropped_messages_total'),
    };
  };
  return {
    process: child,
    ready: async () => {
      for (let i = 0; i < 500 && !url; i++) {
        url = /"metrics":"(http:\/\/[^"]+)"/.exec(stderr)?.[1] ?? '';
        if (child.exitCode !== null) throw new Error(`daemon exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 500 && (await report()).connects < 1; i++) await new Promise((r) => setTimeout(r, 20));
    },
    counts: report,
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

interface RunResult { emitted: number; received: number; dropped: number; events: number; spans: number; seconds: number; events_per_s: number; cpu_percent: number; peak_rss_mib: number }

/** One run of the load (paced at `rate` messages/s, 0: the node's full rate) read by one reader. */
type Kind = 'anchor' | 'receiver' | 'daemon' | 'default';

async function oneRun(kind: Kind, code: string, dir: string, rate = 0): Promise<RunResult> {
  const loadgen = spawn('erl', ['-noshell', '-pa', code, '-run', 'loadgen', 'main', '0', String(MESSAGES), String(QUEUE), String(rate)], { stdio: 'pipe' });
  const gen = lines(loadgen);
  const port = Number((await gen.next(/port (\d+)\n/))[1]);
  const reader = kind === 'anchor' ? anchorReader(code, port) : kind === 'receiver' ? receiverReader(port) : daemonReader(port, dir, PROCESSORS[kind]);
  try {
    await reader.ready();
    await new Promise((r) => setTimeout(r, 300)); // the connection is accepted before the load starts
    const cpu0 = cpuSeconds(reader.process.pid as number);
    const t0 = process.hrtime.bigint();
    loadgen.stdin.write('go\n');
    const emitted = Number((await gen.next(/done (\d+) (\d+)\n/))[1]);
    // Every emitted message is either delivered or counted in a drop frame. Done when all are accounted for and
    // nothing has changed for longer than the daemon's batch timeout (its events are counted once exported);
    // the run ends at the last change.
    let counts = await reader.counts();
    let end = process.hrtime.bigint();
    for (let quiet = 0; quiet < 50; ) {
      await new Promise((r) => setTimeout(r, 20));
      const now = await reader.counts();
      if (now.frames !== counts.frames || now.dropped !== counts.dropped || (now.items ?? now.events) !== (counts.items ?? counts.events)) {
        end = process.hrtime.bigint();
        quiet = 0;
        counts = now;
      } else {
        quiet++;
      }
      if (counts.frames + counts.dropped >= emitted && quiet >= 25) break;
    }
    const seconds = Number(end - t0) / 1e9;
    const cpu = cpuSeconds(reader.process.pid as number) - cpu0;
    return {
      emitted, received: counts.frames, dropped: counts.dropped, events: counts.events, spans: counts.spans ?? 0, seconds,
      events_per_s: counts.events / seconds, cpu_percent: (cpu / seconds) * 100, peak_rss_mib: peakRssMiB(reader.process.pid as number),
    };
  } finally {
    loadgen.stdin.end('stop\n');
    await reader.stop();
    await exited(loadgen);
  }
}

export async function run(): Promise<string> {
  const code = compileBeam('loadgen', 'trace_client_anchor');
  const dir = mkdtempSync(join(tmpdir(), 'bench-trace-port-'));
  try {
    const kinds = [
      { kind: 'anchor' as const, name: 'dbg:trace_client(ip, …), counting handler (OTP)' },
      { kind: 'receiver' as const, name: 'beam_trace_port receiver, events discarded' },
      { kind: 'default' as const, name: 'daemon: the default processors (memory_limiter, correlation, privacy, batch) → parquet' },
      { kind: 'daemon' as const, name: 'daemon: memory_limiter, batch → parquet (no correlation, no privacy)' },
    ];
    await oneRun('receiver', code, dir); // warm-up: the OS caches, erl's code loading
    const results = [];
    for (const { kind, name } of kinds.filter((k) => k.kind === 'anchor' || !ONLY || ONLY.includes(k.kind))) {
      const runs: RunResult[] = [];
      for (let i = 0; i < RUNS; i++) {
        rmSync(join(dir, 'archive'), { recursive: true, force: true });
        runs.push(await oneRun(kind, code, dir));
      }
      const med = (key: keyof RunResult): number => series(name, key, runs.map((r) => r[key])).median;
      results.push({
        name, kind, runs,
        rate: series(name, 'events/s', runs.map((r) => r.events_per_s)),
        emitted: med('emitted'), received: med('received'), dropped: med('dropped'), spans: med('spans'), cpu: med('cpu_percent'), rss: med('peak_rss_mib'),
        dropShare: series(name, 'dropped share', runs.map((r) => r.dropped / r.emitted)),
      });
    }
    const anchor = results[0];
    // The anchor and the daemon with the load paced, one run each per rate.
    const paced: Array<{ rate: number; kind: Kind; run: RunResult }> = [];
    const pacedKinds = (['anchor', 'default', 'daemon'] as const).filter((k) => k === 'anchor' || !ONLY || ONLY.includes(k));
    for (const rate of RATES) {
      for (const kind of pacedKinds) {
        rmSync(join(dir, 'archive'), { recursive: true, force: true });
        paced.push({ rate, kind, run: await oneRun(kind, code, dir, rate) });
      }
    }
    writeResult('trace-port', {
      input: { messages_per_run: MESSAGES, trace_port_queue_size: QUEUE, load: 'bench/beam/loadgen.erl: 4 ping-pong pairs, send/receive/call/return_trace', paced_rates: RATES },
      anchor: anchor.name,
      runs: RUNS,
      series: results.map((r) => ({ ...r.rate, dropped_share: r.dropShare, median_cpu_percent: r.cpu, runs: r.runs })),
      paced,
    });
    const k = (n: number): string => `${(n / 1e3).toFixed(0)} k`;
    const fmtRate = (s: Series): string => `${k(s.median)}/s (${k(s.min)} – ${k(s.max)})`;
    return [
      `trace-port: ${MESSAGES / 1e6} M trace messages a run at the node's full rate, queue ${QUEUE}, ${RUNS} runs each (medians)`,
      '',
      '| reader | emitted | received | driver drops | events | vs anchor | spans | CPU of reader | peak RSS |',
      '|---|---|---|---|---|---|---|---|---|',
      ...results.map((r) => `| ${r.name} | ${k(r.emitted)} | ${k(r.received)} | ${k(r.dropped)} (${(r.dropShare.median * 100).toFixed(1)} %; runs ${(r.dropShare.min * 100).toFixed(1)} – ${(r.dropShare.max * 100).toFixed(1)} %) | ${fmtRate(r.rate)} | ${(r.rate.median / anchor.rate.median).toFixed(2)}× | ${r.kind === 'default' ? k(r.spans) : ''} | ${r.cpu.toFixed(0)} % | ${r.rss.toFixed(0)} MiB |`),
      '',
      `The load paced (one run each, ${MESSAGES / 1e6} M messages):`,
      '',
      '| paced at | reader | emitted | received | driver drops | spans | until the last event | CPU of reader | peak RSS |',
      '|---|---|---|---|---|---|---|---|---|',
      ...paced.map(({ rate, kind, run }) => `| ${k(rate)}/s | ${kinds.find((x) => x.kind === kind)?.name ?? kind} | ${k(run.emitted)} | ${k(run.received)} | ${k(run.dropped)} (${((run.dropped / run.emitted) * 100).toFixed(1)} %) | ${kind === 'default' ? k(run.spans) : ''} | ${run.seconds.toFixed(1)} s | ${run.cpu_percent.toFixed(0)} % | ${run.peak_rss_mib.toFixed(0)} MiB |`),
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
