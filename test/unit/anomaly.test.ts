/** The anomaly scorer on hand-made streams: span scores (and their ranking under contamination), burst detection, event rate limit, bounded keys, persistence. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScopeEvent, Span } from '../../src/model/types.js';
import { AnomalyScorer, normalQuantile, type AnomalyOptions } from '../../src/processors/anomaly/anomaly.js';
import { poissonTail } from '../../src/processors/anomaly/poisson.js';
import { contaminatedKey, defaultConfig, precisionAtK, scoreKey } from '../../bench/anomaly.js';
import { prng } from '../helpers.js';

const T0 = 1_764_000_000_000_000_000n;
const random = prng(3);
const gauss = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());

function scorer(overrides: Partial<AnomalyOptions> = {}, config = defaultConfig()) {
  const detected: string[] = [];
  const evicted: string[] = [];
  const s = new AnomalyScorer(config, {
    component: 'anomaly', bucketNs: () => 10_000_000_000n, windowNs: 300_000_000_000n, eventEveryMs: 60_000,
    onDetection: (k) => detected.push(k), onEvict: (k) => evicted.push(k), ...overrides,
  });
  return { s, detected, evicted };
}

let n = 0;
function span(name: string, atS: number, micros: number): Span {
  const start = T0 + BigInt(Math.round(atS * 1e9));
  return {
    traceId: (++n).toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), name, spanKind: 'server',
    startTimeUnixNano: start, endTimeUnixNano: start + BigInt(Math.round(micros * 1000)),
    attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop', 'beam.node': 'shop@host' },
  };
}

describe('poissonTail', () => {
  it('matches the distribution', () => {
    assert.ok(Math.abs(poissonTail(1, 0.2) - (1 - Math.exp(-0.2))) < 1e-12);
    assert.ok(Math.abs(poissonTail(2, 1) - (1 - 2 * Math.exp(-1))) < 1e-12);
    assert.equal(poissonTail(0, 5), 1);
    assert.ok(poissonTail(500, 2) < 1e-300 || poissonTail(500, 2) === 0);
    assert.ok(poissonTail(10_000, 9_000) < 1e-20 && poissonTail(9_000, 9_000) > 0.4);
  });
});

describe('normalQuantile', () => {
  it('matches the standard normal quantiles', () => {
    assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
    assert.ok(Math.abs(normalQuantile(0.75) - 0.6744897501960817) < 1e-8);
    assert.ok(Math.abs(normalQuantile(0.99) - 2.3263478740408408) < 1e-8);
    assert.ok(Math.abs(normalQuantile(0.9999) - 3.7190164854556804) < 1e-7);
    assert.ok(Math.abs(normalQuantile(0.01) + 2.3263478740408408) < 1e-8);
  });
});

const scoreOf = (sp: Span): number | undefined => sp.attributes['scope.anomaly.score'] as number | undefined;
/** The reference in µs a scored span was compared to, from scope.anomaly.expected (p99=12.345ms). */
const referenceOf = (sp: Span): number => Number(/=(\d+\.\d+)ms$/.exec(String(sp.attributes['scope.anomaly.expected']))?.[1]) * 1000;

