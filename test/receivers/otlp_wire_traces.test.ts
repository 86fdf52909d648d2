/**
 * The wire reader for OTLP/protobuf trace requests gives exactly what the
 * general path (protobufjs decode + convertTraces) gives, on random requests
 * encoded by protobufjs from the same .proto definitions; and on damaged
 * bytes it either reads something or throws a RangeError, never worse.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { otlpTypes } from '../../src/otel/proto.js';
import { convertTraces, type Msg } from '../../src/receivers/otlp/convert.js';
import { decodeTraceRequest, KeyStrings } from '../../src/receivers/otlp/wire_traces.js';
import { prng } from '../helpers.js';


function generator(seed: number) {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const text = (): string => pick(['', 'a', 'http.route', 'GET /users/:id', 'naïve ☕ 🚀', 'x'.repeat(300), `k${int(1000)}`]);
  const id = (len: number): Uint8Array => {
    const r = rnd();
    if (r < 0.05) return new Uint8Array(0);
    if (r < 0.08) return new Uint8Array(len); // all zero
    if (r < 0.1) return bytes(len - 1 || 1);
    return bytes(len);
  };
  // Around the reader's shortcut (varints of up to 7 bytes, below 2^49, read without a BigInt) and the safe-integer edge.
  const int64 = (): string => pick(['0', '1', '-1', String(int(1e6)), '9007199254740993', '-9223372036854775808', '9223372036854775807', String(-int(1e9)),
    String(2 ** 49 - 1), String(2 ** 49), String(2 ** 42 - 1), String(2 ** 42), '9007199254740991', '-9007199254740991', '-9007199254740992']);
  const anyValue = (depth: number): Record<string, unknown> => {
    switch (int(depth > 2 ? 5 : 8)) {
      case 0: return { stringValue: text() };
      case 1: return { boolValue: rnd() < 0.5 };
      case 2: return { intValue: int64() };
      case 3: return { doubleValue: pick([0, 2.5, -1e300, 1 / 3, Number.NaN, Number.POSITIVE_INFINITY, 2]) };
      case 4: return { bytesValue: bytes(int(5)) };
      case 5: return { arrayValue: { values: Array.from({ length: int(4) }, () => anyValue(depth + 1)) } };
      case 6: return { kvlistValue: { values: attributes(depth + 1) } };
      default: return {};
    }
  };
  const attributes = (depth = 0): Array<Record<string, unknown>> =>
    Array.from({ length: int(6) }, () => (rnd() < 0.05 ? { key: text() } : { key: text(), value: anyValue(depth) }));
  const time = (): string => pick(['0', '1764000000123456789', '18446744073709551615', String(int(1e15))]);
  const span = (): Record<string, unknown> => ({
    traceId: id(16),
    spanId: id(8),
    ...(rnd() < 0.6 ? { parentSpanId: id(8) } : {}),
    ...(rnd() < 0.2 ? { traceState: pick(['', 'a=b', 'vendor=x,other=y']) } : {}),
    name: text(),
    kind: int(8),
    startTimeUnixNano: time(),
    endTimeUnixNano: time(),
    attributes: attributes(),
    droppedAttributesCount: int(3),
    events: Array.from({ length: int(3) }, () => ({ timeUnixNano: time(), name: text(), attributes: attributes() })),
    links: Array.from({ length: int(3) }, () => ({ traceId: id(16), spanId: id(8), traceState: pick(['', 'a=b']), attributes: attributes(), flags: int(3) })),
    ...(rnd() < 0.7 ? { status: { code: int(4), message: pick(['', 'boom', 'naïve']) } } : {}),
    flags: int(512),
  });
  return (): Record<string, unknown> => ({
    resourceSpans: Array.from({ length: 1 + int(3) }, () => ({
      ...(rnd() < 0.9 ? { resource: { attributes: attributes(), droppedAttributesCount: int(2) } } : {}),
      schemaUrl: pick(['', 'https://opentelemetry.io/schemas/1.21.0']),
      scopeSpans: Array.from({ length: int(3) }, () => ({
        ...(rnd() < 0.8 ? { scope: { name: pick(['', 'scope_beam', 'my.lib']), version: pick(['', '1.2.3']), attributes: attributes() } } : {}),
        spans: Array.from({ length: int(5) }, span),
      })),
    })),
  });
}

describe('OTLP/protobuf trace requests read straight from the wire', () => {
  const type = otlpTypes().request.traces;
  const encode = (request: Record<string, unknown>): Uint8Array => type.encode(type.fromObject(request)).finish();

  it('gives what protobufjs decode + convertTraces give, on 3 000 random requests', () => {
    const next = generator(20261124);
    let spans = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = encode(next());
      const expected = convertTraces(type.decode(bytes) as unknown as Msg);
      const actual = decodeTraceRequest(bytes);
      assert.deepStrictEqual(actual, expected, `request ${i}`);
      spans += actual.items.length;
      rejected += actual.rejected;
    }
    // The generator reaches both outcomes often enough for the comparison to mean something.
    assert.ok(spans > 3000 && rejected > 500, `${spans} spans, ${rejected} rejected`);
  });

  it('reads a request whose fields come in an unusual order (resource after its spans)', () => {
    const resourceSpans = otlpTypes().request.traces.lookupType('opentelemetry.proto.trace.v1.ResourceSpans');
    const spansOnly = resourceSpans.encode(resourceSpans.fromObject({ scopeSpans: [{ spans: [{ traceId: new Uint8Array(16).fill(1), spanId: new Uint8Array(8).fill(2), name: 's' }] }] })).finish();
    const resourceOnly = resourceSpans.encode(resourceSpans.fromObject({ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] } })).finish();
    const inner = Buffer.concat([spansOnly, resourceOnly]);
    const bytes = Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
    const out = decodeTraceRequest(bytes);
    assert.deepStrictEqual(out, convertTraces(type.decode(bytes) as unknown as Msg));
    assert.equal(out.items[0].resource['service.name'], 'shop');
  });

  it('on damaged bytes reads something or throws a RangeError, and refuses deep nesting', () => {
    const next = generator(7);
    const rnd = prng(99);
    let threw = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(encode(next()));
      if (bytes.length === 0) continue;
      const damaged = rnd() < 0.5 ? bytes.subarray(0, Math.floor(rnd() * bytes.length)) : Buffer.from(bytes);
      if (damaged === bytes || damaged.length === bytes.length) {
        for (let k = 0; k < 3; k++) damaged[Math.floor(rnd() * damaged.length)] = Math.floor(rnd() * 256);
      }
      try {
        decodeTraceRequest(damaged);
      } catch (error) {
        assert.ok(error instanceof RangeError, String(error));
        threw++;
      }
    }
    assert.ok(threw > 100, `${threw} damaged requests refused`);

    // Built by hand: protobufjs itself will not encode this deep.
    const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...varint(n >>> 7)]);
    const field = (number: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(body.length)]), body]);
    let value = field(1, Buffer.from('leaf'));
    for (let d = 0; d < 100; d++) value = field(5, field(1, value)); // AnyValue{array_value: ArrayValue{values: [value]}}
    const span = Buffer.concat([field(1, Buffer.alloc(16, 1)), field(2, Buffer.alloc(8, 1)), field(9, Buffer.concat([field(1, Buffer.from('k')), field(2, value)]))]);
    const deep = field(1, field(2, field(2, span)));
    assert.throws(() => decodeTraceRequest(deep), /nested deeper than 64/);
  });
});

describe('attribute key strings (interned by a hash of their bytes)', () => {
  /** FNV-1a of the bytes, seeded with the length, as KeyStrings hashes them. */
  const hash = (s: string): number => {
    let h = 0x811c9dc5 ^ s.length;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h;
  };

  it('two keys with the same hash each read as themselves, and a known key is the same string again', () => {
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const key = `key.${i.toString(36).padStart(6, '0')}`;
      const other = seen.get(hash(key));
      if (other !== undefined) pair = [other, key];
      else seen.set(hash(key), key);
    }
    const keys = new KeyStrings(16, 128);
    const read = (s: string): string => keys.get(Buffer.from(s, 'latin1'), 0, s.length);
    const [a, b] = pair;
    assert.notEqual(a, b);
    assert.equal(read(a), a);
    assert.equal(read(b), b, 'the colliding key is not taken for the one cached');
    assert.equal(read(a), a);
    // Non-ASCII and over-long keys are decoded, not cached.
    assert.equal(keys.get(Buffer.from('naïve ☕'), 0, Buffer.byteLength('naïve ☕')), 'naïve ☕');
    assert.equal(read('x'.repeat(300)), 'x'.repeat(300));
  });
});
