/**
 * Streaming anomaly scoring. Per key, in bounded memory:
 * - latency: a DDSketch of the key's previous window is the baseline; its
 *   robust reference (the quantile of the log-normal with the sketch's median
 *   and MAD of log duration, which a slow minority does not move) is what a
 *   span is compared to; a span beyond it gets a score, 1 - reference/duration
 *   (in (0, 1), rising without a cap so spans rank); a regression is detected
 *   when too many of a key's recent spans are beyond it against the baseline's
 *   own share beyond it (binomial ≈ Poisson tail below p_value);
 * - bursts (errors and crashes, messages per sender, spawns per parent): a
 *   bucket's count against an EWMA of past buckets, by a Poisson tail;
 * - growth (mailboxes, process memory): a sampled value that rose in each of
 *   the last N samples, by at least a minimum in all.
 * Each detection is one `anomaly.detected` event per kind and key per
 * `event_every`; scored spans carry scope.anomaly.score / reason / expected.
 */
import { DDSketch, LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';
import type { Attributes, Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import type { AnomalyConfig } from './config.js';
import { poissonTail } from './poisson.js';

export type AnomalyKind = 'latency' | 'error_burst' | 'crash_burst' | 'message_storm' | 'spawn_storm' | 'mailbox_growth' | 'memory_growth';

export interface AnomalyOptions {
  component: string;
  bucketNs: (kind: 'errors' | 'messages' | 'spawns') => bigint;
  windowNs: bigint;
  eventEveryMs: number;
  onDetection(kind: AnomalyKind): void;
  onEvict(kind: string): void;
}

type Sketch = DDSketch;
const newSketch = (): Sketch => new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: 0.02, binLimit: 256 }) as unknown as Sketch;
/**
 * 256 bins at 2 % relative accuracy span a factor of about 28 000; beyond that the sketch folds its lowest
 * bins together, and one span a million times slower would fold the key's median into a bin. So a sketch
 * records durations clamped to [center / CLAMP, center × CLAMP] (a factor of 22 500) around the key's
 * median (the first span's, then the sketch's own until the first baseline): an outlier still counts,
 * beyond any reference, and is scored on its true duration.
 */
const CLAMP = 150;

interface LatencyKey {
  current: Sketch;
  baseline?: Sketch;
  windowStart: bigint;
  /** The reference quantile in µs (robust: see reference()), or NaN before warm-up. */
  threshold: number;
  /** The reference sketch's own share of spans beyond threshold, at least 1 - quantile: the expected rate of "beyond". */
  share: number;
  /** The reference's median in µs (the first span's duration before one), the middle of what the sketch records. */
  center: number;
  sinceRecompute: number;
  checked: number;
  beyond: number;
}

/** Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** The spread of log duration never counts as less than the sketch's resolution (2 % relative accuracy). */
const MIN_LOG_SPREAD = 0.02;

const Z75 = 0.6744897501960817;

let scratchLogs = new Float64Array(512);
let scratchCounts = new Float64Array(512);

/**
 * The sketch's non-empty bins as (log value, count), ascending, in scratch arrays reused from call to call
 * (zeros and negatives, never accepted, as 1 µs). The sketch's mapping is logarithmic: a bin's log value is
 * the first one's plus a constant step per key.
 */
function bins(sketch: Sketch): { logs: Float64Array; counts: Float64Array; length: number; total: number } {
  const store = sketch.store;
  if (scratchLogs.length < store.bins.length + 1) {
    scratchLogs = new Float64Array(store.bins.length + 1);
    scratchCounts = new Float64Array(store.bins.length + 1);
  }
  const logs = scratchLogs;
  const counts = scratchCounts;
  let length = 0;
  let total = 0;
  const low = sketch.zeroCount + sketch.negativeStore.count;
  if (low > 0) {
    logs[length] = 0;
    counts[length++] = low;
    total += low;
  }
  const first = Math.log(sketch.mapping.value(store.offset));
  const step = Math.log(sketch.mapping.value(store.offset + 1)) - first;
  for (let i = 0; i < store.bins.length; i++) {
    const c = store.bins[i];
    if (c > 0) {
      logs[length] = first + i * step;
      counts[length++] = c;
      total += c;
    }
  }
  return { logs, counts, length, total };
}

