/**
 * Streaming anomaly scoring. Per key, in bounded memory:
 * - latency: a DDSketch of the key's previous window is the baseline; a span
 *   beyond its quantile gets a score (log10 of how many times beyond, capped at
 *   1); a regression is detected when too many of a key's recent spans are
 *   beyond it (binomial ≈ Poisson tail below p_value);
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

interface LatencyKey {
  current: Sketch;
  baseline?: Sketch;
  windowStart: bigint;
  /** The reference quantile in µs, or NaN before warm-up. */
  threshold: number;
  sinceRecompute: number;
  checked: number;
  beyond: number;
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
      k = { current: newSketch(), windowStart: s.startTimeUnixNano, threshold: Number.NaN, sinceRecompute: 0, checked: 0, beyond: 0 };
      this.latency.set(name, k);
    } else {
      this.latency.touch(name, k);
    }
    // A window ends when its time is up and it holds enough spans to be the next baseline (a quiet key's window grows).
    if (s.startTimeUnixNano >= k.windowStart + this.options.windowNs && k.current.count >= cfg.min_samples) {
      k.baseline = k.current;
      k.current = newSketch();
      k.windowStart = s.startTimeUnixNano;
      k.threshold = k.baseline.getValueAtQuantile(cfg.quantile);
    }
    // Before a full window, the key's own first window is its baseline once warm.
    if (!k.baseline && k.current.count >= cfg.min_samples && (Number.isNaN(k.threshold) || ++k.sinceRecompute >= 256)) {
      k.threshold = k.current.getValueAtQuantile(cfg.quantile);
      k.sinceRecompute = 0;
    }
    if (!Number.isNaN(k.threshold)) {
      k.checked++;
      if (micros > k.threshold) {
        k.beyond++;
        const score = Math.min(1, Math.log10(micros / k.threshold));
        if (score > 0) {
          s.attributes = {
            ...s.attributes,
            'scope.anomaly.score': Math.round(score * 1000) / 1000,
            'scope.anomaly.reason': 'latency',
            'scope.anomaly.expected': `p${cfg.quantile * 100}=${(k.threshold / 1000).toFixed(3)}ms`,
          };
        }
      }
      if (k.checked >= cfg.check_every) {
        const expected = k.checked * (1 - cfg.quantile);
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
    k.current.accept(micros);
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
        threshold: ref ? ref.getValueAtQuantile(q) : Number.NaN, sinceRecompute: 0, checked: 0, beyond: 0,
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
