/**
 * Sampling. The probabilistic decisions are checked against the Collector's
 * probabilistic_sampler as its documentation and the OpenTelemetry sampling
 * specification define them — expected values are computed here from those
 * definitions (exact integer arithmetic), plus the published examples — not
 * taken from our own code.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Span } from '../../src/model/types.js';
import type { SamplingConfig } from '../../src/processors/sampling/config.js';
import { encodeThreshold, probabilitySampler, thresholdFor } from '../../src/processors/sampling/probability.js';
import { Sampler } from '../../src/processors/sampling/sampler.js';
import { prng } from '../helpers.js';
import { setAgentRates } from '../../src/util/agent_rates.js';

const random = prng(9);
const hex = (bytes: number): string => Array.from({ length: bytes }, () => Math.floor(random() * 256).toString(16).padStart(2, '0')).join('');

/** The spec's threshold for probability k/d: 2^56 − round(2^56·k/d), rounded to `digits` hex digits (half up). */
function specThreshold(k: bigint, d: bigint, digits: number): bigint {
  const scaled = ((1n << 56n) * k * 2n + d) / (2n * d); // round half up
  let t = (1n << 56n) - scaled;
  const shift = BigInt(4 * (14 - digits));
  if (shift > 0n) t = ((t + (1n << (shift - 1n))) >> shift) << shift;
  return t;
}

/** FNV-1a 32, from its definition (offset basis 2166136261, prime 16777619). */
function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 16777619n) % 2n ** 32n;
  return Number(h);
}

describe('probabilistic decision, as the Collector makes it', () => {
  it('published examples: 25 % is th:c, 50 % th:8; a randomness of 9b8233f7e3a151 is sampled at 50 %', () => {
    assert.equal(encodeThreshold(thresholdFor(0.25, 4)), 'c');
    assert.equal(encodeThreshold(thresholdFor(0.5, 4)), '8');
    assert.equal(encodeThreshold(thresholdFor(1, 4)), '0');
    assert.equal(encodeThreshold(thresholdFor(0.1, 4)), 'e666');
    const fifty = probabilitySampler(50, 'proportional', 4, 0);
    assert.equal(fifty.decide('00000000000000000000000000000000', 'ot=th:0;rv:9b8233f7e3a151'), true);
    assert.equal(fifty.decide('00000000000000000000000000000000', 'ot=rv:7b8233f7e3a151'), false);
  });

  it('proportional: the spec\'s threshold for percentages 1..99 and 1 000 random trace ids, R ≥ T', () => {
    for (let pct = 1; pct <= 99; pct++) {
      // Precision 4, one more digit per leading 0/f the spec's rule adds near 0 and 1 (here: below 1/16 or above 15/16).
      const digits = pct < 100 / 16 || pct > 100 - 100 / 16 ? 5 : 4;
      const expectedT = specThreshold(BigInt(pct), 100n, digits);
      assert.equal(thresholdFor(pct / 100, 4), expectedT, `threshold at ${pct} %`);
      const sampler = probabilitySampler(pct, 'proportional', 4, 0);
      for (let i = 0; i < 10; i++) {
        const id = hex(16);
        const r = BigInt(`0x${id.slice(18)}`);
        assert.equal(sampler.decide(id), r >= expectedT, `${id} at ${pct} %`);
      }
    }
  });

  it('hash_seed: FNV-1a of the seed and the trace id bytes, low 14 bits below ⌊pct·163.84⌋', () => {
    assert.equal(fnv1a(new Uint8Array()), 0x811c9dc5);
    assert.equal(fnv1a(new TextEncoder().encode('a')), 0xe40c292c, 'the published FNV-1a test vector');
    for (const [pct, seed] of [[10, 0], [25, 42], [50, 7], [0.5, 123456]] as const) {
      const sampler = probabilitySampler(pct, 'hash_seed', 4, seed);
      const scaled = Math.floor(Math.fround(Math.fround(pct) * Math.fround(163.84)));
      let kept = 0;
      for (let i = 0; i < 1000; i++) {
        const id = hex(16);
        const bytes = new Uint8Array([seed & 255, (seed >>> 8) & 255, (seed >>> 16) & 255, seed >>> 24, ...Buffer.from(id, 'hex')]);
        const expected = (fnv1a(bytes) & 0x3fff) < scaled;
        assert.equal(sampler.decide(id), expected, `${id} at ${pct} % seed ${seed}`);
        if (expected) kept++;
      }
      assert.ok(Math.abs(kept - pct * 10) < 6 * Math.sqrt(1000 * (pct / 100) * (1 - pct / 100)) + 1, `${kept} of 1000 at ${pct} %`);
    }
  });
});