/**
 * The weighted median of |logs[i] - center| (logs ascending, center = logs[mid]): the deviations rise
 * outwards on both sides of mid, so the two sides are merged from mid outwards, without sorting.
 */
function medianDeviation(logs: Float64Array, counts: Float64Array, length: number, total: number, mid: number): number {
  const center = logs[mid];
  let seen = counts[mid];
  let deviation = 0;
  let left = mid - 1;
  let right = mid + 1;
  while (seen < total / 2 && (left >= 0 || right < length)) {
    const dl = left >= 0 ? center - logs[left] : Infinity;
    const dr = right < length ? logs[right] - center : Infinity;
    if (dl <= dr) {
      seen += counts[left--];
      deviation = dl;
    } else {
      seen += counts[right++];
      deviation = dr;
    }
  }
  return deviation;
}

/** The index of the bin holding quantile q (logs ascending). */
function quantileIndex(counts: Float64Array, length: number, total: number, q: number): number {
  let seen = 0;
  for (let i = 0; i < length; i++) {
    seen += counts[i];
    if (seen >= total * q) return i;
  }
  return length - 1;
}

/**
 * A sketch's reference for `quantile`, robust to a slow minority: the quantile of the log-normal whose
 * median is the sketch's median and whose σ is the median absolute deviation of log duration / 0.6745.
 * Median and MAD stand until half the spans are outliers: a few percent many times slower from the start
 * barely move them, while the sketch's own p99 would sit inside that slow population. With it, the
 * sketch's own share of spans beyond it (at least 1 - quantile): the rate a regression is tested against,
 * so a key whose tail is heavier than log-normal, or that always had a slow path, is not a regression.
 */
export function reference(sketch: Sketch, quantile: number): { threshold: number; share: number; center: number } {
  const { logs, counts, length, total } = bins(sketch);
  const mid = quantileIndex(counts, length, total, 0.5);
  const median = logs[mid];
  const sigma = Math.max(MIN_LOG_SPREAD, medianDeviation(logs, counts, length, total, mid) / Z75);
  const logThreshold = median + sigma * normalQuantile(quantile);
  let beyond = 0;
  for (let i = 0; i < length; i++) if (logs[i] > logThreshold) beyond += counts[i];
  return { threshold: Math.exp(logThreshold), share: Math.max(1 - quantile, beyond / total), center: Math.exp(median) };
}

interface BurstKey {
  bucketStart: bigint;
  count: number;
  rate: number;
  fired: boolean;
}

interface GrowthKey {
  values: number[];
  fired: boolean;
}

const EWMA = 0.3;

const isNormalExit = (reason: string): boolean => reason === 'normal' || reason === 'shutdown' || reason.startsWith('{shutdown,');

function burstExpected(k: BurstKey, prior: number): number {
  return Math.max(k.rate, prior);
}

export class AnomalyScorer {
  private readonly latency: BoundedMap<string, LatencyKey>;
  private readonly bursts: Record<'errors' | 'messages' | 'spawns', BoundedMap<string, BurstKey>>;
  private readonly growth: Record<'mailbox' | 'memory', BoundedMap<string, GrowthKey>>;
  private readonly lastEvent = new Map<string, number>();
  private seq = 0;
  private nowMs = 0;
  private sawCrashEvents = false;
  private out: ScopeEvent[] = [];

  constructor(private readonly config: AnomalyConfig, private readonly options: AnomalyOptions) {
    const bounded = <V>(kind: string) => new BoundedMap<string, V>(config.max_keys, () => options.onEvict(kind));
    this.latency = bounded('latency');
    this.bursts = { errors: bounded('errors'), messages: bounded('messages'), spawns: bounded('spawns') };
    this.growth = { mailbox: bounded('mailbox'), memory: bounded('memory') };
  }

