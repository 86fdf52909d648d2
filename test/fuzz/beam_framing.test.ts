/**
 * Fuzz properties of the BEAM receivers' framing and protocol mapping:
 * FrameReader (src/receivers/beam_trace_port/framing.ts, shared by
 * beam_trace_port and beam_telemetry) on frames split at any chunk
 * boundaries and on random streams, oversize frames refused as soon as their
 * header is in; the scope_beam forwarder protocol (beam_telemetry/mapping.ts)
 * and the trace mapper (beam_trace_port/mapping.ts) on random and
 * protocol-shaped terms; and the beam_telemetry receiver itself over a real
 * 127.0.0.1 socket, a few runs. Seeds and run counts: test/fuzz/fuzz_params.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { metrics } from '@opentelemetry/api';
import fc from 'fast-check';
import { encodeTerm, type SimpleTerm } from '../../src/beam/encode.js';
import { decodeTerm, ErlFloat, ErlMap, ErlPid, ErlTuple, type Term } from '../../src/beam/etf.js';
import type { ReceiverContext } from '../../src/component/types.js';
import { defaultConfig } from '../../src/config/validate.js';
import type { AttributeValue, Batch, ScopeEvent } from '../../src/model/types.js';
import { BeamTelemetryReceiver } from '../../src/receivers/beam_telemetry/beam_telemetry.js';
import type { BeamTelemetryConfig } from '../../src/receivers/beam_telemetry/config.js';
import { beamTelemetryReceiver } from '../../src/receivers/beam_telemetry/index.js';
import { DROPPED_ATTRIBUTES, readHello, TelemetryMapper, type Hello } from '../../src/receivers/beam_telemetry/mapping.js';
import { FrameError, FrameReader, OP_DROP, OP_TERM } from '../../src/receivers/beam_trace_port/framing.js';
import { TraceMapper } from '../../src/receivers/beam_trace_port/mapping.js';
import { ProblemReporter, silentLogger } from '../../src/util/logger.js';
import { freePort } from '../helpers.js';
import { encodedArbitrary } from './etf_terms.js';
import { fuzz, fuzzAsync } from './fuzz_params.js';

// ---- frames and chunks -------------------------------------------------------------------------

type Frame = { op: typeof OP_TERM; payload: Uint8Array } | { op: typeof OP_DROP; count: number };

function frameBytes(f: Frame): Buffer {
  const header = Buffer.alloc(5);
  header[0] = f.op;
  header.writeUInt32BE(f.op === OP_TERM ? f.payload.length : f.count, 1);
  return f.op === OP_TERM ? Buffer.concat([header, f.payload]) : header;
}

const frameArbitrary: fc.Arbitrary<Frame> = fc.oneof(
  { arbitrary: encodedArbitrary(3).map((e): Frame => ({ op: OP_TERM, payload: e.bytes })), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((payload): Frame => ({ op: OP_TERM, payload })), weight: 2 },
  fc.integer({ min: 0, max: 0xffffffff }).map((count): Frame => ({ op: OP_DROP, count })),
);

/** The stream cut at the given points (taken modulo its length): the chunks a socket might deliver. */
function chunks(stream: Buffer, cuts: number[]): Buffer[] {
  if (stream.length === 0) return [];
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, stream.length]) {
    if (c > prev) out.push(stream.subarray(prev, c));
    prev = Math.max(prev, c);
  }
  return out;
}

type Read = { op: number; payload?: Buffer; size: number };

