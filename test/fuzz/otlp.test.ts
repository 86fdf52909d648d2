/**
 * Fuzz properties of the otlp receiver's decoding (src/receivers/otlp:
 * receive() over decodeProtobuf, the trace wire reader, checkNesting,
 * protobufjs and convert.ts), driven without a socket: random and damaged
 * protobuf, random and corrupted OTLP/JSON give an `ok` or `invalid`
 * outcome (never a throw), and what is taken is well formed and within the
 * receiver's limits; nesting is refused exactly beyond 64 on every path; and
 * valid spans come out as they went in, over protobuf and JSON alike.
 * Seeds and run counts: test/fuzz/fuzz_params.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metrics } from '@opentelemetry/api';
import fc from 'fast-check';
import type { ReceiverContext } from '../../src/component/types.js';
import type { AttributeValue, Attributes, Batch } from '../../src/model/types.js';
import type { Signal } from '../../src/otel/proto.js';
import type { Msg } from '../../src/receivers/otlp/convert.js';
import { ingest, receive, type IngestOutcome, type OtlpRuntime } from '../../src/receivers/otlp/ingest.js';
import { otlpTypes } from '../../src/otel/proto.js';
import { DEFAULT_LIMITS, DROPPED_ATTRIBUTES, MAX_DEPTH, MAX_TIME_NANOS, type ItemLimits } from '../../src/receivers/otlp/limits.js';
import { createOtlpInstruments } from '../../src/receivers/otlp/metrics.js';
import { ProblemReporter, silentLogger } from '../../src/util/logger.js';
import { fuzz, runs, Tally } from './fuzz_params.js';
import { mutate, mutationsArbitrary, places } from './mutate.js';
import {
  anyValueArbitrary, expectedSpans, expectedValue, jsonBody, protobufBytes, protobufBytesByHand, requestArbitrary, spanArbitrary,
  type AnyV, type JsonStyle, type KV, type RequestM,
} from './otlp_model.js';

// ---- a receiver runtime without a server -----------------------------------------------------

const meter = metrics.getMeter('fuzz');
const instruments = createOtlpInstruments(meter);

/** An OtlpRuntime whose pipeline takes every batch and keeps it. */
class Harness {
  batches: Batch[] = [];
  refused: Array<{ count: number; reason: string }> = [];
  readonly rt: OtlpRuntime;

  constructor(limits: ItemLimits = DEFAULT_LIMITS) {
    const ctx: ReceiverContext = {
      id: 'otlp/fuzz', type: 'otlp', kind: 'receiver', logger: silentLogger, problems: new ProblemReporter(silentLogger), meter,
      reportStatus: () => undefined,
      countRefused: (count, reason) => {
        this.refused.push({ count, reason });
      },
      consumer: {
        consume: (batch) => {
          this.batches.push(batch);
          return { status: 'accepted', acceptedItems: batch.events.length + batch.spans.length + batch.metrics.length, rejectedItems: 0, rejections: [] };
        },
        ready: () => true,
        refusalNow: () => null,
        whenReady: async () => undefined,
      },
    };
    this.rt = { ctx, limits, instruments };
  }

  /** receive(), with a throw failing the property (naming the input). */
  run(signal: Signal, body: { protobuf: Uint8Array } | { json: Msg }): IngestOutcome {
    this.batches = [];
    this.refused = [];
    try {
      return receive(signal, body, this.rt, { protocol: 'http' });
    } catch (error) {
      const input = 'protobuf' in body ? `protobuf ${Buffer.from(body.protobuf).toString('hex').slice(0, 400)}` : `JSON ${JSON.stringify(body.json).slice(0, 400)}`;
      throw new Error(`receive(${signal}) threw ${(error as Error)?.name}: ${(error as Error)?.message} on ${input}`, { cause: error });
    }
  }
}

const DEFAULT = new Harness();
/** Limits small enough that random requests reach them: cutting and dropping are exercised too. */
const SMALL = new Harness({ maxAttributes: 3, maxValueBytes: 12 });

// ---- what any outcome must be ----------------------------------------------------------------

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO = /^0+$/;

