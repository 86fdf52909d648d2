/**
 * Damage done to valid encodings by the fuzz properties: bit flips, bytes
 * set, truncation, length-like fields overwritten with huge values, bytes
 * inserted and deleted. Offsets are drawn as any natural number and taken
 * modulo the input, so shrinking keeps them meaningful.
 */
import fc from 'fast-check';

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'huge'; at: number; width: 1 | 2 | 4 | 5; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number };

/** Values that, written over a length (fixed-width or a varint), claim far more than is there, or just over a limit. */
const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0x01000000, 0x00ffffff, 0x0000ffff, 0x00010000, 0x10000001, 65, 17, 9];

export const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('huge' as const), at: fc.nat(), width: fc.constantFrom(1 as const, 2 as const, 4 as const, 5 as const), value: fc.constantFrom(...HUGE) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
);

export const mutationsArbitrary = fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 });

/** A protobuf varint of v (up to 2^32), for `huge` of width 5. */
function varint(v: number): number[] {
  const out: number[] = [];
  let n = v >>> 0;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** The input with the mutations applied, leaving its first `keep` bytes alone (an ETF version byte). */
export function mutate(input: Uint8Array, mutations: readonly Mutation[], keep = 0): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length <= keep) {
      if (m.op === 'insert') b = Buffer.concat([b, m.bytes]);
      continue;
    }
    const at = keep + (m.at % (b.length - keep));
    switch (m.op) {
      case 'flip':
        b[at] ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'huge': {
        if (m.width === 5) {
          // A varint, as protobuf lengths are: replaces one byte with five.
          b = Buffer.concat([b.subarray(0, at), Buffer.from(varint(m.value)), b.subarray(at + 1)]);
          break;
        }
        const v = m.width === 1 ? m.value & 0xff : m.width === 2 ? m.value & 0xffff : m.value >>> 0;
        for (let i = 0; i < m.width && at + i < b.length; i++) b[at + i] = (v >>> (8 * (m.width - 1 - i))) & 0xff;
        break;
      }
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
    }
  }
  return new Uint8Array(b);
}

/** Every place in a JSON-like tree (container and key), root excluded. */
export function places(root: unknown): Array<[Record<string, unknown> | unknown[], string | number]> {
  const out: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((x, i) => {
      out.push([v, i]);
      stack.push(x);
    });
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      stack.push(x);
    }
  }
  return out;
}