/** Feeds the chunks one by one, reading every whole frame after each; stops at a FrameError (anything else fails). */
function readAll(reader: FrameReader, parts: Buffer[], afterFeed?: (fed: number, frames: Read[]) => void): { frames: Read[]; error?: FrameError; errorAtFeed?: number } {
  const frames: Read[] = [];
  let fed = 0;
  for (let i = 0; i < parts.length; i++) {
    reader.feed(parts[i]);
    fed += parts[i].length;
    try {
      for (let op = reader.next(); op >= 0; op = reader.next()) {
        frames.push(op === OP_TERM
          ? { op, payload: Buffer.from(reader.payload.subarray(reader.start, reader.end)), size: reader.size }
          : { op, size: reader.size });
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      assert.ok(error.reason === 'too_large' || error.reason === 'unknown_op', `reason ${error.reason}`);
      return { frames, error, errorAtFeed: i };
    }
    afterFeed?.(fed, frames);
  }
  return { frames };
}

const expectRead = (f: Frame): Read => (f.op === OP_TERM ? { op: OP_TERM, payload: Buffer.from(f.payload), size: f.payload.length } : { op: OP_DROP, size: f.count });
const wireLength = (r: Read): number => 5 + (r.op === OP_TERM ? r.size : 0);

describe('fuzz: FrameReader', () => {
  it('frames split at any chunk boundaries are read exactly as sent, and what it holds is just the incomplete frame', () => {
    fuzz(fc.property(fc.array(frameArbitrary, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
      const stream = Buffer.concat(frames.map(frameBytes));
      const reader = new FrameReader(1 << 20);
      const out = readAll(reader, chunks(stream, cuts), (fed, read) => {
        const whole = read.reduce((n, r) => n + wireLength(r), 0);
        assert.equal(reader.buffered, fed - whole, `holds ${reader.buffered} bytes after ${fed} fed and ${whole} read as frames`);
      });
      assert.equal(out.error, undefined, out.error?.message);
      assert.deepStrictEqual(out.frames, frames.map(expectRead));
      assert.equal(reader.buffered, 0);
    }), 1500);
  });

  it('a random byte stream is read the same (frames, then the same FrameError or a wait for more) however it is split', () => {
    const stream = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      // Mostly valid frames with a random byte stretch: wrong ops and wild sizes among good frames.
      fc.tuple(fc.array(frameArbitrary, { maxLength: 4 }), fc.uint8Array({ maxLength: 12 }), fc.array(frameArbitrary, { maxLength: 2 }))
        .map(([a, junk, b]) => Buffer.concat([...a.map(frameBytes), junk, ...b.map(frameBytes)])),
    );
    fuzz(fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), fc.constantFrom(0, 16, 300, 1 << 20), (bytes, cuts, max) => {
      const whole = readAll(new FrameReader(max), [bytes]);
      const split = readAll(new FrameReader(max), chunks(bytes, cuts));
      assert.deepStrictEqual(split.frames, whole.frames);
      assert.equal(split.error?.reason, whole.error?.reason);
      assert.equal(split.error?.message, whole.error?.message);
      for (const f of whole.frames) if (f.op === OP_TERM) assert.ok(f.size <= max, `a frame of ${f.size} bytes read under max ${max}`);
    }), 1500);
  });

  it('a frame over maxFrameBytes is refused as soon as its 5 header bytes are in, before any of it is held', () => {
    fuzz(fc.property(
      fc.array(frameArbitrary.filter((f) => f.op === OP_DROP || f.payload.length <= 64), { maxLength: 4 }),
      fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 1, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(), { maxLength: 12 }),
      (good, max, excess, trailing, cuts) => {
        const limit = Math.max(max, 64);
        const size = Math.min(0xffffffff, limit + excess);
        const header = Buffer.alloc(5);
        header.writeUInt32BE(size, 1);
        const prefix = Buffer.concat(good.map(frameBytes));
        const stream = Buffer.concat([prefix, header, trailing]);
        const reader = new FrameReader(limit);
        const parts = chunks(stream, cuts);
        const out = readAll(reader, parts);
        assert.ok(out.error, `a ${size}-byte frame header under max ${limit} was not refused`);
        assert.equal(out.error.reason, 'too_large');
        assert.deepStrictEqual(out.frames, good.map(expectRead));
        // Refused by the very chunk that completed the header: no wait for (and no holding of) its payload.
        let fed = 0;
        for (let i = 0; i <= (out.errorAtFeed as number); i++) fed += parts[i].length;
        const before = fed - parts[out.errorAtFeed as number].length;
        assert.ok(before < prefix.length + 5 && fed >= prefix.length + 5, `refused after ${fed} bytes; the header ends at ${prefix.length + 5}`);
      },
    ), 1000);
  });
});

// ---- the forwarder protocol (beam_telemetry) ------------------------------------------------------

