/**
 * memory-flood: the daemon (otlp receiver → memory_limiter 256 MiB → batch →
 * otlp exporter) is offered 3× its sustainable OTLP/HTTP rate for 60 s while
 * its backend is down, so everything it takes piles up in memory. Measured:
 * peak RSS, what was accepted and refused (by reason), and that it recovers —
 * once the backend is up, the queue drains, memory comes back down and new
 * requests are accepted again.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BENCH_ROOT, freePort, promMetric, rssMiB, writeResult } from './lib.js';
import { request } from './otlp-decode.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const HOST = fileURLToPath(new URL('./pipeline-host.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./otlp-load.js', import.meta.url));
const FLOOD_SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 60);
const LIMIT_MIB = 256;
/** BENCH_FLOOD_SOURCE=heap|rss: what memory_limiter measures. */
const SOURCE = process.env.BENCH_FLOOD_SOURCE ?? 'heap';
const SPANS_PER_REQUEST = 512;




/** The sustainable HTTP rate from the last otlp-ingest run, or a conservative default. */
function sustainableRate(): number {
  const file = join(BENCH_ROOT, 'results', 'otlp-ingest.json');
  if (!existsSync(file)) return 25_000;
  const result = JSON.parse(readFileSync(file, 'utf8')) as { summary?: Array<{ protocol: string; sustained_per_s: number }> };
  return result.summary?.find((s) => s.protocol === 'http')?.sustained_per_s ?? 25_000;
}

const exited = (child: ChildProcessWithoutNullStreams): Promise<void> =>
  child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

export async function run(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-flood-'));
  const [httpPort, backendPort] = [await freePort(), await freePort()];
  const file = join(dir, 'request.bin');
  writeFileSync(file, request(SPANS_PER_REQUEST, 20));
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, `
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:${httpPort} } } }
processors:
  memory_limiter: { limit_mib: ${LIMIT_MIB}, check_interval: 200ms, memory_source: ${SOURCE} }
  batch: {}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:${backendPort}
    sending_queue: { queue_size: 5000000 }
    retry_on_failure: { initial_interval: 500ms, max_interval: 1s, max_elapsed_time: 0 }
service:
  pipelines: { traces: { receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_http] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: error } }
`);
  const daemon = spawn(process.execPath, ['--max-semi-space-size=64', '--expose-gc', CLI, '--config', config, '--log-level', 'info'], { stdio: 'pipe' });
  let stderr = '';
  daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let backend: ChildProcessWithoutNullStreams | undefined;
  try {
    let url = '';
    for (let i = 0; i < 500 && !url; i++) {
      url = /"metrics":"(http:\/\/[^"]+)"/.exec(stderr)?.[1] ?? '';
      if (daemon.exitCode !== null) throw new Error(`daemon exited: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const scrape = async (): Promise<string> => (await fetch(url)).text();
    const pid = daemon.pid as number;
    const offered = 3 * sustainableRate();
    const load = (rate: number, seconds: number): Promise<{ stdout: string }> =>
      promisify(execFile)(process.execPath, [LOAD, 'http', `127.0.0.1:${httpPort}`, file, String(SPANS_PER_REQUEST), String(Math.round(rate)), String(seconds)]);

    // The flood, with the backend down: peak RSS sampled every 100 ms.
    let peak = rssMiB(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
    const flood = JSON.parse((await load(offered, FLOOD_SECONDS)).stdout) as { ok: number; pushback: number; failed: number; sent: number };
    clearInterval(sampler);
    const afterFlood = await scrape();
    const rssAfterFlood = rssMiB(pid);

    // Recovery: the backend comes up, the queue drains, memory falls, new requests are taken.
    const backendConfig = {
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${backendPort}` } } } },
      exporters: { discard: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['discard'] } }, telemetry: { metrics: { level: 'none' } } },
    };
    backend = spawn(process.execPath, [HOST, JSON.stringify(backendConfig)], { stdio: 'pipe' });
    const t0 = Date.now();
    let drainedAfterS = Number.NaN;
    for (;;) {
      const text = await scrape();
      if (promMetric(text, 'scope_exporter_queue_size') === 0) {
        drainedAfterS = (Date.now() - t0) / 1000;
        break;
      }
      if (Date.now() - t0 > 120_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 2000)); // a GC cycle or two
    const recovery = JSON.parse((await load(10_000, 3)).stdout) as { ok: number; pushback: number; failed: number };
    const end = await scrape();
    const rssAfterRecovery = rssMiB(pid);

    const result = {
      offered_spans_per_s: offered,
      flood_seconds: FLOOD_SECONDS,
      limit_mib: LIMIT_MIB,
      peak_rss_mib: peak,
      rss_after_flood_mib: rssAfterFlood,
      client: flood,
      accepted_spans: promMetric(afterFlood, 'scope_receiver_accepted_items_total'),
      refused_spans: {
        memory_limit: promMetric(afterFlood, 'scope_receiver_refused_items_total', { reason: 'memory_limit' }),
        queue_full: promMetric(afterFlood, 'scope_receiver_refused_items_total', { reason: 'queue_full' }),
      },
      refused_requests_before_reading: {
        memory_limit: promMetric(afterFlood, 'scope_receiver_refused_requests_total', { reason: 'memory_limit' }),
        queue_full: promMetric(afterFlood, 'scope_receiver_refused_requests_total', { reason: 'queue_full' }),
      },
      drained_after_backend_up_s: drainedAfterS,
      sent_to_backend: promMetric(end, 'scope_exporter_sent_items_total'),
      lost: promMetric(end, 'scope_exporter_send_failed_items_total'),
      recovery_requests: recovery,
      rss_after_recovery_mib: rssAfterRecovery,
    };
    writeResult('memory-flood', { input: { spans_per_request: SPANS_PER_REQUEST, attributes_per_span: 20, pipeline: 'otlp(http) → memory_limiter 256 MiB → batch → otlp_http (backend down, then up)' }, ...result });
    const k = (n: number): string => `${(n / 1e3).toFixed(0)} k`;
    return [
      `memory-flood: ${k(offered)} spans/s offered (3× sustainable) over OTLP/HTTP for ${FLOOD_SECONDS} s, backend down, memory_limiter ${LIMIT_MIB} MiB`,
      '',
      '| peak RSS | accepted | refused: decoded spans / requests before reading | client: ok / pushed back / failed requests | queue drained after backend up | sent / lost | then 10 k spans/s for 3 s | RSS after |',
      '|---|---|---|---|---|---|---|---|',
      `| ${peak.toFixed(0)} MiB | ${k(result.accepted_spans)} spans | ${k(result.refused_spans.memory_limit)} / ${result.refused_requests_before_reading.memory_limit} | ${flood.ok} / ${flood.pushback} / ${flood.failed} | ${drainedAfterS.toFixed(1)} s | ${k(result.sent_to_backend)} / ${result.lost} | ${recovery.ok} ok, ${recovery.pushback} pushed back | ${rssAfterRecovery.toFixed(0)} MiB |`,
    ].join('\n');
  } finally {
    daemon.kill('SIGKILL');
    backend?.stdin.end();
    await exited(daemon);
    if (backend) await exited(backend);
    rmSync(dir, { recursive: true, force: true });
  }
}