  /** Scores a batch: spans annotated (new attribute objects), detections appended as events. */
  process(batch: Batch, nowMs: number): Batch {
    this.nowMs = nowMs;
    for (const s of batch.spans) this.span(s);
    for (const e of batch.events) this.event(e);
    for (const m of batch.metrics) this.metric(m);
    if (this.out.length === 0) return batch;
    const events = batch.events.concat(this.out);
    this.out = [];
    return { events, spans: batch.spans, metrics: batch.metrics };
  }

  private detect(kind: AnomalyKind, key: string, time: bigint, node: string, details: Attributes, target: { pid?: string; traceId?: string; spanId?: string }): void {
    this.options.onDetection(kind);
    const id = `${kind}|${key}`;
    const last = this.lastEvent.get(id);
    if (last !== undefined && this.nowMs - last < this.options.eventEveryMs) return;
    this.lastEvent.set(id, this.nowMs);
    if (this.lastEvent.size > this.config.max_keys * 4) this.lastEvent.delete(this.lastEvent.keys().next().value as string);
    this.out.push({
      id: `anomaly-${Date.now().toString(36)}-${(this.seq++).toString(36)}`,
      type: 'anomaly.detected',
      schemaVersion: 1,
      time,
      source: { node, component: this.options.component },
      ...(target.pid ? { pid: target.pid } : {}),
      ...(target.traceId ? { traceId: target.traceId } : {}),
      ...(target.spanId ? { spanId: target.spanId } : {}),
      attributes: { 'anomaly.kind': kind, 'anomaly.key': key, ...details },
    });
  }

  // --- latency -------------------------------------------------------------------

  private span(s: Span): void {
    const name = `${String(s.resource['service.name'] ?? '')} ${s.name}`;
    const node = String(s.resource['beam.node'] ?? s.attributes['beam.node'] ?? '');
    if (this.config.errors.enabled && s.status.code === 'error') this.burst('errors', 'error_burst', `error|${name}`, s.endTimeUnixNano, node, { traceId: s.traceId, spanId: s.spanId });
    const cfg = this.config.latency;
    if (!cfg.enabled) return;
    const micros = Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1000 + 1;
    let k = this.latency.get(name);
    if (!k) {
      k = { current: newSketch(), windowStart: s.startTimeUnixNano, threshold: Number.NaN, share: 1 - cfg.quantile, center: Math.max(micros, 1), sinceRecompute: 0, checked: 0, beyond: 0 };
      this.latency.set(name, k);
    } else {
      this.latency.touch(name, k);
    }
    // A window ends when its time is up and it holds enough spans to be the next baseline (a quiet key's window grows).
    if (s.startTimeUnixNano >= k.windowStart + this.options.windowNs && k.current.count >= cfg.min_samples) {
      k.baseline = k.current;
      k.current = newSketch();
      k.windowStart = s.startTimeUnixNano;
      Object.assign(k, reference(k.baseline, cfg.quantile));
    }
    // Before a full window, the key's own first window is its baseline once warm.
    if (!k.baseline && k.current.count >= cfg.min_samples && (Number.isNaN(k.threshold) || ++k.sinceRecompute >= 256)) {
      Object.assign(k, reference(k.current, cfg.quantile));
      k.sinceRecompute = 0;
    }
    if (!Number.isNaN(k.threshold)) {
      k.checked++;
      if (micros > k.threshold) {
        k.beyond++;
        // 1 - expected/observed: 0.5 at twice the reference, 0.9 at ten times, 0.99 at a hundred; never 1, so
        // spans far beyond rank above those just beyond (rounded to 1e-6, not into ties).
        const score = Math.round((1 - k.threshold / micros) * 1e6) / 1e6;
        if (score > 0) {
          s.attributes = {
            ...s.attributes,
            'scope.anomaly.score': score,
            'scope.anomaly.reason': 'latency',
            'scope.anomaly.expected': `p${cfg.quantile * 100}=${(k.threshold / 1000).toFixed(3)}ms`,
          };
        }
      }
      if (k.checked >= cfg.check_every) {
        const expected = k.checked * k.share;
        const p = poissonTail(k.beyond, expected);
        if (p < cfg.p_value) {
          this.detect('latency', name, s.endTimeUnixNano, node, {
            'anomaly.observed': `${k.beyond}/${k.checked} spans beyond p${cfg.quantile * 100}`,
            'anomaly.expected': `p${cfg.quantile * 100}=${(k.threshold / 1000).toFixed(3)}ms`,
            'anomaly.score': Math.min(1, -Math.log10(p) / 12),
            'anomaly.window': `${k.checked} spans`,
          }, { traceId: s.traceId, spanId: s.spanId });
        }
        k.checked = 0;
        k.beyond = 0;
      }
    }
    // Until the first baseline the center is the sketch's own median, re-read at 4, 8, 16, … spans (the first
    // span may itself be an outlier).
    const n = k.current.count;
    if (Number.isNaN(k.threshold) && n >= 4 && (n & (n - 1)) === 0) k.center = k.current.getValueAtQuantile(0.5);
    k.current.accept(Math.min(Math.max(micros, k.center / CLAMP, 1), k.center * CLAMP));
  }