function assertTime(t: unknown, what: string): void {
  assert.ok(typeof t === 'bigint' && t >= 0n && t <= MAX_TIME_NANOS, `${what}: ${String(t)} is not a time in range`);
}

/** An id of the right length in lowercase hex; `nonZero` where the receiver refuses all-zero ones (spans, not links: see its README). */
function assertId(v: unknown, re: RegExp, what: string, nonZero = true): void {
  assert.ok(typeof v === 'string' && re.test(v) && !(nonZero && ZERO.test(v)), `${what}: ${String(v)}`);
}

/** An attribute value as the data model has them: nested at most MAX_DEPTH, cut to the limits when `cut`. */
function assertValue(v: AttributeValue, depth: number, limits: ItemLimits, cut: boolean, what: string): void {
  assert.ok(depth <= MAX_DEPTH, `${what}: nested deeper than ${MAX_DEPTH}`);
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return;
  if (typeof v === 'string') {
    // A 64-bit integer beyond 2^53 is kept as its decimal text, whatever the size limit.
    if (cut && !/^-?\d{16,20}$/.test(v)) assert.ok(Buffer.byteLength(v) <= limits.maxValueBytes, `${what}: a string of ${Buffer.byteLength(v)} bytes, over ${limits.maxValueBytes}`);
    return;
  }
  if (v instanceof Uint8Array) {
    if (cut) assert.ok(v.length <= limits.maxValueBytes, `${what}: ${v.length} bytes, over ${limits.maxValueBytes}`);
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => assertValue(x, depth + 1, limits, cut, `${what}[${i}]`));
    return;
  }
  assert.equal(typeof v, 'object', `${what}: ${typeof v}`);
  for (const [k, x] of Object.entries(v)) assertValue(x, depth + 1, limits, cut, `${what}.${k}`);
}

function assertAttributes(attrs: Attributes, limits: ItemLimits, what: string): void {
  assert.ok(typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs), `${what}: not a map`);
  const keys = Object.keys(attrs).filter((k) => k !== DROPPED_ATTRIBUTES);
  assert.ok(keys.length <= limits.maxAttributes, `${what}: ${keys.length} attributes, over ${limits.maxAttributes}`);
  for (const k of keys) assertValue(attrs[k], 0, limits, true, `${what}.${k}`);
}

function assertBatch(batch: Batch, limits: ItemLimits): void {
  for (const s of batch.spans) {
    assertId(s.traceId, HEX32, 'span traceId');
    assertId(s.spanId, HEX16, 'span spanId');
    if (s.parentSpanId !== undefined) assertId(s.parentSpanId, HEX16, 'parentSpanId');
    assertTime(s.startTimeUnixNano, 'startTimeUnixNano');
    assertTime(s.endTimeUnixNano, 'endTimeUnixNano');
    assert.ok(['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'].includes(s.spanKind), `spanKind ${s.spanKind}`);
    assert.ok(['unset', 'ok', 'error'].includes(s.status.code), `status ${s.status.code}`);
    assert.equal(typeof s.name, 'string');
    assertAttributes(s.attributes, limits, 'span attributes');
    assertAttributes(s.resource, limits, 'resource');
    for (const e of s.events) {
      assertTime(e.timeUnixNano, 'event time');
      assertAttributes(e.attributes, limits, 'event attributes');
    }
    for (const l of s.links) {
      assertId(l.traceId, HEX32, 'link traceId', false);
      assertId(l.spanId, HEX16, 'link spanId', false);
      assertAttributes(l.attributes, limits, 'link attributes');
    }
  }
  for (const e of batch.events) {
    assert.equal(e.type, 'otel.log');
    assert.ok(typeof e.time === 'bigint' && e.time >= 0n && e.time <= MAX_TIME_NANOS, `log time ${e.time}`);
    if (e.traceId !== undefined) assertId(e.traceId, HEX32, 'log traceId');
    if (e.spanId !== undefined) assertId(e.spanId, HEX16, 'log spanId');
    // Attributes the receiver adds itself (log.severity_text, otel.scope.name…) come on top of the limit.
    assertAttributes(Object.fromEntries(Object.entries(e.attributes).filter(([k]) => !k.startsWith('log.') && k !== 'otel.scope.name')), limits, 'log attributes');
    if (e.body !== undefined) assertValue(e.body, 0, limits, false, 'log body');
  }
  for (const m of batch.metrics) {
    assert.equal(typeof m.name, 'string');
    assert.ok(['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary'].includes(m.type), `metric type ${m.type}`);
    assertTime(m.timeUnixNano, 'metric time');
    if (m.startTimeUnixNano !== undefined) assertTime(m.startTimeUnixNano, 'metric start time');
    assert.equal(typeof m.value, 'number');
    assertAttributes(m.attributes, limits, 'metric attributes');
  }
}

