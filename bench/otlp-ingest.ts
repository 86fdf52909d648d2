/**
 * otlp-ingest: pre-encoded OTLP trace requests (512 spans of 20 attributes)
 * sent over gRPC and over HTTP/protobuf from a separate process, at a rate
 * ladder, to the otlp receiver (→ batch → a discarding exporter) in its own
 * process, until the receiver pushes back or falls behind. Reported per step:
 * spans/s accepted, CPU and RSS of the receiving process. The reference is
 * the OpenTelemetry Collector's published figures (it cannot run here).
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuSeconds, freePort, rssMiB, writeResult } from './lib.js';
import { request } from './otlp-decode.js';

const HOST = fileURLToPath(new URL('./pipeline-host.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./otlp-load.js', import.meta.url));
const SPANS_PER_REQUEST = 512;
const LADDER = [10_000, 25_000, 50_000, 100_000, 200_000, 400_000];
const STEP_SECONDS = 4;




interface Step { offered: number; accepted_per_s: number; cpu_percent: number; rss_mib: number; pushback: number; failed: number }

async function ladder(protocol: 'grpc' | 'http', file: string): Promise<Step[]> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const config = {
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${grpcPort}` }, http: { endpoint: `127.0.0.1:${httpPort}` } } } },
    processors: { batch: {} },
    exporters: { discard: {} },
    service: { pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['discard'] } }, telemetry: { metrics: { level: 'none' } } },
  };
  const host = spawn(process.execPath, ['--max-semi-space-size=64', HOST, JSON.stringify(config), 'scope_receiver_accepted_items'], { stdio: 'pipe' });
  let out = '';
  host.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const accepted = async (): Promise<number> => {
    const before = out.length;
    host.stdin.write('report\n');
    while (!out.slice(before).includes('\n')) await new Promise((r) => setTimeout(r, 5));
    return Number((JSON.parse(out.slice(before).split('\n')[0]) as Record<string, number>).scope_receiver_accepted_items);
  };
  try {
    while (!out.includes('ready\n')) {
      if (host.exitCode !== null) throw new Error('pipeline host exited');
      await new Promise((r) => setTimeout(r, 20));
    }
    out = '';
    const pid = host.pid as number;
    const endpoint = `127.0.0.1:${protocol === 'grpc' ? grpcPort : httpPort}`;
    const steps: Step[] = [];
    for (const rate of LADDER) {
      const a0 = await accepted();
      const cpu0 = cpuSeconds(pid);
      const t0 = process.hrtime.bigint();
      const { stdout } = await promisify(execFile)(process.execPath, [LOAD, protocol, endpoint, file, String(SPANS_PER_REQUEST), String(rate), String(STEP_SECONDS)]);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const client = JSON.parse(stdout) as { pushback: number; failed: number };
      const step = {
        offered: rate,
        accepted_per_s: ((await accepted()) - a0) / seconds,
        cpu_percent: ((cpuSeconds(pid) - cpu0) / seconds) * 100,
        rss_mib: rssMiB(pid),
        pushback: client.pushback,
        failed: client.failed,
      };
      steps.push(step);
      // Pushed back, or taking less than 90 % of what was offered: this is the ceiling.
      if (step.pushback > 0 || step.failed > 0 || step.accepted_per_s < 0.9 * rate) break;
    }
    return steps;
  } finally {
    host.stdin.end();
    await new Promise((resolve) => (host.exitCode !== null ? resolve(undefined) : host.once('exit', resolve)));
  }
}

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-otlp-'));
  try {
    const file = join(dir, 'request.bin');
    writeFileSync(file, request(SPANS_PER_REQUEST, 20));
    const results = { grpc: await ladder('grpc', file), http: await ladder('http', file) };
    const summary = Object.entries(results).map(([protocol, steps]) => {
      const kept = steps.filter((s) => s.pushback === 0 && s.failed === 0 && s.accepted_per_s >= 0.9 * s.offered);
      const best = kept.at(-1) ?? steps[0];
      const at10k = steps[0];
      return {
        protocol, best,
        sustained_per_s: best.accepted_per_s,
        per_core: best.accepted_per_s / Math.max(best.cpu_percent / 100, 0.01),
        at_10k: { cpu_percent: at10k.cpu_percent, rss_mib: at10k.rss_mib },
        ceiling: steps.at(-1),
      };
    });
    writeResult('otlp-ingest', {
      input: { spans_per_request: SPANS_PER_REQUEST, attributes_per_span: 20, ladder: LADDER, step_seconds: STEP_SECONDS, pipeline: 'otlp → batch → discard' },
      reference: { name: 'OpenTelemetry Collector, published', sustained_spans_per_s_per_core: 12_000, at_10k: { cpu_percent_max: 20, rss_mib_max: 100 }, measured_here: false },
      steps: results,
      summary,
    });
    const k = (n: number): string => `${(n / 1e3).toFixed(0)} k`;
    return [
      `otlp-ingest: ${SPANS_PER_REQUEST}-span requests (20 attributes), rate ladder ${LADDER.map(k).join(', ')} spans/s, ${STEP_SECONDS} s a step`,
      '',
      '| protocol | sustained | per core (vs 12 k, Collector) | CPU at 10 k/s (≤ 20 %) | RSS at 10 k/s (≤ 100 MiB) | where it stopped |',
      '|---|---|---|---|---|---|',
      ...summary.map((s) => `| ${s.protocol} | ${k(s.sustained_per_s)} spans/s | ${k(s.per_core)} (${(s.per_core / 12_000).toFixed(1)}×) | ${s.at_10k.cpu_percent.toFixed(0)} % | ${s.at_10k.rss_mib.toFixed(0)} MiB | ${s.ceiling ? `${k(s.ceiling.offered)} offered: ${k(s.ceiling.accepted_per_s)} taken, ${s.ceiling.pushback} pushed back` : ''} |`),
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