const randomTerm: fc.Arbitrary<Term> = encodedArbitrary(4).map((e) => e.term);
const atomName = fc.oneof(fc.constantFrom('phoenix', 'endpoint', 'stop', 'repo', 'query', 'Elixir.Shop.Repo', 'nil'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }));
const time = fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }));
const measurementValue: fc.Arbitrary<Term> = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), fc.double({ noNaN: true }).map((d) => new ErlFloat(d)), randomTerm);
const measurementKey = fc.oneof(fc.constantFrom('duration', 'monotonic_time', 'system_time', 'query_time', 'count', 'total', '__proto__', 'constructor'), atomName);

const telemetryTerm = fc.record({
  name: fc.array(atomName, { minLength: 1, maxLength: 4 }),
  measurements: fc.uniqueArray(fc.tuple(measurementKey, measurementValue), { selector: ([k]) => k, maxLength: 6 }),
  metadata: fc.array(fc.tuple(fc.oneof(atomName, fc.constantFrom('__proto__', 'toString'), randomTerm), randomTerm), { maxLength: 6 }),
  time,
});

const protocolTerm: fc.Arbitrary<Term> = fc.oneof(
  telemetryTerm.map((t) => new ErlTuple(['telemetry', t.name, new ErlMap(t.measurements), new ErlMap(t.metadata), t.time])),
  fc.tuple(time, fc.array(fc.oneof(
    fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 8 }), atomName, randomTerm), fc.constantFrom('gauge', 'sum', 'histogram'), fc.oneof(atomName, randomTerm), measurementValue, fc.oneof(fc.constant(new ErlMap([])), randomTerm))
      .map((p) => new ErlTuple(p)),
    randomTerm,
  ), { maxLength: 4 })).map(([t, points]) => new ErlTuple(['scope_metrics', t, points])),
  fc.tuple(time, fc.oneof(fc.constant(new ErlPid('n@h', 1, 2, 3)), randomTerm), fc.oneof(fc.constant(new ErlMap([['k', 1]])), randomTerm))
    .map(([t, pid, attrs]) => new ErlTuple(['scope_state_change', t, pid, attrs])),
  fc.constant('scope_keepalive'),
  randomTerm,
);

const helloTerm: fc.Arbitrary<Term> = fc.oneof(
  fc.record({
    protocol: fc.oneof(fc.constant(1), randomTerm), node: fc.oneof(atomName, fc.uint8Array({ maxLength: 8 }), randomTerm),
    native: fc.oneof(fc.constantFrom(1_000_000_000, 1000, 1, 0, -1), randomTerm), offset: fc.oneof(time, randomTerm),
    token: fc.oneof(fc.constant(new Uint8Array(Buffer.from('s3cret'))), randomTerm), app: fc.oneof(atomName, randomTerm),
  }).map((h) => new ErlTuple(['scope_hello', new ErlMap([
    ['protocol', h.protocol], ['node', h.node], ['native_units_per_second', h.native], ['time_offset_ns', h.offset], ['token', h.token], ['app', h.app],
  ])])),
  randomTerm,
);

const HELLO: Hello = { node: 'shop@host', app: 'shop', otpRelease: '27', nativeUnitsPerSecond: 1_000_000, timeOffsetNs: 1_700_000_000_000_000_000n };
const SOURCE = { node: 'shop@host', component: 'beam_telemetry/fuzz' };

function assertAttributeValue(v: AttributeValue, what: string): void {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Uint8Array) return;
  if (Array.isArray(v)) return v.forEach((x, i) => assertAttributeValue(x, `${what}[${i}]`));
  assert.equal(typeof v, 'object', `${what}: ${typeof v}`);
  for (const [k, x] of Object.entries(v)) assertAttributeValue(x, `${what}.${k}`);
}

const nsOf = (v: number | bigint, perSecond: number): bigint => (BigInt(v) * 1_000_000_000n) / BigInt(perSecond);
const intOrText = (n: bigint): number | string => (n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n.toString());