/** Any outcome of a request that is not a pushback: `ok` with well-formed items, or `invalid`, counted, with a reason. */
function assertOutcome(h: Harness, outcome: IngestOutcome): 'ok' | 'invalid' {
  if (outcome.status === 'invalid') {
    assert.ok(['too_deep', 'invalid_value', 'malformed'].includes(outcome.reason), `reason ${outcome.reason}`);
    assert.ok(typeof outcome.message === 'string' && outcome.message.length > 0, 'an invalid request says why');
    assert.ok(h.refused.some((r) => r.reason === outcome.reason && r.count >= 1), `invalid (${outcome.reason}) but not counted: ${JSON.stringify(h.refused)}`);
    assert.equal(h.batches.length, 0, 'an invalid request handed items to the pipeline');
    return 'invalid';
  }
  assert.equal(outcome.status, 'ok', `outcome ${outcome.status}: ${outcome.message}`);
  if (outcome.status !== 'ok') return 'invalid';
  assert.ok(Number.isInteger(outcome.rejected) && outcome.rejected >= 0, `rejected ${outcome.rejected}`);
  assert.ok(h.batches.length <= 1, `${h.batches.length} batches for one request`);
  for (const b of h.batches) assertBatch(b, h.rt.limits);
  return 'ok';
}


const SIGNALS: Signal[] = ['traces', 'logs', 'metrics'];
const styleArbitrary: fc.Arbitrary<JsonStyle> = fc.record({ intsAsNumbers: fc.boolean(), enumNames: fc.boolean(), upperHex: fc.boolean() });

// ---- protobuf ------------------------------------------------------------------------------------

describe('fuzz: OTLP/protobuf decoding', () => {
  it('random and damaged protobuf requests (any signal, at any endpoint) are ok or invalid, never a throw, and what is taken is well formed', () => {
    const bytes = fc.oneof(
      { arbitrary: fc.tuple(requestArbitrary(), mutationsArbitrary, fc.boolean()).map(([req, m, hand]) => ({ signal: req.signal, bytes: mutate(hand ? protobufBytesByHand(req) : protobufBytes(req), m) })), weight: 4 },
      { arbitrary: requestArbitrary().map((req) => ({ signal: req.signal, bytes: protobufBytes(req) })), weight: 1 },
      { arbitrary: fc.uint8Array({ maxLength: 120 }).map((b) => ({ signal: 'traces' as Signal, bytes: b })), weight: 1 },
    );
    const tally = new Tally();
    fuzz(fc.property(bytes, fc.option(fc.constantFrom(...SIGNALS), { freq: 4 }), fc.boolean(), ({ signal, bytes: b }, other, small) => {
      const h = small ? SMALL : DEFAULT;
      const at = other ?? signal;
      const outcome = h.run(at, { protobuf: b });
      tally.add(assertOutcome(h, outcome));
      if (outcome.status === 'invalid') tally.add(outcome.reason);
    }), 1500);
    tally.expect(runs(1500), 0.05, 'ok', 'invalid', 'malformed');
  });
});

// ---- JSON ------------------------------------------------------------------------------------------

