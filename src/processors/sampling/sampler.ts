/**
 * Head and tail sampling. Without `tail`, each span is kept or not at once by
 * its trace id (consistent with the Collector). With `tail`, spans wait per
 * trace for `decision_wait`; then the trace is kept whole when always_keep
 * (errors, crashes, anomalies) or the head rate says so, or when a policy
 * samples it and none drops it. Late spans follow their trace's decision.
 */
import type { Batch, ScopeEvent, Span } from '../../model/types.js';
import { agentRateFor } from '../../util/agent_rates.js';
import { anyOf } from '../../util/match.js';
import type { PolicyConfig, SamplingConfig } from './config.js';
import { probabilitySampler, withThreshold, type ProbabilitySampler } from './probability.js';

export type Drops = Map<string, number>;

interface HeldTrace {
  spans: Span[];
  firstMs: number;
  error: boolean;
  crash: boolean;
  maxScore: number;
}

type Verdict = 'sample' | 'not_sampled' | 'drop';

interface Policy {
  name: string;
  evaluate(trace: HeldTrace, traceId: string, nowMs: number): Verdict;
}

/** A token bucket in spans per second. */
function rateLimiter(perSecond: number): (spans: number, nowMs: number) => boolean {
  let tokens = perSecond;
  let last = 0;
  return (spans, nowMs) => {
    tokens = Math.min(perSecond, tokens + ((nowMs - last) / 1000) * perSecond);
    last = nowMs;
    if (tokens < spans) return false;
    tokens -= spans;
    return true;
  };
}

function compilePolicy(p: PolicyConfig, mode: SamplingConfig['mode'], config: SamplingConfig): Policy {
  const is = (cond: boolean): Verdict => (cond ? 'sample' : 'not_sampled');
  switch (p.type) {
    case 'always_errors': return { name: p.name, evaluate: (t) => is(t.error) };
    case 'crash': return { name: p.name, evaluate: (t) => is(t.crash) };
    case 'latency': {
      const ns = BigInt(Math.round(p.threshold_ms * 1e6));
      return { name: p.name, evaluate: (t) => is(t.spans.some((s) => s.endTimeUnixNano - s.startTimeUnixNano >= ns)) };
    }
    case 'anomaly_score': return { name: p.name, evaluate: (t) => is(t.maxScore >= p.threshold) };
    case 'attribute': {
      const values = new Set(p.values);
      return {
        name: p.name,
        evaluate: (t) => {
          const hit = t.spans.some((s) => values.has(s.attributes[p.key] as string | number | boolean));
          if (p.invert) return hit ? 'drop' : 'sample';
          return is(hit);
        },
      };
    }
    case 'probabilistic': {
      const s = probabilitySampler(p.sampling_percentage, mode ?? 'proportional', config.sampling_precision, config.hash_seed);
      return { name: p.name, evaluate: (_t, id) => is(s.decide(id)) };
    }
    case 'rate_limiting': {
      const take = rateLimiter(p.spans_per_second);
      return { name: p.name, evaluate: (t, _id, now) => is(take(t.spans.length, now)) };
    }
    case 'and': {
      const subs = p.policies.map((sub) => compilePolicy(sub, mode, config));
      return { name: p.name, evaluate: (t, id, now) => is(subs.every((s) => s.evaluate(t, id, now) === 'sample')) };
    }
    case 'composite': {
      // As the Collector's composite policy: sub-policies in policy_order, each with its share of
      // max_total_spans_per_second (rate_allocation percent; an equal share when not given); the first
      // that samples the trace and still has budget this second keeps it.
      const byName = new Map(p.composite_sub_policy.map((sub) => [sub.name, compilePolicy(sub, mode, config)]));
      const ordered = p.policy_order.map((n) => byName.get(n)).filter((x): x is Policy => x !== undefined);
      const share = (n: string): number => {
        const a = p.rate_allocation?.find((r) => r.policy === n);
        return a ? (a.percent / 100) * p.max_total_spans_per_second : p.max_total_spans_per_second / Math.max(1, ordered.length);
      };
      const budgets = new Map(ordered.map((sub) => [sub.name, share(sub.name)]));
      const used = new Map<string, number>();
      let second = -1;
      return {
        name: p.name,
        evaluate: (t, id, now) => {
          const s = Math.floor(now / 1000);
          if (s !== second) {
            second = s;
            used.clear();
          }
          for (const sub of ordered) {
            if (sub.evaluate(t, id, now) !== 'sample') continue;
            const spent = used.get(sub.name) ?? 0;
            if (spent + t.spans.length > (budgets.get(sub.name) ?? 0)) continue;
            used.set(sub.name, spent + t.spans.length);
            return 'sample';
          }
          return 'not_sampled';
        },
      };
    }
  }
}