describe('fuzz: scope_beam forwarder protocol', () => {
  it('readHello takes any term: a hello with node and units, or a refusal with a reason, never a throw', () => {
    fuzz(fc.property(helloTerm, fc.option(fc.constant('s3cret')), (term, token) => {
      const hello = readHello(term, token ?? undefined);
      if ('refused' in hello) {
        assert.ok(typeof hello.refused === 'string' && hello.refused.length > 0);
        return;
      }
      assert.ok(typeof hello.node === 'string' && hello.node.length > 0, 'node');
      assert.ok(Number.isSafeInteger(hello.nativeUnitsPerSecond) && hello.nativeUnitsPerSecond > 0, `units ${hello.nativeUnitsPerSecond}`);
      assert.equal(typeof hello.timeOffsetNs, 'bigint');
      if (token) assert.equal(hello.token, token, 'a hello without the token was admitted');
    }), 1000);
  });

  it('TelemetryMapper.read takes any term: an event or metric points as the protocol says, within the attribute limits, or null; never a throw', () => {
    const limits = fc.record({ maxAttributes: fc.constantFrom(0, 1, 3, 128), maxAttributeBytes: fc.constantFrom(0, 16, 200, 64 * 1024) });
    fuzz(fc.property(protocolTerm, limits, fc.constantFrom('erlang' as const, 'elixir' as const), (term, lim, syntax) => {
      let droppedReports = 0;
      const mapper = new TelemetryMapper(HELLO, SOURCE, 64, syntax, { ...lim, onDropped: (n) => { droppedReports += n; } });
      const item = mapper.read(term);
      if (item === null) return;
      const events = 'event' in item ? [item.event] : [];
      for (const e of events) {
        assert.equal(typeof e.type, 'string');
        assert.ok(e.type.startsWith('telemetry.') || e.type === 'state.change', `type ${e.type}`);
        assert.equal(typeof e.time, 'bigint');
        const keys = Object.keys(e.attributes).filter((k) => k !== DROPPED_ATTRIBUTES);
        assert.ok(keys.length <= Math.max(lim.maxAttributes, e.type === 'state.change' ? 0 : 1), `${keys.length} attributes, over ${lim.maxAttributes}`);
        for (const k of keys) assertAttributeValue(e.attributes[k], k);
        const dropped = e.attributes[DROPPED_ATTRIBUTES];
        if (dropped !== undefined) assert.ok(typeof dropped === 'number' && dropped > 0 && droppedReports >= dropped, `dropped ${String(dropped)}, reported ${droppedReports}`);
      }
      if ('metrics' in item) {
        for (const m of item.metrics) {
          assert.ok(typeof m.name === 'string' && m.name.length > 0);
          assert.ok(m.type === 'gauge' || m.type === 'sum');
          assert.equal(typeof m.value, 'number');
          assert.equal(typeof m.timeUnixNano, 'bigint');
        }
      }
    }), 1500);
  });

  it('a telemetry event is mapped exactly: its type from the name, its time, measurements in ns where they are times, plain metadata as is', () => {
    const plainValue = fc.oneof(fc.integer(), fc.constantFrom('true', 'false', 'ok'));
    const metadataKey = fc.oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'pid'));
    const event = fc.record({
      name: fc.array(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }).filter((s) => !s.startsWith('Elixir.')), { minLength: 1, maxLength: 4 }),
      measurements: fc.uniqueArray(fc.tuple(measurementKey.filter((k) => !k.startsWith('Elixir.') && k !== 'nil' && k !== 'undefined'), fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }))), { selector: ([k]) => k, maxLength: 6 }),
      metadata: fc.uniqueArray(fc.tuple(metadataKey.filter((k) => !['measurements', 'nil', 'undefined'].includes(k) && !k.startsWith('Elixir.')), plainValue), { selector: ([k]) => k, maxLength: 6 }),
      time: fc.bigInt({ min: 0n, max: 2n ** 63n }),
      perSecond: fc.constantFrom(1, 1000, 1_000_000, 1_000_000_000),
    });
    fuzz(fc.property(event, (ev) => {
      const hello = { ...HELLO, nativeUnitsPerSecond: ev.perSecond };
      const mapper = new TelemetryMapper(hello, SOURCE, 1024, 'erlang');
      const term = decodeTerm(encodeTerm({
        tuple: [{ atom: 'telemetry' }, ev.name.map((atom) => ({ atom })), { map: ev.measurements.map(([k, v]): [SimpleTerm, SimpleTerm] => [{ atom: k }, BigInt(v)]) },
          { map: ev.metadata.map(([k, v]): [SimpleTerm, SimpleTerm] => [{ atom: k }, typeof v === 'string' ? { atom: v } : BigInt(v)]) }, ev.time],
      }));
      const item = mapper.read(term);
      assert.ok(item && 'event' in item, 'not mapped');
      const e: ScopeEvent = item.event;
      assert.equal(e.type, `telemetry.${ev.name.join('.')}`);
      assert.equal(e.time, ev.time);
      const expected: Record<string, AttributeValue> = {};
      // Own properties, whatever the key (`__proto__` too).
      const put = (k: string, v: AttributeValue): void => void Object.defineProperty(expected, k, { value: v, enumerable: true, writable: true, configurable: true });
      for (const [k, v] of ev.measurements) {
        if (k === 'duration' || k.endsWith('_time')) {
          const ns = nsOf(v, ev.perSecond);
          if (k === 'monotonic_time') put('monotonic_time_unix_ns', (ns + hello.timeOffsetNs).toString());
          else if (k === 'system_time') put('system_time_unix_ns', ns.toString());
          else put(`${k}_ns`, intOrText(ns));
        } else {
          put(k, typeof v === 'bigint' ? intOrText(v) : v);
        }
      }
      assert.deepStrictEqual(e.attributes.measurements, expected);
      for (const [k, v] of ev.metadata) {
        assert.ok(Object.hasOwn(e.attributes, k), `metadata ${k} missing`);
        assert.deepStrictEqual(e.attributes[k], v === 'true' ? true : v === 'false' ? false : v, `metadata ${k}`);
      }
    }), 800);
  });
});