/** Values in the wrong place: wrong types, huge and negative numbers, strings for integers, near-misses of the real spelling. */
const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null, true, false, 0, -1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 2, 2 ** 64, 1e21, '', 'abc', '-1', '1e3', ' 12', '0x1f', '1.0',
    '18446744073709551616', '18446744073709551615', '9223372036854775808', '-9223372036854775809', '99999999999999999999999',
    'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR', 'SPAN_KIND_', 'AAAA', '!!notbase64', 'zz'.repeat(16), '0'.repeat(32),
    [], {}, [[]], [{}], { stringValue: 1 }, { arrayValue: 5 }, { arrayValue: { values: {} } }, { kvlistValue: { values: 'x' } },
    { kvlistValue: { values: [1] } }, { intValue: {} }, { intValue: 1.5 }, { bytesValue: 7 }, { values: [{}] }, { key: {} }, { toString: 1 },
    { __proto__: { a: 1 } }, { valueOf: 'x' },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);


/** `levels` arrays or kvlists (cycling through `forms`, true = array) around a string. */
function deepValue(levels: number, forms: boolean[]): AnyV {
  let v: AnyV = { s: 'leaf' };
  for (let i = 0; i < levels; i++) v = (forms.length === 0 || forms[i % forms.length]) ? { arr: [v] } : { kv: [['k', v]] };
  return v;
}

describe('fuzz: OTLP/JSON decoding', () => {
  it('corrupted and random OTLP/JSON requests are ok or invalid, never a throw, and what is taken is well formed', () => {
    const corrupted = fc.tuple(requestArbitrary(), styleArbitrary, fc.array(fc.tuple(fc.nat(), weird), { minLength: 1, maxLength: 4 }))
      .map(([req, style, replacements]) => {
        const json = jsonBody(req, style);
        const where = places(json);
        for (const [at, value] of replacements) {
          if (where.length === 0) break;
          const [container, key] = where[at % where.length];
          (container as Record<string | number, unknown>)[key] = value;
        }
        return { signal: req.signal, json: JSON.parse(JSON.stringify(json)) as Msg };
      });
    const random = fc.tuple(fc.constantFrom(...SIGNALS), fc.jsonValue({ maxDepth: 6 }))
      .map(([signal, v]) => ({ signal, json: { [signal === 'traces' ? 'resourceSpans' : signal === 'logs' ? 'resourceLogs' : 'resourceMetrics']: v } as Msg }));
    const tally = new Tally();
    fuzz(fc.property(fc.oneof({ arbitrary: corrupted, weight: 4 }, random), fc.boolean(), ({ signal, json }, small) => {
      const h = small ? SMALL : DEFAULT;
      const outcome = h.run(signal, { json });
      tally.add(assertOutcome(h, outcome));
    }), 1500);
    tally.expect(runs(1500), 0.05, 'ok', 'invalid');
  });
});

// ---- nesting, either side of the limit, on every path ----------------------------------------------

type Place = 'resource' | 'span' | 'event' | 'link' | 'log' | 'body' | 'point';
const PLACES: Array<[Signal, Place, string]> = [
  ['traces', 'resource', 'resourceSpans[0].resource.attributes[1].value'],
  ['traces', 'span', 'resourceSpans[0].scopeSpans[0].spans[0].attributes[1].value'],
  ['traces', 'event', 'resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes[1].value'],
  ['traces', 'link', 'resourceSpans[0].scopeSpans[0].spans[0].links[0].attributes[1].value'],
  ['logs', 'resource', 'resourceLogs[0].resource.attributes[1].value'],
  ['logs', 'log', 'resourceLogs[0].scopeLogs[0].logRecords[0].attributes[1].value'],
  ['logs', 'body', 'resourceLogs[0].scopeLogs[0].logRecords[0].body'],
  ['metrics', 'resource', 'resourceMetrics[0].resource.attributes[1].value'],
  ['metrics', 'point', 'resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].attributes[1].value'],
];

const ID16 = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const ID8 = Uint8Array.from({ length: 8 }, (_, i) => i + 1);
const T = 1_764_000_000_000_000_000n;