/** Fast FNV-1a 32 over a string's UTF-16 units, for events without a trace id. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Sampler {
  private readonly head: ProbabilitySampler;
  private readonly eventRules: Array<{ match: (type: string) => boolean; rate: number; sampler: ProbabilitySampler }>;
  private readonly policies: Policy[];
  private readonly held = new Map<string, HeldTrace>();
  private readonly decided = new Map<string, boolean>();
  /** Traces a process.crash pointed at before (or without) their spans. */
  private readonly crashed = new Map<string, number>();
  private readonly waitMs: number;
  private readonly tail: boolean;
  private readonly mode: 'proportional' | 'hash_seed';
  private readonly agentSamplers = new Map<number, ProbabilitySampler>();
  drops: Drops = new Map();
  decisions = new Map<string, number>();
  evictedEarly = 0;

  constructor(private readonly config: SamplingConfig, waitMs: number) {
    const mode = config.mode ?? (config.hash_seed !== 0 ? 'hash_seed' : 'proportional');
    this.mode = mode;
    this.head = probabilitySampler(config.sampling_percentage, mode, config.sampling_precision, config.hash_seed);
    this.eventRules = Object.entries(config.event_sample_rate).map(([pattern, rate]) => ({
      match: anyOf([pattern]), rate, sampler: probabilitySampler(rate * 100, 'proportional', 14, 0),
    }));
    this.tail = config.tail !== undefined;
    this.policies = (config.tail?.policies ?? []).map((p) => compilePolicy(p, mode, config));
    this.waitMs = waitMs;
  }

  private drop(reason: string, n: number): void {
    if (n > 0) this.drops.set(reason, (this.drops.get(reason) ?? 0) + n);
  }

  private decision(reason: string): void {
    this.decisions.set(reason, (this.decisions.get(reason) ?? 0) + 1);
  }

  /** Events: crashes mark their trace; raw events are kept by event_sample_rate. */
  private events(events: ScopeEvent[]): ScopeEvent[] {
    for (const e of events) {
      if (e.type === 'process.crash' && e.traceId) {
        this.crashed.set(e.traceId, 1);
        const held = this.held.get(e.traceId);
        if (held) held.crash = true;
        if (this.crashed.size > (this.config.tail?.decision_cache ?? 100_000)) this.crashed.delete(this.crashed.keys().next().value as string);
      }
    }
    if (this.eventRules.length === 0) return events;
    const kept = events.filter((e) => {
      if (e.type === 'process.crash' || e.type === 'anomaly.detected') return true;
      const rule = this.eventRules.find((r) => r.match(e.type));
      if (!rule) return true;
      if (rule.rate >= 1) return true;
      if (e.traceId) return rule.sampler.decide(e.traceId);
      return hashString(e.id) / 4294967296 < rule.rate;
    });
    this.drop('event_sample_rate', events.length - kept.length);
    return kept === events ? events : kept;
  }

  /** The head sampler for a span: the agent's rate for its service when following the agent, else the configured one. */
  private headFor(span: Span | undefined): ProbabilitySampler {
    if (!this.config.follow_datadog_agent || !span) return this.head;
    const service = String(span.resource['service.name'] ?? '');
    const env = String(span.resource['deployment.environment.name'] ?? span.resource['deployment.environment'] ?? '');
    const rate = agentRateFor(service, env);
    if (rate === undefined) return this.head;
    let sampler = this.agentSamplers.get(rate);
    if (!sampler) {
      sampler = probabilitySampler(rate * 100, this.mode, this.config.sampling_precision, this.config.hash_seed);
      if (this.agentSamplers.size > 64) this.agentSamplers.clear();
      this.agentSamplers.set(rate, sampler);
    }
    return sampler;
  }

  private headKeep(span: Span): Span | null {
    const head = this.headFor(span);
    if (head.decide(span.traceId, span.traceState)) {
      if (head.th !== undefined && head.th !== '0') span.traceState = withThreshold(span.traceState, head.th);
      return span;
    }
    return null;
  }

  private priority(span: Span): boolean {
    const keep = this.config.always_keep;
    if (keep.errors && span.status.code === 'error') return true;
    const score = span.attributes['scope.anomaly.score'];
    return keep.anomaly_score !== undefined && typeof score === 'number' && score >= keep.anomaly_score;
  }

  process(batch: Batch, nowMs: number): Batch {
    const events = this.events(batch.events);
    let spans: Span[];
    if (!this.tail) {
      spans = [];
      for (const s of batch.spans) {
        const kept = this.priority(s) || (this.config.always_keep.crashes && this.crashed.has(s.traceId)) ? s : this.headKeep(s);
        if (kept) spans.push(kept);
      }
      this.drop('head_probabilistic', batch.spans.length - spans.length);
    } else {
      spans = [];
      for (const s of batch.spans) {
        const known = this.decided.get(s.traceId);
        if (known !== undefined) {
          if (known) spans.push(s);
          else this.drop('late_span_of_dropped_trace', 1);
          continue;
        }
        let trace = this.held.get(s.traceId);
        if (!trace) {
          trace = { spans: [], firstMs: nowMs, error: false, crash: this.crashed.has(s.traceId), maxScore: 0 };
          this.held.set(s.traceId, trace);
          if (this.held.size > (this.config.tail?.num_traces ?? 50_000)) {
            const [oldestId, oldest] = this.held.entries().next().value as [string, HeldTrace];
            this.evictedEarly++;
            spans.push(...this.decide(oldestId, oldest, nowMs));
          }
        }
        trace.spans.push(s);
        if (s.status.code === 'error') trace.error = true;
        const score = s.attributes['scope.anomaly.score'];
        if (typeof score === 'number' && score > trace.maxScore) trace.maxScore = score;
      }
      spans.push(...this.due(nowMs));
    }
    return { events, spans, metrics: batch.metrics };
  }

  /** Traces whose wait is over. */
  due(nowMs: number): Span[] {
    const out: Span[] = [];
    for (const [id, trace] of this.held) {
      if (nowMs - trace.firstMs < this.waitMs) break; // insertion order = arrival order
      out.push(...this.decide(id, trace, nowMs));
    }
    return out;
  }

  flush(nowMs: number): Span[] {
    const out: Span[] = [];
    for (const [id, trace] of this.held) out.push(...this.decide(id, trace, nowMs));
    return out;
  }

  private decide(traceId: string, trace: HeldTrace, nowMs: number): Span[] {
    this.held.delete(traceId);
    const keep = this.config.always_keep;
    let sampled: boolean;
    let reason: string;
    if ((keep.errors && trace.error) || (keep.crashes && (trace.crash || this.crashed.has(traceId)))
      || (keep.anomaly_score !== undefined && trace.maxScore >= keep.anomaly_score)) {
      sampled = true;
      reason = 'always_keep';
    } else {
      const verdicts = this.policies.map((p) => [p.name, p.evaluate(trace, traceId, nowMs)] as const);
      const dropper = verdicts.find(([, v]) => v === 'drop');
      const sampler = verdicts.find(([, v]) => v === 'sample');
      if (dropper) {
        sampled = false;
        reason = `policy:${dropper[0]}`;
      } else if (sampler) {
        sampled = true;
        reason = `policy:${sampler[0]}`;
      } else {
        const head = this.headFor(trace.spans[0]);
        sampled = head.decide(traceId, trace.spans[0]?.traceState);
        reason = 'head_probabilistic';
        if (sampled && head.th !== undefined && head.th !== '0') for (const s of trace.spans) s.traceState = withThreshold(s.traceState, head.th);
      }
    }
    this.decision(`${sampled ? 'sampled' : 'not_sampled'}:${reason}`);
    this.decided.set(traceId, sampled);
    if (this.decided.size > (this.config.tail?.decision_cache ?? 100_000)) this.decided.delete(this.decided.keys().next().value as string);
    if (sampled) return trace.spans;
    this.drop(reason === 'head_probabilistic' ? 'tail_not_sampled' : `tail_${reason}`, trace.spans.length);
    return [];
  }

  get heldTraces(): number {
    return this.held.size;
  }
}
