/**
 * anomaly: an injected-fault benchmark. A seeded generator produces an hour
 * (event time) of a realistic BEAM stream — 300 span keys with log-normal
 * latencies, a supervision tree's background crashes, parents spawning
 * workers, process samples of mailboxes — and injects known faults: latency
 * regressions in one key, crash bursts, mailbox leaks, spawn storms (5 of
 * each, at scheduled times). Reported per fault kind: precision and recall of
 * the detections, false positives per million normal items; throughput with
 * every kind on; and heap with 1 M distinct keys offered (max_keys 10 000).
 * Goal: precision and recall ≥ 0.9 per kind, ≤ 10 false positives per million.
 * Then span ranking under contamination: keys in which some spans are many
 * times slower from the key's first span on; all spans ranked by
 * scope.anomaly.score, precision at k = the number injected (goal ≥ 0.9 on the
 * issue's case: 3 % of spans 10–30× slower).
 */
import type { AnomalyConfig } from '../src/processors/anomaly/config.js';
import { AnomalyScorer, type AnomalyKind } from '../src/processors/anomaly/anomaly.js';
import type { Batch, MetricPoint, ScopeEvent, Span } from '../src/model/types.js';
import { series, writeResult } from './lib.js';

const SEED = 20261124;
const ITEMS = 1_000_000;
const DURATION_S = 3600;
const T0 = 1_764_000_000_000_000_000n;
const KEYS = 300;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const defaultConfig = (): AnomalyConfig => ({
  latency: { enabled: true, min_samples: 200, window: '5m', quantile: 0.99, p_value: 1e-6, check_every: 50 },
  errors: { enabled: true, bucket: '10s', p_value: 1e-6, min_count: 5, prior_per_bucket: 0.2 },
  messages: { enabled: true, bucket: '10s', p_value: 1e-6, min_count: 2000, prior_per_bucket: 50 },
  spawns: { enabled: true, bucket: '10s', p_value: 1e-6, min_count: 200, prior_per_bucket: 2 },
  mailbox: { enabled: true, samples: 3, min_growth: 100 },
  memory: { enabled: true, samples: 5, min_growth_bytes: 16 * 1024 * 1024 },
  max_keys: 10_000,
  event_every: '1m',
});

interface Fault { kind: AnomalyKind; key: string; fromS: number; toS: number }

export interface Contamination {
  /** Spans in the key, evenly over `seconds` of event time (two 5-minute windows by default). */
  spans?: number;
  seconds?: number;
  /** The share of spans made `lo`–`hi` times slower (uniform), randomly interleaved from the first span. */
  share?: number;
  lo?: number;
  hi?: number;
  /** σ of the ordinary spans' log duration around a 10 ms median. */
  sigma?: number;
  /** The share of ordinary spans in a second, fast mode at 0.2× (cache hits): a key that is not log-normal. */
  fast?: number;
}