// ---- the trace mapper (beam_trace_port) --------------------------------------------------------------

const TRACE_TAGS = [
  'send', 'send_to_non_existing_process', 'receive', 'call', 'return_from', 'exception_from', 'return_to', 'spawn', 'spawned', 'exit', 'link', 'unlink',
  'getting_linked', 'getting_unlinked', 'register', 'unregister', 'in', 'out', 'in_exiting', 'out_exiting', 'out_exited',
  'gc_minor_start', 'gc_minor_end', 'gc_major_start', 'gc_major_end', 'gc_max_heap_size', 'gc_start', 'gc_end', 'open', 'closed',
];
/** Atoms that are names of Object.prototype members: a lookup table that is a plain object finds them. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

const pid = fc.record({ node: fc.constantFrom('nonode@nohost', 'a@b', ''), id: fc.nat(), serial: fc.nat() }).map((p) => new ErlPid(p.node, p.id, p.serial, 0));
const timestamp: fc.Arbitrary<Term> = fc.oneof(
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map((t) => new ErlTuple(t)),
  fc.tuple(fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n })), fc.nat()).map((t) => new ErlTuple(t)),
  fc.integer(), fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), randomTerm,
);

function traceTerm(tags: fc.Arbitrary<string>): fc.Arbitrary<Term> {
  return fc.oneof(
    fc.tuple(fc.constantFrom('trace', 'trace_ts'), fc.oneof(pid, randomTerm), tags, fc.array(fc.oneof(pid, randomTerm, fc.constant(0)), { maxLength: 4 }), timestamp)
      .map(([head, tracee, tag, args, ts]) => new ErlTuple([head, tracee, tag, ...args, ...(head === 'trace_ts' ? [ts] : [])])),
    fc.tuple(randomTerm, fc.constantFrom('send', 'receive', 'print', 'other'), randomTerm, fc.oneof(pid, randomTerm), fc.oneof(pid, randomTerm), randomTerm, fc.option(timestamp))
      .map(([label, kind, serial, from, to, msg, ts]) => new ErlTuple(['seq_trace', label, new ErlTuple([kind, serial, from, to, msg]), ...(ts === null ? [] : [ts])])),
    fc.tuple(fc.oneof(fc.constantFrom('a@b', ''), randomTerm), fc.oneof(fc.integer(), randomTerm), fc.oneof(fc.integer(), randomTerm)).map(([n, m, s]) => new ErlTuple(['scope_clock', n, m, s])),
    fc.tuple(fc.oneof(fc.constant('a@b'), randomTerm), fc.oneof(fc.integer(), randomTerm), fc.array(fc.oneof(
      fc.tuple(pid, randomTerm).map(([p, v]) => new ErlMap([['pid', p], ['registered_name', v], ['initial_call', v]])), randomTerm,
    ), { maxLength: 3 })).map(([n, t, entries]) => new ErlTuple(['scope_snapshot', n, t, entries])),
    randomTerm,
  );
}

const EVENT_TYPE = /^(message|function|process|scheduler|gc|port|seq_trace|trace)\.[a-z_]+$/;

function mapTraceTerms(terms: Term[], mapper: TraceMapper): void {
  for (const term of terms) {
    const out: ScopeEvent[] = [];
    const outcome = mapper.map(term, out);
    assert.ok(['event', 'clock', 'excluded', 'unknown'].includes(outcome), `outcome ${outcome}`);
    if (outcome !== 'event') assert.equal(out.length, 0, `${outcome} but ${out.length} events`);
    for (const e of out) {
      assert.ok(typeof e.type === 'string' && EVENT_TYPE.test(e.type), `event type ${typeof e.type === 'string' ? e.type : typeof e.type}`);
      assert.equal(typeof e.time, 'bigint');
      if (e.pid !== undefined) assert.equal(typeof e.pid, 'string');
      for (const [k, v] of Object.entries(e.attributes)) assertAttributeValue(v, k);
    }
  }
}

describe('fuzz: trace port mapping', () => {
  it('TraceMapper.map takes any sequence of terms: events of the known types, or clock, excluded, unknown; never a throw', () => {
    const tags = fc.oneof(fc.constantFrom(...TRACE_TAGS), atomName.filter((t) => !PROTOTYPE_NAMES.includes(t)));
    fuzz(fc.property(fc.array(traceTerm(tags), { minLength: 1, maxLength: 5 }), fc.constantFrom('erlang' as const, 'elixir' as const), fc.boolean(), (terms, syntax, exclude) => {
      const mapper = new TraceMapper({ component: 'fuzz', maxMessageBytes: 128, termSyntax: syntax, excludeRoles: exclude ? ['shell', 'tracer'] : [], now: () => 1_764_000_000_000_000_000n });
      mapTraceTerms(terms, mapper);
    }), 1500);
  });

  it('a trace tag named like an Object.prototype member (constructor, toString, __proto__…) is an unknown message, not an event typed with a function', () => {
    fuzz(fc.property(fc.array(traceTerm(fc.constantFrom(...PROTOTYPE_NAMES)), { minLength: 1, maxLength: 3 }), (terms) => {
      mapTraceTerms(terms, new TraceMapper({ component: 'fuzz', maxMessageBytes: 128 }));
    }), 200);
  });
});

// ---- the beam_telemetry receiver over a socket ------------------------------------------------------------

describe('fuzz: beam_telemetry receiver over 127.0.0.1', () => {
  const batches: Batch[] = [];
  const refused: Array<{ count: number; reason: string }> = [];
  let receiver: BeamTelemetryReceiver;
  let port = 0;

  before(async () => {
    port = await freePort();
    const config = { ...defaultConfig(beamTelemetryReceiver), endpoint: `127.0.0.1:${port}`, max_frame_bytes: '64KiB', rate_limit: { events_per_second: 1_000_000 } } as unknown as BeamTelemetryConfig;
    const ctx: ReceiverContext = {
      id: 'beam_telemetry/fuzz', type: 'beam_telemetry', kind: 'receiver', logger: silentLogger, problems: new ProblemReporter(silentLogger),
      meter: metrics.getMeter('fuzz'), reportStatus: () => undefined,
      countRefused: (count, reason) => {
        refused.push({ count, reason });
      },
      consumer: {
        consume: (batch) => {
          batches.push(batch);
          return { status: 'accepted', acceptedItems: batch.events.length + batch.metrics.length, rejectedItems: 0, rejections: [] };
        },
        ready: () => true,
        refusalNow: () => null,
        whenReady: async () => undefined,
      },
    };
    receiver = new BeamTelemetryReceiver(config, ctx);
    await receiver.start();
  });
  after(() => receiver.shutdown());

  const frameOf = (term: SimpleTerm): Buffer => frameBytes({ op: OP_TERM, payload: encodeTerm(term) });
  type Sent = { kind: 'event'; seq: number } | { kind: 'bad' } | { kind: 'keepalive' };
  const sentArbitrary: fc.Arbitrary<Sent[]> = fc.array(fc.oneof(
    { arbitrary: fc.constant<Sent>({ kind: 'event', seq: 0 }), weight: 4 },
    fc.constant<Sent>({ kind: 'bad' }),
    fc.constant<Sent>({ kind: 'keepalive' }),
  ), { maxLength: 12 }).map((xs) => xs.map((x, i) => (x.kind === 'event' ? { kind: 'event', seq: i } : x)));

  let run = 0;

  it('a forwarder\'s stream split at any chunk boundaries gives its events in order, skips and counts bad terms, and closes on an oversize frame', async () => {
    await fuzzAsync(fc.asyncProperty(sentArbitrary, fc.array(fc.nat(), { maxLength: 16 }), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 8 }), async (sent, cuts, oversize, junk) => {
      const node = `fuzz${run++}@host`;
      batches.length = 0;
      refused.length = 0;
      const hello = frameOf({ tuple: [{ atom: 'scope_hello' }, { map: [
        [{ atom: 'protocol' }, 1], [{ atom: 'node' }, { atom: node }], [{ atom: 'native_units_per_second' }, 1_000_000_000], [{ atom: 'time_offset_ns' }, 0],
      ] }] });
      const body = sent.map((s) => {
        if (s.kind === 'event') {
          return frameOf({ tuple: [{ atom: 'telemetry' }, [{ atom: 'fuzz' }, { atom: 'ev' }], { map: [] }, { map: [[{ atom: 'seq' }, s.seq]] }, 1_764_000_000_000_000_000n] });
        }
        if (s.kind === 'keepalive') return frameOf({ atom: 'scope_keepalive' });
        return frameBytes({ op: OP_TERM, payload: Uint8Array.from([130, ...junk]) }); // not ETF (version 130)
      });
      const tail = oversize ? Buffer.from([0, 0, 1, 0, 1]) : Buffer.alloc(0); // a 65 537-byte frame, over max_frame_bytes (64 KiB)
      const stream = Buffer.concat([hello, ...body, tail]);

      const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
      const received: Buffer[] = [];
      let closed = false;
      socket.on('data', (d) => received.push(d));
      socket.on('close', () => {
        closed = true;
      });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      });
      for (const part of chunks(stream, cuts)) {
        socket.write(part);
        await new Promise((r) => setImmediate(r));
      }
      const events = (): ScopeEvent[] => batches.flatMap((b) => b.events).filter((e) => e.source.node === node);
      const want = sent.filter((s) => s.kind === 'event').length;
      const bad = sent.filter((s) => s.kind === 'bad').length;
      const welcomed = (): boolean => {
        const r = Buffer.concat(received);
        return r.length >= 5 && r.length >= 5 + r.readUInt32BE(1);
      };
      const deadline = Date.now() + 5000;
      while ((!welcomed() || events().length < want || refused.filter((r) => r.reason === 'malformed').length < bad || (oversize && !closed)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      socket.destroy();

      // The welcome, whole, however the reply was split.
      const reply = decodeTerm(Buffer.concat(received).subarray(5, 5 + Buffer.concat(received).readUInt32BE(1)));
      assert.ok(reply instanceof ErlTuple && reply.elements[0] === 'scope_welcome', 'welcomed');
      assert.deepStrictEqual(events().map((e) => [e.type, e.attributes.seq]), sent.flatMap((s) => (s.kind === 'event' ? [['telemetry.fuzz.ev', s.seq]] : [])));
      assert.equal(refused.filter((r) => r.reason === 'malformed').reduce((n, r) => n + r.count, 0), bad, `refusals ${JSON.stringify(refused)}`);
      if (oversize) {
        assert.ok(closed, 'a frame over max_frame_bytes did not close the connection');
        assert.ok(refused.some((r) => r.reason === 'bad_frame'), `refusals ${JSON.stringify(refused)}`);
      } else {
        assert.ok(!refused.some((r) => r.reason === 'bad_frame'), `refusals ${JSON.stringify(refused)}`);
      }
    }), 30);
  });
});