function config(overrides: Partial<SamplingConfig> = {}): SamplingConfig {
  return {
    sampling_percentage: 1, follow_datadog_agent: false, hash_seed: 0, sampling_precision: 4, event_sample_rate: {},
    always_keep: { errors: true, crashes: true, anomaly_score: 0.8 },
    tail: { decision_wait: '10s', num_traces: 50_000, decision_cache: 100_000, policies: [{ name: 'slow', type: 'latency', threshold_ms: 500 }] },
    ...overrides,
  };
}

let seq = 0;
function span(traceId: string, overrides: Partial<Span> = {}): Span {
  const start = 1_764_000_000_000_000_000n;
  return {
    traceId, spanId: (++seq).toString(16).padStart(16, '0'), name: 'work', spanKind: 'internal',
    startTimeUnixNano: start, endTimeUnixNano: start + 2_000_000n, attributes: {}, events: [], links: [],
    status: { code: 'unset' }, resource: {}, ...overrides,
  };
}

describe('tail sampling at a 1 % base rate', () => {
  it('keeps the slow, error, crash and anomalous traces whole; cuts 10 000 boring ones to about 1 %', () => {
    const s = new Sampler(config(), 10_000);
    const slow = hex(16);
    const error = hex(16);
    const crash = hex(16);
    const anomalous = hex(16);
    const boring = Array.from({ length: 10_000 }, () => hex(16));
    const special = [
      span(slow), span(slow, { endTimeUnixNano: 1_764_000_000_900_000_000n }),
      span(error), span(error, { status: { code: 'error', message: 'boom' } }),
      span(crash), span(crash),
      span(anomalous), span(anomalous, { attributes: { 'scope.anomaly.score': 0.93 } }),
    ];
    const crashEvent = { id: 'c1', type: 'process.crash', schemaVersion: 1, time: 1n, source: { node: 'n', component: 'correlation' }, pid: '<0.1.0>', traceId: crash, attributes: {} };
    let out = s.process({ events: [crashEvent], spans: [...special, ...boring.flatMap((id) => [span(id), span(id)])], metrics: [] }, 0);
    assert.equal(out.spans.length, 0, 'held for decision_wait');
    assert.equal(out.events.length, 1, 'events pass');
    out = s.process({ events: [], spans: [], metrics: [] }, 10_000);
    const kept = new Map<string, number>();
    for (const sp of out.spans) kept.set(sp.traceId, (kept.get(sp.traceId) ?? 0) + 1);
    for (const id of [slow, error, crash, anomalous]) assert.equal(kept.get(id), 2, 'kept whole');
    const keptBoring = boring.filter((id) => kept.has(id)).length;
    // Binomial(10 000, 0.01): mean 100, sd 9.95; the bound is ±5 sd.
    assert.ok(keptBoring >= 50 && keptBoring <= 150, `${keptBoring} boring traces kept`);
    for (const id of boring) if (kept.has(id)) assert.equal(kept.get(id), 2);
    const dropped = [...s.drops.values()].reduce((a, b) => a + b, 0);
    assert.equal(dropped, (10_000 - keptBoring) * 2, 'every span sampled out is counted');
    // Kept by the head rate: the threshold is in tracestate.
    const headKept = out.spans.find((sp) => boring.includes(sp.traceId));
    assert.match(String(headKept?.traceState), /^ot=th:fd70a$/);
  });

  it('spans out of order or late still make whole traces: late spans follow the decision', () => {
    const s = new Sampler(config({ sampling_percentage: 0 }), 1_000);
    const error = hex(16);
    const boring = hex(16);
    // The error span arrives last, after its children.
    let out = s.process({ events: [], spans: [span(error, { parentSpanId: 'a' }), span(boring)], metrics: [] }, 0);
    out = s.process({ events: [], spans: [span(error, { status: { code: 'error' } })], metrics: [] }, 500);
    assert.equal(out.spans.length, 0);
    out = s.process({ events: [], spans: [], metrics: [] }, 1_000);
    assert.deepEqual(out.spans.map((sp) => sp.traceId), [error, error]);
    // A straggler after the decision joins its trace; one of a dropped trace is dropped and counted.
    out = s.process({ events: [], spans: [span(error), span(boring)], metrics: [] }, 5_000);
    assert.deepEqual(out.spans.map((sp) => sp.traceId), [error]);
    assert.equal(s.drops.get('late_span_of_dropped_trace'), 1);
  });

  it('policies: an inverted attribute match drops (the Collector\'s rule), rate limiting caps spans per second', () => {
    const s = new Sampler(config({
      sampling_percentage: 100,
      tail: { decision_wait: '1s', num_traces: 10, decision_cache: 100, policies: [{ name: 'no-health', type: 'attribute', key: 'http.route', values: ['/health'], invert: true }] },
    }), 1_000);
    const health = hex(16);
    const api = hex(16);
    s.process({ events: [], spans: [span(health, { attributes: { 'http.route': '/health' } }), span(api, { attributes: { 'http.route': '/api' } })], metrics: [] }, 0);
    const out = s.process({ events: [], spans: [], metrics: [] }, 1_000);
    assert.deepEqual(out.spans.map((sp) => sp.traceId), [api]);
    assert.equal(s.drops.get('tail_policy:no-health'), 1);

    const limited = new Sampler(config({
      sampling_percentage: 0,
      tail: { decision_wait: '1s', num_traces: 100, decision_cache: 1000, policies: [{ name: 'cap', type: 'rate_limiting', spans_per_second: 10 }] },
    }), 1_000);
    limited.process({ events: [], spans: Array.from({ length: 30 }, () => span(hex(16))), metrics: [] }, 0);
    assert.equal(limited.process({ events: [], spans: [], metrics: [] }, 1_000).spans.length, 10);
  });

  it('composite: sub-policies in order, each within its share of the span budget per second', () => {
    const s = new Sampler(config({
      sampling_percentage: 0,
      tail: {
        decision_wait: '1s', num_traces: 1000, decision_cache: 1000,
        policies: [{
          name: 'budget', type: 'composite', max_total_spans_per_second: 20, policy_order: ['slow', 'rest'],
          composite_sub_policy: [{ name: 'slow', type: 'latency', threshold_ms: 500 }, { name: 'rest', type: 'probabilistic', sampling_percentage: 100 }],
          rate_allocation: [{ policy: 'slow', percent: 50 }, { policy: 'rest', percent: 25 }],
        }],
      },
    }), 1_000);
    const slow = Array.from({ length: 8 }, () => span(hex(16), { endTimeUnixNano: 1_764_000_001_000_000_000n }));
    const fast = Array.from({ length: 8 }, () => span(hex(16)));
    s.process({ events: [], spans: [...slow, ...fast], metrics: [] }, 0);
    const out = s.process({ events: [], spans: [], metrics: [] }, 1_000);
    const kept = new Set(out.spans.map((sp) => sp.traceId));
    // slow: 10 spans a second (50 % of 20) → 8 slow traces of 1 span each fit; rest: 5 a second → 5 fast ones.
    assert.equal(slow.filter((sp) => kept.has(sp.traceId)).length, 8);
    assert.equal(fast.filter((sp) => kept.has(sp.traceId)).length, 5);
  });

  it('num_traces bounds memory: the oldest trace is decided early and counted', () => {
    const s = new Sampler(config({ sampling_percentage: 100, tail: { decision_wait: '1h', num_traces: 100, decision_cache: 1000, policies: [] } }), 3_600_000);
    const out = s.process({ events: [], spans: Array.from({ length: 150 }, () => span(hex(16))), metrics: [] }, 0);
    assert.equal(s.heldTraces, 100);
    assert.equal(s.evictedEarly, 50);
    assert.equal(out.spans.length, 50);
  });
});