/** A key contaminated from its first span (seeded): its spans in order and the injected ones. */
export function contaminatedKey(seed: number, c: Contamination = {}): { spans: Span[]; injected: Set<Span> } {
  const { spans: count = 6000, seconds = 600, share = 0.03, lo = 10, hi = 30, sigma = 0.3, fast = 0 } = c;
  const random = prng(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const spans: Span[] = [];
  const injected = new Set<Span>();
  for (let i = 0; i < count; i++) {
    const slow = random() < share;
    const mode = fast > 0 && random() < fast ? 0.2 : 1;
    const micros = 10_000 * mode * Math.exp(sigma * gauss()) * (slow ? lo + random() * (hi - lo) : 1);
    const start = T0 + BigInt(Math.round((i * seconds * 1e9) / count));
    const span: Span = {
      traceId: `c${seed}`.padEnd(16, '0') + i.toString(16).padStart(16, '0'), spanId: i.toString(16).padStart(16, '0'), name: 'GET /contaminated', spanKind: 'server',
      startTimeUnixNano: start, endTimeUnixNano: start + BigInt(Math.round(micros * 1000)),
      attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop', 'beam.node': 'shop@host' },
    };
    spans.push(span);
    if (slow) injected.add(span);
  }
  return { spans, injected };
}

/**
 * All spans ranked by scope.anomaly.score (unscored last), ties broken against the injected ones: the share
 * of the top k = |injected| that are injected and scored.
 */
export function precisionAtK(spans: Span[], injected: Set<Span>): number {
  const score = (s: Span): number => (typeof s.attributes['scope.anomaly.score'] === 'number' ? s.attributes['scope.anomaly.score'] : -1);
  const ranked = [...spans].sort((a, b) => score(b) - score(a) || Number(injected.has(a)) - Number(injected.has(b)));
  const k = injected.size;
  return ranked.slice(0, k).filter((s) => injected.has(s) && score(s) >= 0).length / k;
}

/** The same ranking by duration alone, after the warm-up (min_samples spans no baseline could score): the ceiling. */
export function oracleAtK(spans: Span[], injected: Set<Span>, warmup: number): number {
  const duration = (s: Span): number => Number(s.endTimeUnixNano - s.startTimeUnixNano);
  return [...spans.slice(warmup)].sort((a, b) => duration(b) - duration(a)).slice(0, injected.size).filter((s) => injected.has(s)).length / injected.size;
}

/** Scores the key's spans through a fresh scorer, in batches of 500. */
export function scoreKey(spans: Span[], config = defaultConfig()): { detections: number } {
  const scorer = new AnomalyScorer(config, {
    component: 'anomaly', bucketNs: () => 10_000_000_000n, windowNs: 300_000_000_000n, eventEveryMs: 0,
    onDetection: () => undefined, onEvict: () => undefined,
  });
  let detections = 0;
  for (let i = 0; i < spans.length; i += 500) {
    detections += scorer.process({ events: [], spans: spans.slice(i, i + 500), metrics: [] }, 0).events.filter((e) => e.type === 'anomaly.detected').length;
  }
  return { detections };
}

export const CONTAMINATION_CASES: Array<{ name: string; c: Contamination }> = [
  { name: '3 % of spans 10–30× slower (the issue\'s case)', c: {} },
  { name: '10 % of spans 10–30× slower', c: { share: 0.1 } },
  { name: '30 % of spans 10–30× slower', c: { share: 0.3 } },
  { name: '3 % of spans 3–6× slower', c: { lo: 3, hi: 6 } },
  { name: '3 % 10–30× slower, σ = 0.8', c: { sigma: 0.8 } },
  { name: '3 % 10–30× slower, 30 % of spans in a fast mode (0.2×)', c: { fast: 0.3 } },
];
const CONTAMINATION_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

function contamination(): Array<{ case: string; contamination: Contamination; seeds: number[]; precision_at_k: number[]; mean: number; min: number; oracle_mean: number; latency_detections: number }> {
  return CONTAMINATION_CASES.map(({ name, c }) => {
    const precision: number[] = [];
    const oracle: number[] = [];
    let detections = 0;
    for (const seed of CONTAMINATION_SEEDS) {
      const { spans, injected } = contaminatedKey(seed, c);
      detections += scoreKey(spans).detections;
      precision.push(precisionAtK(spans, injected));
      oracle.push(oracleAtK(spans, injected, defaultConfig().latency.min_samples));
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { case: name, contamination: c, seeds: CONTAMINATION_SEEDS, precision_at_k: precision, mean: mean(precision), min: Math.min(...precision), oracle_mean: mean(oracle), latency_detections: detections };
  });
}

/** The fault schedule: 5 of each kind, spread over the hour, after a 20-minute warm-up. */
function schedule(): Fault[] {
  const faults: Fault[] = [];
  for (let i = 0; i < 5; i++) {
    const at = 1200 + i * 450;
    faults.push({ kind: 'latency', key: `shop op-${17 + i * 40}`, fromS: at, toS: at + 300 });
    faults.push({ kind: 'crash_burst', key: `crash|shop@host|worker_${i}:init/1`, fromS: at + 60, toS: at + 65 });
    faults.push({ kind: 'mailbox_growth', key: `shop@host|leaky_${i}`, fromS: at + 120, toS: at + 120 + 60 });
    faults.push({ kind: 'spawn_storm', key: `shop@host|<0.${900 + i}.0>`, fromS: at + 200, toS: at + 202 });
  }
  return faults;
}

function generate(faults: Fault[]): { batches: Batch[]; normal: number; injected: number } {
  const random = prng(SEED);
  const gauss = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const medians = Array.from({ length: KEYS }, () => 1_000 + random() * 99_000); // µs
  const resource = { 'service.name': 'shop', 'beam.node': 'shop@host' };
  const source = { node: 'shop@host', component: 'bench' };
  const batches: Batch[] = [];
  let batch: Batch = { events: [], spans: [], metrics: [] };
  let normal = 0;
  let injected = 0;
  let id = 0;
  const nsAt = (s: number): bigint => T0 + BigInt(Math.round(s * 1e9));
  const push = (): void => {
    batches.push(batch);
    batch = { events: [], spans: [], metrics: [] };
  };
  const event = (type: string, s: number, pid: string, attributes: ScopeEvent['attributes']): ScopeEvent =>
    ({ id: `g${id++}`, type, schemaVersion: 1, time: nsAt(s), source, pid, attributes });
  const mailboxes = Array.from({ length: 100 }, () => 10);
  let nextSample = 5;
  const perSecond = ITEMS / DURATION_S;
  for (let i = 0; i < ITEMS; i++) {
    const s = i / perSecond;
    const r = random();
    if (r < 0.7) {
      const k = Math.floor(random() * KEYS);
      const name = `op-${k}`;
      const regressed = faults.some((f) => f.kind === 'latency' && f.key === `shop ${name}` && s >= f.fromS && s < f.toS);
      const micros = medians[k] * Math.exp(0.4 * gauss()) * (regressed ? 4 : 1);
      const start = nsAt(s);
      const span: Span = {
        traceId: (id++).toString(16).padStart(32, '0'), spanId: id.toString(16).padStart(16, '0'), name, spanKind: 'server',
        startTimeUnixNano: start, endTimeUnixNano: start + BigInt(Math.round(micros * 1000)),
        attributes: {}, events: [], links: [], status: { code: 'unset' }, resource,
      };
      batch.spans.push(span);
      if (regressed) injected++;
      else normal++;
    } else if (r < 0.97) {
      batch.events.push(event('message.send', s, `<0.${200 + Math.floor(random() * 200)}.0>`, { 'beam.peer_pid': '<0.1.0>', 'beam.message': 'tick' }));
      normal++;
    } else if (r < 0.995) {
      batch.events.push(event('process.spawn', s, `<0.${100 + Math.floor(random() * 20)}.0>`, { 'beam.peer_pid': `<0.${id}.0>`, 'beam.mfa': 'worker:init/1' }));
      normal++;
    } else {
      // The supervision tree's background crashes: rare, spread over ten worker types.
      batch.events.push(event('process.crash', s, `<0.${id}.0>`, { 'beam.mfa': `worker_${Math.floor(random() * 10)}:init/1`, 'beam.reason': 'timeout' }));
      normal++;
    }
    // Injected bursts, at their scheduled second.
    for (const f of faults) {
      if (s < f.fromS || s - 1 / perSecond >= f.fromS) continue;
      if (f.kind === 'crash_burst') {
        const mfa = f.key.split('|')[2];
        for (let c = 0; c < 30; c++) batch.events.push(event('process.crash', f.fromS + (c * 5) / 30, `<0.${id++}.0>`, { 'beam.mfa': mfa, 'beam.reason': 'badarg' }));
        injected += 30;
      } else if (f.kind === 'spawn_storm') {
        const parent = f.key.split('|')[1];
        for (let c = 0; c < 500; c++) batch.events.push(event('process.spawn', f.fromS + (c * 2) / 500, parent, { 'beam.peer_pid': `<0.${id++}.0>`, 'beam.mfa': 'worker:init/1' }));
        injected += 500;
      }
    }
    if (s >= nextSample) {
      // The process sampler: 100 ordinary mailboxes wander (mean-reverting); leaky ones grow while their fault lasts.
      const metrics: MetricPoint[] = mailboxes.map((q, m) => {
        const next = Math.max(0, Math.min(60, Math.round(q + (random() - 0.5) * 20 + (25 - q) * 0.2)));
        mailboxes[m] = next;
        return { name: 'beam.process.message_queue_len', type: 'gauge', timeUnixNano: nsAt(s), value: next, attributes: { 'beam.pid': `<0.${300 + m}.0>` }, resource };
      });
      normal += metrics.length;
      for (const [j, f] of faults.filter((x) => x.kind === 'mailbox_growth').entries()) {
        const name = f.key.split('|')[1];
        const growing = s >= f.fromS && s < f.toS;
        const value = growing ? 10 + Math.round((s - f.fromS) * 16) : 10 + (j % 5);
        metrics.push({ name: 'beam.process.message_queue_len', type: 'gauge', timeUnixNano: nsAt(s), value, attributes: { 'beam.pid': `<0.${500 + j}.0>`, 'beam.registered_name': name }, resource });
        if (growing) injected++;
        else normal++;
      }
      batch.metrics.push(...metrics);
      nextSample += 5;
    }
    if (batch.spans.length + batch.events.length >= 4096) push();
  }
  push();
  return { batches, normal, injected };
}

export async function run(): Promise<string> {
  const faults = schedule();
  const { batches, normal, injected } = generate(faults);
  const detections: ScopeEvent[] = [];
  const scorer = new AnomalyScorer({ ...defaultConfig(), event_every: '0s' }, {
    component: 'anomaly', bucketNs: () => 10_000_000_000n, windowNs: 300_000_000_000n, eventEveryMs: 0,
    onDetection: () => undefined, onEvict: () => undefined,
  });
  const t0 = process.hrtime.bigint();
  for (const b of batches) {
    const out = scorer.process(b, 0);
    for (const e of out.events) if (e.type === 'anomaly.detected') detections.push(e);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const items = normal + injected;

  const kinds: AnomalyKind[] = ['latency', 'crash_burst', 'mailbox_growth', 'spawn_storm'];
  const timeS = (e: ScopeEvent): number => Number(e.time - T0) / 1e9;
  const matches = (e: ScopeEvent, f: Fault): boolean => e.attributes['anomaly.kind'] === f.kind && e.attributes['anomaly.key'] === f.key
    && timeS(e) >= f.fromS - 1 && timeS(e) <= f.toS + 60;
  const rows = kinds.map((kind) => {
    const mine = detections.filter((d) => d.attributes['anomaly.kind'] === kind);
    const ofKind = faults.filter((f) => f.kind === kind);
    const truePositives = mine.filter((d) => ofKind.some((f) => matches(d, f))).length;
    const found = ofKind.filter((f) => mine.some((d) => matches(d, f))).length;
    return { kind, faults: ofKind.length, detections: mine.length, precision: mine.length ? truePositives / mine.length : 1, recall: found / ofKind.length };
  });
  const falsePositives = detections.filter((d) => !faults.some((f) => matches(d, f))).length;
  const fpPerMillion = (falsePositives / normal) * 1e6;

  // Memory with 1 M distinct keys offered.
  const gc = (globalThis as { gc?: () => void }).gc;
  let evicted = 0;
  const churn = new AnomalyScorer(defaultConfig(), {
    component: 'anomaly', bucketNs: () => 10_000_000_000n, windowNs: 300_000_000_000n, eventEveryMs: 60_000,
    onDetection: () => undefined, onEvict: () => { evicted++; },
  });
  const offer = (from: number, to: number): void => {
    for (let i = from; i < to; i += 1000) {
      const spans: Span[] = [];
      for (let j = i; j < i + 1000; j++) {
        spans.push({ traceId: j.toString(16).padStart(32, '0'), spanId: j.toString(16).padStart(16, '0'), name: `key-${j}`, spanKind: 'server',
          startTimeUnixNano: T0, endTimeUnixNano: T0 + 1_000_000n, attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'churn' } });
      }
      churn.process({ events: [], spans, metrics: [] }, 0);
    }
  };
  offer(0, 100_000);
  gc?.();
  const heapAt100k = process.memoryUsage().heapUsed / 2 ** 20;
  offer(100_000, 1_000_000);
  gc?.();
  const heapAt1M = process.memoryUsage().heapUsed / 2 ** 20;

  const ranking = contamination();
  const throughput = series('anomaly, all kinds on', 'items/s', [items / seconds]);
  writeResult('anomaly', {
    generator: { seed: SEED, items, normal_items: normal, injected_items: injected, event_time_seconds: DURATION_S, span_keys: KEYS, schedule: faults },
    config: defaultConfig(),
    per_kind: rows,
    false_positives: falsePositives,
    false_positives_per_million: fpPerMillion,
    throughput,
    churn: { distinct_keys_offered: 1_000_000, max_keys: 10_000, evicted, heap_mib_at_100k: heapAt100k, heap_mib_at_1m: heapAt1M },
    contamination: { spans_per_key: 6000, event_time_seconds: 600, median_ms: 10, ranking },
  });
  const pct = (x: number): string => x.toFixed(2);
  return [
    `anomaly: ${items} items (seed ${SEED}), 5 injected faults of each kind; goal precision and recall ≥ 0.9, ≤ 10 false positives per million`,
    '',
    '| fault kind | faults | detections | precision | recall |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.kind} | ${r.faults} | ${r.detections} | ${pct(r.precision)} | ${pct(r.recall)} |`),
    '',
    `false positives: ${falsePositives} (${fpPerMillion.toFixed(2)} per million normal items)`,
    `throughput, all kinds on: ${(items / seconds / 1e3).toFixed(0)} k items/s`,
    `1 M distinct keys offered (max_keys 10 000): ${evicted} evicted, heap ${heapAt100k.toFixed(0)} MiB after 100 k, ${heapAt1M.toFixed(0)} MiB after 1 M`,
    '',
    `span ranking under contamination: one key of 6000 spans (10 ms median, 10 minutes), contaminated from its first span; all spans ranked by scope.anomaly.score, precision at k = number injected, ${CONTAMINATION_SEEDS.length} seeds; ceiling = ranking by duration after the ${defaultConfig().latency.min_samples}-span warm-up`,
    '',
    '| key | precision@k mean | min | ceiling | regression detections |',
    '|---|---|---|---|---|',
    ...ranking.map((r) => `| ${r.case} | ${pct(r.mean)} | ${pct(r.min)} | ${pct(r.oracle_mean)} | ${r.latency_detections} |`),
  ].join('\n');
}