describe('AnomalyScorer', () => {
  it('no score before min_samples; then slow spans get a score, the expected quantile and a reason; a regression is one rate-limited event', () => {
    const { s, detected } = scorer();
    const normal = Array.from({ length: 199 }, (_, i) => span('GET /users/:id', i * 0.1, 10_000 * Math.exp(0.3 * gauss())));
    s.process({ events: [], spans: [...normal, span('GET /users/:id', 20, 500_000)], metrics: [] }, 0);
    assert.equal(normal.concat().some((sp) => 'scope.anomaly.score' in sp.attributes), false);
    const out = s.process({ events: [], spans: Array.from({ length: 400 }, (_, i) => span('GET /users/:id', 30 + i * 0.01, i < 100 ? 10_000 : 200_000)), metrics: [] }, 0);
    const slow = out.spans.filter((sp) => typeof sp.attributes['scope.anomaly.score'] === 'number');
    // In its first window a key's baseline is its own sketch, re-read every 256 spans: a lasting shift is
    // learned then (after a full window the previous window is the baseline). The first ones are scored.
    assert.ok(slow.length >= 100 && slow.every((sp) => sp.endTimeUnixNano - sp.startTimeUnixNano === 200_000_000n), `${slow.length} slow spans scored`);
    const score = slow[0].attributes['scope.anomaly.score'] as number;
    assert.ok(score > 0 && score <= 1);
    assert.equal(slow[0].attributes['scope.anomaly.reason'], 'latency');
    assert.match(String(slow[0].attributes['scope.anomaly.expected']), /^p99=\d+\.\d{3}ms$/);
    const events = out.events.filter((e) => e.type === 'anomaly.detected');
    assert.equal(events.length, 1, 'one event per key per event_every');
    assert.ok(detected.filter((k) => k === 'latency').length > 1, 'every detection counted');
    assert.equal(events[0].attributes['anomaly.key'], 'shop GET /users/:id');
    assert.ok(events[0].traceId && events[0].spanId);
  });

  it('a key contaminated from its first span (3 % of spans 10–30× slower, interleaved): ranked by score, precision at k = number injected ≥ 0.9', () => {
    for (const seed of [1, 2, 3, 4]) {
      const { spans, injected } = contaminatedKey(seed);
      // Contaminated from the start: injected spans among the warm-up's, so they are in every baseline.
      assert.ok(injected.size > 100 && spans.slice(0, 200).some((sp) => injected.has(sp)), `${injected.size} injected`);
      const { detections } = scoreKey(spans);
      const precision = precisionAtK(spans, injected);
      assert.ok(precision >= 0.9, `seed ${seed}: precision at ${injected.size} = ${precision.toFixed(3)}`);
      // Ranked, not capped into ties: every score below 1, the injected ones (nearly) all distinct.
      const scores = spans.map(scoreOf).filter((x): x is number => x !== undefined);
      assert.ok(scores.every((x) => x > 0 && x < 1));
      const injectedScores = [...injected].map(scoreOf).filter((x): x is number => x !== undefined);
      assert.ok(new Set(injectedScores).size >= 0.95 * injectedScores.length, `${new Set(injectedScores).size} distinct of ${injectedScores.length}`);
      // A slow path that was always there is the key's normal: no regression.
      assert.equal(detections, 0, `seed ${seed}: regressions detected`);
    }
  });

  it('a score is 1 − reference / duration: 0.5 at twice the robust p99, 0.9 at ten times, 0.99 at a hundred, and keeps rising', () => {
    const { s } = scorer();
    s.process({ events: [], spans: Array.from({ length: 400 }, (_, i) => span('GET /score', i * 0.1, 10_000 * Math.exp(0.3 * gauss()))), metrics: [] }, 0);
    // The reference is the p99 of a log-normal fitted by median and MAD: about 10 ms × e^(0.3 × 2.326) ≈ 20 ms.
    const probe = s.process({ events: [], spans: [span('GET /score', 50, 1_000_000)], metrics: [] }, 0).spans[0];
    const ref = referenceOf(probe);
    assert.ok(ref > 15_000 && ref < 26_000, `reference ${ref} µs`);
    const times = [1.5, 2, 10, 100, 1000, 10_000];
    const out = s.process({ events: [], spans: times.map((x, i) => span('GET /score', 51 + i, ref * x)), metrics: [] }, 0).spans;
    const scores = out.map((sp) => scoreOf(sp) as number);
    times.forEach((x, i) => assert.ok(Math.abs(scores[i] - (1 - 1 / x)) < 2e-3, `${x}× → ${scores[i]}`));
    for (let i = 1; i < scores.length; i++) assert.ok(scores[i] > scores[i - 1], `scores rise: ${scores.join(', ')}`);
    assert.ok(scores.every((x) => x < 1));
  });

  it('regressions are tested against the baseline\'s own share beyond the reference: an always-present 10 % slow path is not one, the slow path growing to 60 % is', () => {
    const { s, detected } = scorer();
    const r = prng(11);
    const mixed = (from: number, count: number, share: number): Span[] =>
      Array.from({ length: count }, (_, i) => span('GET /slowpath', from + i * 0.25, 10_000 * Math.exp(0.3 * gauss()) * (r() < share ? 20 : 1)));
    // 12 minutes at 10 %: the first window and two baselines.
    s.process({ events: [], spans: mixed(0, 2880, 0.1), metrics: [] }, 0);
    assert.equal(detected.filter((k) => k === 'latency').length, 0, 'a steady slow path is no regression');
    const out = s.process({ events: [], spans: mixed(720, 400, 0.6), metrics: [] }, 0);
    assert.ok(detected.filter((k) => k === 'latency').length > 0, 'the slow path growing is');
    const event = out.events.find((e) => e.type === 'anomaly.detected');
    assert.equal(event?.attributes['anomaly.key'], 'shop GET /slowpath');
  });

  it('one span a million times slower, or one of zero length, does not fold the baseline: later spans are scored against the key\'s median', () => {
    const { s } = scorer();
    const normal = (from: number, count: number): Span[] => Array.from({ length: count }, (_, i) => span('GET /outlier', from + i * 0.1, 10_000 * Math.exp(0.3 * gauss())));
    const out = s.process({
      events: [],
      spans: [...normal(0, 50), span('GET /outlier', 5.5, 10_000 * 1e6), span('GET /outlier', 5.6, 0), ...normal(6, 400), span('GET /outlier', 60, 100_000)],
      metrics: [],
    }, 0);
    const last = out.spans[out.spans.length - 1];
    const ref = referenceOf(last);
    assert.ok(ref > 15_000 && ref < 26_000, `reference ${ref} µs (10 ms median, σ 0.3)`);
    assert.ok((scoreOf(last) as number) > 0.7, `a 10× span scored ${scoreOf(last)}`);
  });

  it('a crash burst from one worker type is detected; a single crash is not', () => {
    const { s } = scorer();
    const crash = (atS: number, mfa: string): ScopeEvent => ({
      id: `c${++n}`, type: 'process.crash', schemaVersion: 1, time: T0 + BigInt(Math.round(atS * 1e9)), source: { node: 'shop@host', component: 'c' },
      pid: `<0.${n}.0>`, attributes: { 'beam.mfa': mfa },
    });
    let out = s.process({ events: [crash(1, 'lonely:init/1')], spans: [], metrics: [] }, 0);
    assert.equal(out.events.filter((e) => e.type === 'anomaly.detected').length, 0);
    out = s.process({ events: Array.from({ length: 10 }, (_, i) => crash(100 + i * 0.1, 'burst:init/1')), spans: [], metrics: [] }, 0);
    const d = out.events.filter((e) => e.type === 'anomaly.detected');
    assert.equal(d.length, 1);
    assert.equal(d[0].attributes['anomaly.kind'], 'crash_burst');
    assert.equal(d[0].attributes['anomaly.observed'], 6, 'at the sixth crash (P(X ≥ 6 | 0.2) < 1e-6)');
  });

  it('abnormal exits count per node until process.crash events show a correlation processor explains them', () => {
    const { s } = scorer();
    const exit = (atS: number, reason: string): ScopeEvent => ({
      id: `x${++n}`, type: 'process.exit', schemaVersion: 1, time: T0 + BigInt(Math.round(atS * 1e9)), source: { node: 'shop@host', component: 't' },
      pid: `<0.${n}.0>`, attributes: { 'beam.reason': reason },
    });
    const normal = s.process({ events: Array.from({ length: 20 }, (_, i) => exit(1 + i * 0.1, 'normal')), spans: [], metrics: [] }, 0);
    assert.equal(normal.events.filter((e) => e.type === 'anomaly.detected').length, 0);
    const crashes = s.process({ events: Array.from({ length: 20 }, (_, i) => exit(50 + i * 0.1, '{badarg,[]}')), spans: [], metrics: [] }, 0);
    const d = crashes.events.filter((e) => e.type === 'anomaly.detected');
    assert.deepEqual(d.map((e) => [e.attributes['anomaly.kind'], e.attributes['anomaly.key']]), [['crash_burst', 'exit|shop@host']]);
  });

  it('max_keys: the least recently used key is evicted and counted; memory per key is fixed', () => {
    const config = { ...defaultConfig(), max_keys: 100 };
    const { s, evicted } = scorer({}, config);
    s.process({ events: [], spans: Array.from({ length: 1000 }, (_, i) => span(`k${i}`, i, 1000)), metrics: [] }, 0);
    assert.equal(evicted.filter((k) => k === 'latency').length, 900);
    assert.ok(s.keys <= 100 * 6);
  });

  it('baselines survive a restart: saved, loaded, and a slow span is scored at once', () => {
    const { s } = scorer();
    s.process({ events: [], spans: Array.from({ length: 500 }, (_, i) => span('GET /', i * 0.1, 10_000 * Math.exp(0.2 * gauss()))), metrics: [] }, 0);
    const saved = s.save();
    const { s: restarted } = scorer();
    assert.equal(restarted.load(saved), 1);
    const out = restarted.process({ events: [], spans: [span('GET /', 100, 1_000_000)], metrics: [] }, 0);
    assert.ok((out.spans[0].attributes['scope.anomaly.score'] as number) > 0.9, 'scored against the restored baseline');
    assert.throws(() => restarted.load('{"version":2}'), /version 1/);
  });
});