/** A one-item request with `value` as the second attribute (or the body) at `place`. */
function deepRequest(signal: Signal, place: Place, value: AnyV): RequestM {
  const attrs = (here: boolean): KV[] => (here ? [['a', { s: 'x' }], ['deep', value]] : [['a', { s: 'x' }]]);
  const scope = { name: 'fuzz', version: '' };
  if (signal === 'traces') {
    return {
      signal, resources: [{
        attrs: attrs(place === 'resource'),
        scopes: [{
          ...scope, items: [{
            traceId: ID16, spanId: ID8, traceState: '', name: 's', kind: 1, start: T, end: T + 1n, attrs: attrs(place === 'span'),
            events: [{ time: T, name: 'e', attrs: attrs(place === 'event') }],
            links: [{ traceId: ID16, spanId: ID8, traceState: '', attrs: attrs(place === 'link') }],
          }],
        }],
      }],
    };
  }
  if (signal === 'logs') {
    return {
      signal, resources: [{
        attrs: attrs(place === 'resource'),
        scopes: [{
          ...scope, items: [{
            time: T, observed: T, severityNumber: 9, severityText: '', attrs: attrs(place === 'log'), eventName: '',
            ...(place === 'body' ? { body: value } : {}),
          }],
        }],
      }],
    };
  }
  return {
    signal, resources: [{
      attrs: attrs(place === 'resource'),
      scopes: [{ ...scope, items: [{ name: 'm', unit: '', description: '', kind: 'gauge', monotonic: false, points: [{ time: T, start: 0n, value: { double: 1 }, attrs: attrs(place === 'point') }] }] }],
    }],
  };
}

/** Where the deep value lands in what the receiver took. */
function taken(batch: Batch, place: Place): AttributeValue | undefined {
  const item = batch.spans[0] ?? batch.events[0] ?? batch.metrics[0];
  switch (place) {
    case 'resource': return (item as { resource?: Attributes }).resource?.deep;
    case 'span': return batch.spans[0].attributes.deep;
    case 'event': return batch.spans[0].events[0].attributes.deep;
    case 'link': return batch.spans[0].links[0].attributes.deep;
    case 'log': return batch.events[0].attributes.deep;
    case 'body': return batch.events[0].body;
    case 'point': return batch.metrics[0].attributes.deep;
  }
}

describe('fuzz: OTLP nesting limit', () => {
  it(`a value nested up to ${MAX_DEPTH} deep is taken intact and one deeper is refused (too_deep, naming where), over protobuf and JSON, for every signal and place`, () => {
    const levels = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: MAX_DEPTH - 3, max: MAX_DEPTH + 3 }));
    fuzz(fc.property(fc.constantFrom(...PLACES), levels, fc.array(fc.boolean(), { maxLength: 6 }), fc.boolean(), styleArbitrary, ([signal, place, path], n, forms, json, style) => {
      const value = deepValue(n, forms);
      const req = deepRequest(signal, place, value);
      const h = DEFAULT;
      const outcome = h.run(signal, json ? { json: jsonBody(req, style) } : { protobuf: protobufBytesByHand(req) });
      const what = `${n} levels at ${signal} ${place} over ${json ? 'JSON' : 'protobuf'}`;
      if (n <= MAX_DEPTH) {
        assert.equal(outcome.status, 'ok', `${what}: ${outcome.message}`);
        assert.equal(h.batches.length, 1, what);
        assert.deepStrictEqual(taken(h.batches[0], place), expectedValue(value), what);
      } else {
        assert.equal(outcome.status, 'invalid', what);
        assert.ok(outcome.status === 'invalid' && outcome.reason === 'too_deep', `${what}: ${outcome.message}`);
        assert.equal(outcome.message, `${path}: nested deeper than ${MAX_DEPTH}`, what);
      }
    }), 400);
  });
});

// ---- valid spans, in and out -----------------------------------------------------------------------