describe('following the Datadog agent', () => {
  it('uses the agent\'s rate_by_service for the span\'s service and env once it answered, the configured rate before', () => {
    const s = new Sampler(config({ tail: undefined, sampling_percentage: 100, follow_datadog_agent: true }), 0);
    const batch = () => ({ events: [], spans: Array.from({ length: 2_000 }, () => span(hex(16), { resource: { 'service.name': 'shop', 'deployment.environment.name': 'prod' } })), metrics: [] });
    setAgentRates({});
    assert.equal(s.process(batch(), 0).spans.length, 2_000, 'no answer yet: the configured 100 %');
    setAgentRates({ 'service:shop,env:prod': 0.25, 'service:,env:': 1 });
    const kept = s.process(batch(), 0).spans.length;
    // Binomial(2000, 0.25): sd 19.4; ±5 sd.
    assert.ok(kept >= 403 && kept <= 597, `${kept} of 2000 kept at the agent's 25 %`);
    setAgentRates({});
  });
});

describe('raw events by type', () => {
  it('message.* at 0.1 keeps about a tenth; other types and crashes all pass', () => {
    const s = new Sampler(config({ tail: undefined, sampling_percentage: 100, event_sample_rate: { 'message.*': 0.1 } }), 0);
    const events = Array.from({ length: 10_000 }, (_, i) => ({
      id: `ev-${i}-${hex(4)}`, type: i % 2 ? 'message.send' : 'message.receive', schemaVersion: 1, time: 1n,
      source: { node: 'n', component: 't' }, pid: '<0.1.0>', attributes: {},
    }));
    const others = Array.from({ length: 100 }, (_, i) => ({ ...events[0], id: `o${i}`, type: 'process.spawn' }));
    const out = s.process({ events: [...events, ...others], spans: [], metrics: [] }, 0);
    const messages = out.events.filter((e) => e.type.startsWith('message.')).length;
    // Binomial(10 000, 0.1): sd 30; ±5 sd.
    assert.ok(messages >= 850 && messages <= 1150, `${messages} message events kept`);
    assert.equal(out.events.filter((e) => e.type === 'process.spawn').length, 100);
    assert.equal(s.drops.get('event_sample_rate'), 10_000 - messages);
  });
});