  // --- bursts --------------------------------------------------------------------

  private burst(which: 'errors' | 'messages' | 'spawns', kind: AnomalyKind, key: string, time: bigint, node: string, target: { pid?: string; traceId?: string; spanId?: string }): void {
    const cfg = this.config[which];
    const map = this.bursts[which];
    const bucket = this.options.bucketNs(which);
    let k = map.get(key);
    if (!k) {
      k = { bucketStart: time - (time % bucket), count: 0, rate: 0, fired: false };
      map.set(key, k);
    } else {
      map.touch(key, k);
    }
    if (time >= k.bucketStart + bucket) {
      const skipped = Number((time - k.bucketStart) / bucket) - 1;
      k.rate = EWMA * k.count + (1 - EWMA) * k.rate;
      if (skipped > 0) k.rate *= (1 - EWMA) ** Math.min(skipped, 50);
      k.bucketStart = time - (time % bucket);
      k.count = 0;
      k.fired = false;
    }
    k.count++;
    if (k.fired || k.count < cfg.min_count) return;
    const expected = burstExpected(k, cfg.prior_per_bucket);
    const p = poissonTail(k.count, expected);
    if (p < cfg.p_value) {
      k.fired = true;
      this.detect(kind, key, time, node, {
        'anomaly.observed': k.count,
        'anomaly.expected': Math.round(expected * 100) / 100,
        'anomaly.score': Math.min(1, -Math.log10(Math.max(p, 1e-300)) / 12),
        'anomaly.window': `${Number(bucket / 1_000_000n)}ms`,
      }, target);
    }
  }

  private event(e: ScopeEvent): void {
    const node = e.source.node;
    switch (e.type) {
      case 'process.exit': {
        // Abnormal exits count only where no correlation processor explains them (it emits process.crash,
        // keyed by initial call); otherwise every crash would be counted twice.
        const reason = e.attributes['beam.reason'];
        if (this.config.errors.enabled && !this.sawCrashEvents && typeof reason === 'string' && !isNormalExit(reason)) {
          this.burst('errors', 'crash_burst', `exit|${node}`, e.time, node, e.pid ? { pid: e.pid } : {});
        }
        return;
      }
      case 'process.crash':
        this.sawCrashEvents = true;
        if (this.config.errors.enabled) {
          const who = String(e.attributes['beam.mfa'] ?? e.attributes['beam.registered_name'] ?? 'unknown');
          this.burst('errors', 'crash_burst', `crash|${node}|${who}`, e.time, node, { ...(e.pid ? { pid: e.pid } : {}), ...(e.traceId ? { traceId: e.traceId } : {}) });
        }
        return;
      case 'message.send':
        if (this.config.messages.enabled && e.pid) this.burst('messages', 'message_storm', `${node}|${e.pid}`, e.time, node, { pid: e.pid });
        return;
      case 'process.spawn':
        if (this.config.spawns.enabled && e.pid) this.burst('spawns', 'spawn_storm', `${node}|${e.pid}`, e.time, node, { pid: e.pid });
        return;
      default:
    }
  }

  // --- growth --------------------------------------------------------------------