describe('fuzz: OTLP spans come out as they went in', () => {
  it('the spans of a valid trace request (ids, names, times, kinds, status, attributes, events, links, resource, scope) are taken exactly, over protobuf and over JSON', () => {
    let spans = 0;
    fuzz(fc.property(requestArbitrary('traces'), styleArbitrary, (req, style) => {
      const expected = expectedSpans(req as Extract<RequestM, { signal: 'traces' }>);
      spans += expected.length;
      for (const json of [false, true]) {
        const h = DEFAULT;
        const outcome = h.run('traces', json ? { json: jsonBody(req, style) } : { protobuf: protobufBytes(req) });
        assert.equal(outcome.status, 'ok', `${json ? 'JSON' : 'protobuf'}: ${outcome.message}`);
        assert.ok(outcome.status === 'ok' && outcome.rejected === 0, `${json ? 'JSON' : 'protobuf'}: rejected: ${outcome.message}`);
        const got = h.batches.flatMap((b) => b.spans);
        assert.deepStrictEqual(got, expected, json ? 'OTLP/JSON' : 'OTLP/protobuf');
      }
    }), 400);
    if (runs(400) >= 200) assert.ok(spans >= runs(400), `only ${spans} spans generated`);
  });

  it('an attribute named __proto__ is kept like any other (no key is special)', () => {
    const keys = fc.constantFrom('__proto__', 'a');
    fuzz(fc.property(spanArbitrary, anyValueArbitrary(keys), fc.boolean(), (span, value, json) => {
      const sp = { ...span, attrs: [['__proto__', value] as KV] };
      const req: RequestM = { signal: 'traces', resources: [{ attrs: [], scopes: [{ name: '', version: '', items: [sp] }] }] };
      const h = DEFAULT;
      const outcome = h.run('traces', json ? { json: jsonBody(req) } : { protobuf: protobufBytes(req) });
      assert.equal(outcome.status, 'ok');
      assert.deepStrictEqual(h.batches[0].spans, expectedSpans(req as Extract<RequestM, { signal: 'traces' }>), json ? 'OTLP/JSON' : 'OTLP/protobuf');
    }), 100);
  });
});

// ---- invalid UTF-8 -----------------------------------------------------------------------------------

/** Bytes of a protobuf string field: valid UTF-8 text, or any bytes (mostly invalid UTF-8). */
const stringBytes = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
  fc.uint8Array({ maxLength: 20 }),
  fc.constantFrom(Uint8Array.from([0xff]), Uint8Array.from([0xc3]), Uint8Array.from([0xe2, 0x98]), Uint8Array.from([0xed, 0xa0, 0x80]), Uint8Array.from([0xf4, 0x90, 0x80, 0x80])),
);

function lenField(field: number, body: Uint8Array): Buffer {
  const head: number[] = [(field << 3) | 2];
  let n = body.length;
  while (n >= 0x80) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), body]);
}

describe('fuzz: OTLP/protobuf strings', () => {
  it('the trace wire reader takes or refuses string fields (name, attribute keys and values, trace state, status message) as protobufjs decode + convertTraces do, invalid UTF-8 included', () => {
    const origin = { protocol: 'http' as const };
    fuzz(fc.property(fc.array(stringBytes, { minLength: 5, maxLength: 5 }), fc.boolean(), ([name, key, value, traceState, message], small) => {
      const kv = Buffer.concat([lenField(1, key), lenField(2, lenField(1, value))]);
      const span = Buffer.concat([
        lenField(1, new Uint8Array(16).fill(1)), lenField(2, new Uint8Array(8).fill(2)), lenField(3, traceState), lenField(5, name), lenField(9, kv),
        lenField(15, lenField(2, message)),
      ]);
      const bytes = new Uint8Array(lenField(1, lenField(2, lenField(2, span))));
      const h = small ? SMALL : DEFAULT;
      const wire = h.run('traces', { protobuf: bytes });
      const wireSpans = h.batches.flatMap((b) => b.spans);
      h.batches = [];
      h.refused = [];
      let reference: IngestOutcome;
      try {
        reference = ingest('traces', { message: otlpTypes().request.traces.decode(bytes) as unknown as Msg }, h.rt, origin);
      } catch (error) {
        reference = { status: 'invalid', reason: 'malformed', message: (error as Error).message };
      }
      const hex = Buffer.from(bytes).toString('hex');
      assert.equal(wire.status, reference.status, `wire reader: ${wire.status} (${wire.message}), protobufjs + convertTraces: ${reference.status} (${reference.message}) for ${hex}`);
      assert.deepStrictEqual(wireSpans, h.batches.flatMap((b) => b.spans), `for ${hex}`);
    }), 300);
  });
});
