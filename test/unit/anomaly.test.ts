/** The anomaly scorer on hand-made streams: span scores, burst detection, event rate limit, bounded keys, persistence. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScopeEvent, Span } from '../../src/model/types.js';
import { AnomalyScorer, type AnomalyOptions } from '../../src/processors/anomaly/anomaly.js';
import { poissonTail } from '../../src/processors/anomaly/poisson.js';
import { defaultConfig } from '../../bench/anomaly.js';
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