  private metric(m: MetricPoint): void {
    const which = m.name === 'beam.process.message_queue_len' ? 'mailbox' : m.name === 'beam.process.memory' ? 'memory' : undefined;
    if (!which || !this.config[which].enabled) return;
    const pid = m.attributes['beam.pid'];
    if (typeof pid !== 'string') return;
    const node = String(m.resource['beam.node'] ?? '');
    const samples = this.config[which].samples;
    const minGrowth = which === 'mailbox' ? this.config.mailbox.min_growth : this.config.memory.min_growth_bytes;
    const key = `${node}|${pid}`;
    const map = this.growth[which];
    let k = map.get(key);
    if (!k) {
      k = { values: [], fired: false };
      map.set(key, k);
    } else {
      map.touch(key, k);
    }
    const last = k.values[k.values.length - 1];
    if (last !== undefined && m.value < last) k.fired = false; // it drained: watch afresh
    k.values.push(m.value);
    if (k.values.length > samples + 1) k.values.shift();
    if (k.fired || k.values.length < samples + 1) return;
    for (let i = 1; i < k.values.length; i++) if (k.values[i] <= k.values[i - 1]) return;
    const grown = k.values[k.values.length - 1] - k.values[0];
    if (grown < minGrowth) return;
    k.fired = true;
    const name = m.attributes['beam.registered_name'];
    this.detect(which === 'mailbox' ? 'mailbox_growth' : 'memory_growth', typeof name === 'string' ? `${node}|${name}` : key, m.timeUnixNano, node, {
      'anomaly.observed': m.value,
      'anomaly.expected': k.values[0],
      'anomaly.score': Math.min(1, grown / (minGrowth * 10) + 0.5),
      'anomaly.window': `${samples} samples`,
      ...(typeof name === 'string' ? { 'beam.registered_name': name } : {}),
    }, { pid });
  }

  // --- persistence -----------------------------------------------------------------

  /** Latency baselines as JSON (DDSketch protobuf, base64). */
  save(): string {
    const keys: Array<{ key: string; baseline?: string; current: string; windowStart: string }> = [];
    for (const [key, k] of this.latency.entries()) {
      keys.push({
        key, current: Buffer.from(k.current.toProto()).toString('base64'), windowStart: k.windowStart.toString(),
        ...(k.baseline ? { baseline: Buffer.from(k.baseline.toProto()).toString('base64') } : {}),
      });
    }
    return JSON.stringify({ version: 1, latency: keys });
  }

  /** Reads what save() wrote; returns how many keys were restored. */
  load(text: string): number {
    const data = JSON.parse(text) as { version?: number; latency?: Array<{ key: string; baseline?: string; current: string; windowStart: string }> };
    if (data.version !== 1 || !Array.isArray(data.latency)) throw new Error('not a scope-pipeline anomaly baseline file (version 1)');
    const q = this.config.latency.quantile;
    for (const item of data.latency) {
      const current = restore(item.current);
      const baseline = item.baseline ? restore(item.baseline) : undefined;
      const ref = baseline && baseline.count >= this.config.latency.min_samples ? baseline : current.count >= this.config.latency.min_samples ? current : undefined;
      this.latency.set(item.key, {
        current, ...(baseline ? { baseline } : {}), windowStart: BigInt(item.windowStart),
        ...(ref ? reference(ref, q) : { threshold: Number.NaN, share: 1 - q, center: current.count > 0 ? current.getValueAtQuantile(0.5) : 1 }),
        sinceRecompute: 0, checked: 0, beyond: 0,
      });
    }
    return data.latency.length;
  }

  get keys(): number {
    return this.latency.size + Object.values(this.bursts).reduce((n, m) => n + m.size, 0) + Object.values(this.growth).reduce((n, m) => n + m.size, 0);
  }
}

/** A sketch read back, in a bounded (collapsing) one so it stays fixed-size. */
function restore(base64: string): Sketch {
  const read = DDSketch.fromProto(Buffer.from(base64, 'base64'));
  const sketch = newSketch();
  sketch.merge(read);
  return sketch;
}
