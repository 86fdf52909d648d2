/**
 * Random Erlang terms for the ETF fuzz properties, with every encoding the
 * decoder reads (all atom, integer, float, tuple, list, pid, port and
 * reference forms, charlists, list tails chained as the decoder allows,
 * improper lists, bitstrings, exports, funs, compressed terms), each with
 * the term it must decode to and the decoder's own accounting of it (terms
 * charged against maxTerms, nesting, list, map and bignum sizes), so a
 * property can say exactly when a limit must refuse it.
 *
 * The encoder is written from the External Term Format spec, independently
 * of src/beam (the project's own encoder, src/beam/encode.ts, covers only
 * the simple terms replies need, and is fuzzed on its own).
 */
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import {
  ErlBitstring, ErlExport, ErlFloat, ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term,
} from '../../src/beam/etf.js';

// ---- the spec of a term: its value and how it is encoded ---------------------------------

export type AtomSpec = { k: 'atom'; v: string; enc: 'atom' | 'atom_utf8' | 'small_atom' | 'small_atom_utf8' };
export type IntSpec = { k: 'int'; v: bigint; enc: 'auto' | 'int32' | 'small_big' | 'large_big'; pad: number };
export type Spec =
  | AtomSpec
  | IntSpec
  | { k: 'float'; v: number; old: boolean }
  | { k: 'bin'; v: Uint8Array }
  | { k: 'bits'; v: Uint8Array; bits: number }
  | { k: 'list'; items: Spec[]; asString: boolean; cuts: number[]; stringTail: boolean }
  | { k: 'improper'; items: Spec[]; tail: Spec; cuts: number[] }
  | { k: 'tuple'; items: Spec[]; large: boolean }
  | { k: 'map'; entries: Array<[Spec, Spec]> }
  | { k: 'pid'; node: AtomSpec; id: number; serial: number; creation: number; old: boolean }
  | { k: 'port'; node: AtomSpec; id: bigint; creation: number; enc: 'new' | 'v4' | 'old' }
  | { k: 'ref'; node: AtomSpec; creation: number; ids: number[]; enc: 'newer' | 'new' | 'old' }
  | { k: 'export'; module: AtomSpec; fun: AtomSpec; arity: number; wide: boolean }
  | {
    k: 'fun'; module: AtomSpec; arity: number; uniq: Uint8Array; index: number;
    oldIndex: IntSpec; oldUniq: IntSpec; pid: Spec; free: Spec[];
  };

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const latin1Text = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 12 });

export const atomSpec: fc.Arbitrary<AtomSpec> = fc.oneof(
  fc.record({ k: fc.constant('atom' as const), v: fc.oneof(latin1Text, fc.constantFrom('ok', 'error', 'nonode@nohost', 'Elixir.Foo', '', 'true', 'nil')), enc: fc.constantFrom('atom' as const, 'small_atom' as const) }),
  fc.record({ k: fc.constant('atom' as const), v: text, enc: fc.constantFrom('atom_utf8' as const, 'small_atom_utf8' as const) }),
);

/** Integers of every size, bignums up to 40 bytes, and the edges of each encoding. */
export const intSpec: fc.Arbitrary<IntSpec> = fc.record({
  k: fc.constant('int' as const),
  v: fc.oneof(
    fc.bigInt({ min: 0n, max: 255n }),
    fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n - 1n }),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    fc.bigInt({ min: -(2n ** 320n), max: 2n ** 320n }),
    fc.constantFrom(0n, 255n, 256n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 31n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, 2n ** 56n, 2n ** 63n, 2n ** 64n - 1n),
  ),
  enc: fc.constantFrom('auto' as const, 'auto' as const, 'int32' as const, 'small_big' as const, 'large_big' as const),
  pad: fc.constantFrom(0, 0, 0, 1, 3),
});

const int32Spec: fc.Arbitrary<IntSpec> = fc.record({
  k: fc.constant('int' as const), v: fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n - 1n }), enc: fc.constantFrom('auto' as const, 'int32' as const), pad: fc.constant(0),
});

const byteInt: fc.Arbitrary<IntSpec> = fc.record({
  k: fc.constant('int' as const), v: fc.bigInt({ min: 0n, max: 255n }), enc: fc.constantFrom('auto' as const, 'int32' as const), pad: fc.constant(0),
});

const scalar: fc.Arbitrary<Spec> = fc.oneof(
  atomSpec,
  intSpec,
  fc.record({ k: fc.constant('float' as const), v: fc.double({ noNaN: true, noDefaultInfinity: true }), old: fc.boolean() }),
  fc.record({ k: fc.constant('bin' as const), v: fc.uint8Array({ maxLength: 24 }) }),
  fc.record({ k: fc.constant('bits' as const), v: fc.uint8Array({ minLength: 1, maxLength: 6 }), bits: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant('pid' as const), node: atomSpec, id: u32, serial: u32, creation: u32, old: fc.boolean() }),
  fc.record({ k: fc.constant('port' as const), node: atomSpec, id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), creation: u32, enc: fc.constantFrom('new' as const, 'v4' as const, 'old' as const) }),
  fc.record({ k: fc.constant('ref' as const), node: atomSpec, creation: u32, ids: fc.array(u32, { maxLength: 5 }), enc: fc.constantFrom('newer' as const, 'new' as const, 'old' as const) }),
  fc.record({ k: fc.constant('export' as const), module: atomSpec, fun: atomSpec, arity: fc.integer({ min: 0, max: 255 }), wide: fc.boolean() }),
);

/** A term spec nested at most `maxDepth` containers deep. */
export function specArbitrary(maxDepth = 4): fc.Arbitrary<Spec> {
  const depth = { maxDepth, depthIdentifier: 'etf' };
  const { spec } = fc.letrec<{ spec: Spec; container: Spec; nonList: Spec; tuple: Spec; map: Spec }>((tie) => ({
    // At the depth limit fc.oneof takes its first arbitrary: a scalar, always.
    spec: fc.oneof(depth, { arbitrary: scalar, weight: 3 }, { arbitrary: tie('container'), weight: 2 }),
    // An improper list's tail: anything but a list (a list there continues the list).
    nonList: fc.oneof(depth, { arbitrary: scalar, weight: 4 }, tie('tuple'), tie('map')),
    tuple: fc.record({ k: fc.constant('tuple' as const), items: fc.array(tie('spec'), { maxLength: 6 }), large: fc.boolean() }),
    map: fc.record({ k: fc.constant('map' as const), entries: fc.array(fc.tuple(tie('spec'), tie('spec')), { maxLength: 4 }) }),
    container: fc.oneof(
      depth,
      fc.record({ k: fc.constant('list' as const), items: fc.array(tie('spec'), { maxLength: 6 }), asString: fc.constant(false), cuts: fc.array(fc.nat(), { maxLength: 3 }), stringTail: fc.boolean() }),
      // Lists of bytes: charlists (STRING_EXT), byte lists (LIST_EXT), or both chained.
      fc.record({ k: fc.constant('list' as const), items: fc.array(byteInt, { maxLength: 300 }), asString: fc.boolean(), cuts: fc.array(fc.nat(), { maxLength: 3 }), stringTail: fc.boolean() }),
      fc.record({ k: fc.constant('improper' as const), items: fc.array(tie('spec'), { minLength: 1, maxLength: 4 }), tail: tie('nonList'), cuts: fc.array(fc.nat(), { maxLength: 2 }) }),
      tie('tuple'),
      tie('map'),
      fc.record({
        k: fc.constant('fun' as const), module: atomSpec, arity: fc.integer({ min: 0, max: 255 }), uniq: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        index: u32, oldIndex: int32Spec, oldUniq: int32Spec, pid: tie('spec'), free: fc.array(tie('spec'), { maxLength: 3 }),
      }),
    ),
  }));
  return spec;
}


// ---- encoding, with the decoder's accounting ---------------------------------------------

/** What decoding the term costs, as the decoder counts it (see EtfLimits). */
export interface Stats {
  /** Terms charged against maxTerms: every term, each list tail, each charlist element. */
  terms: number;
  /** Nesting of tuples, lists (LIST_EXT), maps and funs. */
  depth: number;
  /** Largest tuple, fun environment, list or charlist (a list's chained segments and charlist tail together). */
  list: number;
  map: number;
  /** Largest bignum, in bytes. */
  bignum: number;
}

export interface Encoded {
  /** The whole encoding, version byte included. */
  bytes: Uint8Array;
  /** What decodeTerm must give (binaries as plain Uint8Array: compare with `plain()`). */
  term: Term;
  stats: Stats;
  /** For a compressed encoding: the declared (inflated) size. */
  inflated?: number;
  /** Every tag in the encoding (80 for a compressed one). */
  tags: Set<number>;
}

class Out {
  readonly bytes: number[] = [];
  /** Every tag written. */
  readonly tags = new Set<number>();
  push(...b: number[]): void {
    for (const x of b) this.bytes.push(x);
  }
  u16(n: number): void {
    this.push((n >>> 8) & 255, n & 255);
  }
  u32(n: number): void {
    this.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  raw(b: Uint8Array): void {
    for (const x of b) this.bytes.push(x);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const normalize = (v: bigint): number | bigint => (v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v);

function isByteInt(s: Spec): boolean {
  return s.k === 'int' && s.v >= 0n && s.v <= 255n;
}

function atomBytes(a: AtomSpec): Uint8Array {
  return new Uint8Array(Buffer.from(a.v, a.enc === 'atom' || a.enc === 'small_atom' ? 'latin1' : 'utf8'));
}

/** Atoms of more bytes than the short forms hold fall back to the long forms. */
function encodeAtom(a: AtomSpec, out: Out): string {
  const b = atomBytes(a);
  const at = out.bytes.length;
  const latin1 = a.enc === 'atom' || a.enc === 'small_atom';
  if ((a.enc === 'small_atom' || a.enc === 'small_atom_utf8') && b.length <= 255) out.push(latin1 ? 115 : 119, b.length);
  else {
    out.push(latin1 ? 100 : 118);
    out.u16(b.length);
  }
  out.raw(b);
  out.tags.add(out.bytes[at]);
  return latin1 ? Buffer.from(b).toString('latin1') : Buffer.from(b).toString('utf8');
}

function magnitudeBytes(v: bigint): number[] {
  let m = v < 0n ? -v : v;
  const digits: number[] = [];
  while (m > 0n) {
    digits.push(Number(m & 255n));
    m >>= 8n;
  }
  return digits;
}

function encodeInt(s: IntSpec, out: Out, st: Stats): Term {
  const { v } = s;
  const fitsByte = v >= 0n && v <= 255n;
  const fits32 = v >= -(2n ** 31n) && v < 2n ** 31n;
  let enc = s.enc;
  if (enc === 'auto') enc = fitsByte ? 'auto' : fits32 ? 'int32' : 'small_big';
  if (enc === 'int32' && !fits32) enc = 'small_big';
  if (enc === 'auto') {
    out.push(97, Number(v));
  } else if (enc === 'int32') {
    out.push(98);
    out.u32(Number(BigInt.asUintN(32, v)));
  } else {
    const digits = magnitudeBytes(v);
    for (let i = 0; i < s.pad; i++) digits.push(0); // leading zero bytes: not minimal, still valid
    // A negative zero has no integer to be: zero is always written positive.
    const sign = v < 0n ? 1 : 0;
    if (enc === 'small_big' && digits.length <= 255) out.push(110, digits.length, sign);
    else {
      out.push(111);
      out.u32(digits.length);
      out.push(sign);
    }
    out.push(...digits);
    st.bignum = Math.max(st.bignum, digits.length);
  }
  return normalize(v);
}

function floatExtText(v: number): number[] {
  // io_lib's "%.20e": 21 significant digits, enough to give the same double back.
  const t = Object.is(v, -0) ? '-0.00000000000000000000e+00' : v.toExponential(20);
  const bytes = [...Buffer.from(t, 'latin1')];
  while (bytes.length < 31) bytes.push(0);
  return bytes;
}

/** Splits n elements into LIST_EXT segments at the given cut seeds: lengths, each at least 1. */
function segments(n: number, cuts: number[]): number[] {
  if (n <= 1) return [n];
  const at = [...new Set(cuts.map((c) => 1 + (c % (n - 1))))].sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(c - prev);
    prev = c;
  }
  out.push(n - prev);
  return out;
}

/** Encodes `spec` (no version byte); returns the term it decodes to and the nesting it adds. */
function encodeSpec(spec: Spec, out: Out, st: Stats): { term: Term; depth: number } {
  const at = out.bytes.length;
  const encoded = encodeSpecBody(spec, out, st);
  out.tags.add(out.bytes[at]);
  return encoded;
}

function encodeSpecBody(spec: Spec, out: Out, st: Stats): { term: Term; depth: number } {
  st.terms++;
  switch (spec.k) {
    case 'atom':
      return { term: encodeAtom(spec, out), depth: 0 };
    case 'int':
      return { term: encodeInt(spec, out, st), depth: 0 };
    case 'float': {
      if (spec.old) out.push(99, ...floatExtText(spec.v));
      else {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(spec.v);
        out.push(70, ...b);
      }
      return { term: new ErlFloat(spec.v), depth: 0 };
    }
    case 'bin':
      out.push(109);
      out.u32(spec.v.length);
      out.raw(spec.v);
      return { term: new Uint8Array(spec.v), depth: 0 };
    case 'bits':
      out.push(77);
      out.u32(spec.v.length);
      out.push(spec.bits);
      out.raw(spec.v);
      return { term: spec.bits === 8 ? new Uint8Array(spec.v) : new ErlBitstring(new Uint8Array(spec.v), spec.bits), depth: 0 };
    case 'list':
    case 'improper':
      return encodeList(spec, out, st);
    case 'tuple': {
      const n = spec.items.length;
      if (!spec.large && n <= 255) out.push(104, n);
      else {
        out.push(105);
        out.u32(n);
      }
      st.list = Math.max(st.list, n);
      let depth = 0;
      const elements = spec.items.map((item) => {
        const e = encodeSpec(item, out, st);
        depth = Math.max(depth, e.depth);
        return e.term;
      });
      return { term: new ErlTuple(elements), depth: depth + 1 };
    }
    case 'map': {
      out.push(116);
      out.u32(spec.entries.length);
      st.map = Math.max(st.map, spec.entries.length);
      let depth = 0;
      const entries = spec.entries.map(([k, v]): [Term, Term] => {
        const ek = encodeSpec(k, out, st);
        const ev = encodeSpec(v, out, st);
        depth = Math.max(depth, ek.depth, ev.depth);
        return [ek.term, ev.term];
      });
      return { term: new ErlMap(entries), depth: depth + 1 };
    }
    case 'pid': {
      out.push(spec.old ? 103 : 88);
      const node = encodeAtom(spec.node, out);
      out.u32(spec.id);
      out.u32(spec.serial);
      if (spec.old) out.push(spec.creation & 255);
      else out.u32(spec.creation);
      return { term: new ErlPid(node, spec.id, spec.serial, spec.old ? spec.creation & 255 : spec.creation), depth: 0 };
    }
    case 'port': {
      const tag = spec.enc === 'new' ? 89 : spec.enc === 'v4' ? 120 : 102;
      out.push(tag);
      const node = encodeAtom(spec.node, out);
      if (spec.enc === 'v4') {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(spec.id);
        out.push(...b);
        out.u32(spec.creation);
        return { term: new ErlPort(node, normalize(spec.id), spec.creation), depth: 0 };
      }
      const id = Number(spec.id & 0xffffffffn);
      out.u32(id);
      if (spec.enc === 'new') out.u32(spec.creation);
      else out.push(spec.creation & 255);
      return { term: new ErlPort(node, id, spec.enc === 'new' ? spec.creation : spec.creation & 255), depth: 0 };
    }
    case 'ref': {
      if (spec.enc === 'old') {
        out.push(101);
        const node = encodeAtom(spec.node, out);
        const id = spec.ids[0] ?? 0;
        out.u32(id);
        out.push(spec.creation & 255);
        return { term: new ErlRef(node, spec.creation & 255, [id]), depth: 0 };
      }
      out.push(spec.enc === 'newer' ? 90 : 114);
      out.u16(spec.ids.length);
      const node = encodeAtom(spec.node, out);
      if (spec.enc === 'newer') out.u32(spec.creation);
      else out.push(spec.creation & 255);
      for (const id of spec.ids) out.u32(id);
      return { term: new ErlRef(node, spec.enc === 'newer' ? spec.creation : spec.creation & 255, [...spec.ids]), depth: 0 };
    }
    case 'export': {
      out.push(113);
      const module = encodeAtom(spec.module, out);
      const fun = encodeAtom(spec.fun, out);
      if (spec.wide) {
        out.push(98);
        out.u32(spec.arity);
      } else out.push(97, spec.arity);
      return { term: new ErlExport(module, fun, spec.arity), depth: 0 };
    }
    case 'fun': {
      // NEW_FUN_EXT: Size (of everything from Size on), Arity, Uniq, Index, NumFree, Module, OldIndex, OldUniq, Pid, free variables.
      out.push(112);
      const sizeAt = out.bytes.length;
      out.u32(0);
      out.push(spec.arity);
      out.raw(spec.uniq);
      out.u32(spec.index);
      out.u32(spec.free.length);
      const module = encodeAtom(spec.module, out);
      // OldIndex and OldUniq are read as integers, not charged as terms.
      const scratch: Stats = { ...st };
      const small = (i: IntSpec): IntSpec => ({ ...i, enc: i.enc === 'auto' ? 'auto' : 'int32' }); // SMALL_INTEGER_EXT or INTEGER_EXT only
      const oldIndex = Number(encodeInt(small(spec.oldIndex), out, scratch));
      const oldUniq = Number(encodeInt(small(spec.oldUniq), out, scratch));
      st.list = Math.max(st.list, spec.free.length);
      const pid = encodeSpec(spec.pid, out, st);
      let depth = pid.depth;
      const free = spec.free.map((f) => {
        const e = encodeSpec(f, out, st);
        depth = Math.max(depth, e.depth);
        return e.term;
      });
      const size = out.bytes.length - sizeAt;
      out.bytes.splice(sizeAt, 4, (size >>> 24) & 255, (size >>> 16) & 255, (size >>> 8) & 255, size & 255);
      return { term: new ErlFun(module, spec.arity, spec.index, oldIndex, oldUniq, pid.term, free), depth: depth + 1 };
    }
  }
}

function encodeList(spec: Extract<Spec, { k: 'list' | 'improper' }>, out: Out, st: Stats): { term: Term; depth: number } {
  const items = spec.items;
  const n = items.length;
  const proper = spec.k === 'list';
  if (proper && n === 0) {
    out.push(106);
    return { term: [], depth: 0 };
  }
  const allBytes = items.every(isByteInt);
  if (proper && spec.asString && allBytes && n <= 0xffff) {
    out.push(107);
    out.u16(n);
    for (const item of items) out.push(Number((item as IntSpec).v));
    st.terms += n;
    st.list = Math.max(st.list, n);
    return { term: items.map((i) => Number((i as IntSpec).v)), depth: 0 };
  }
  const segs = segments(n, spec.cuts);
  // A proper list whose last segment is all bytes may end in a charlist tail (STRING_EXT) instead.
  const last = segs.length > 1 || n > 1 ? segs[segs.length - 1] : 0;
  const stringTail = proper && spec.stringTail && last > 0 && segs.length > 1 && items.slice(n - last).every(isByteInt);
  const listSegs = stringTail ? segs.slice(0, -1) : segs;
  const elements: Term[] = [];
  let depth = 0;
  let i = 0;
  listSegs.forEach((len, s) => {
    if (s > 0) st.terms++; // a LIST_EXT tail continuing the list: one term, read in the decoder's loop
    out.tags.add(108);
    out.push(108);
    out.u32(len);
    for (let j = 0; j < len; j++) {
      const e = encodeSpec(items[i++], out, st);
      depth = Math.max(depth, e.depth);
      elements.push(e.term);
    }
  });
  let tailDepth = 0;
  if (stringTail) {
    out.tags.add(107);
    out.push(107);
    out.u16(last);
    for (; i < n; i++) {
      out.push(Number((items[i] as IntSpec).v));
      elements.push(Number((items[i] as IntSpec).v));
    }
    st.terms += 1 + last;
  } else if (proper) {
    out.tags.add(106);
    out.push(106);
    st.terms++;
  } else {
    // The tail is read at the list's own level, outside it.
    const tail = encodeSpec((spec as Extract<Spec, { k: 'improper' }>).tail, out, st);
    tailDepth = tail.depth;
    st.list = Math.max(st.list, elements.length);
    return { term: new ErlImproperList(elements, tail.term), depth: Math.max(depth + 1, tailDepth) };
  }
  st.list = Math.max(st.list, elements.length);
  return { term: elements, depth: depth + 1 };
}

/** The encoding of a spec, optionally compressed (`<<131, 80, Size:32, Zlib>>`). */
export function encodeTermSpec(spec: Spec, compressed = false, level = 6): Encoded {
  const st: Stats = { terms: 0, depth: 0, list: 0, map: 0, bignum: 0 };
  const out = new Out();
  const { term, depth } = encodeSpec(spec, out, st);
  st.depth = depth;
  const body = Uint8Array.from(out.bytes);
  if (!compressed) {
    const bytes = new Uint8Array(body.length + 1);
    bytes[0] = 131;
    bytes.set(body, 1);
    return { bytes, term, stats: st, tags: out.tags };
  }
  const z = deflateSync(body, { level });
  const bytes = new Uint8Array(6 + z.length);
  bytes[0] = 131;
  bytes[1] = 80;
  new DataView(bytes.buffer).setUint32(2, body.length, false);
  bytes.set(z, 6);
  out.tags.add(80);
  return { bytes, term, stats: st, inflated: body.length, tags: out.tags };
}

export const encodedArbitrary = (maxDepth = 4): fc.Arbitrary<Encoded> =>
  fc.tuple(specArbitrary(maxDepth), fc.boolean(), fc.constantFrom(0, 1, 6, 9))
    .map(([spec, compressed, level]) => encodeTermSpec(spec, compressed, level));

// ---- comparing decoded terms ----------------------------------------------------------------

/** The term with every binary as a plain Uint8Array copy (decoded binaries are views of the frame, Buffers when inflated). */
export function plain(t: Term): Term {
  if (t instanceof Uint8Array) return new Uint8Array(t);
  if (Array.isArray(t)) return t.map(plain);
  if (t instanceof ErlTuple) return new ErlTuple(t.elements.map(plain));
  if (t instanceof ErlMap) return new ErlMap(t.entries.map(([k, v]) => [plain(k), plain(v)]));
  if (t instanceof ErlImproperList) return new ErlImproperList(t.elements.map(plain), plain(t.tail));
  if (t instanceof ErlBitstring) return new ErlBitstring(new Uint8Array(t.bytes), t.bitsInLastByte);
  if (t instanceof ErlFun) return new ErlFun(t.module, t.arity, t.index, t.oldIndex, t.oldUniq, plain(t.pid), t.freeVars.map(plain));
  return t;
}

/**
 * A lower bound of what the decoder spent on a decoded term, measured on the
 * term alone (a decoded list does not say whether it was a charlist): every
 * node is at least one term charged, nesting is counted only where it must
 * have been (a list of bytes may have been a charlist, which does not nest).
 */
export interface Measured {
  nodes: number;
  depth: number;
  /** Largest tuple, fun environment, list or charlist. */
  list: number;
  map: number;
  bignumBytes: number;
}

export function measure(t: Term): Measured {
  const m: Measured = { nodes: 0, depth: 0, list: 0, map: 0, bignumBytes: 0 };
  m.depth = walk(t, m);
  return m;
}

function walk(t: Term, m: Measured): number {
  m.nodes++;
  if (typeof t === 'bigint') {
    m.bignumBytes = Math.max(m.bignumBytes, magnitudeBytes(t).length);
    return 0;
  }
  if (Array.isArray(t)) {
    m.list = Math.max(m.list, t.length); // lists and charlists alike
    if (t.every(isByte)) {
      m.nodes += t.length;
      return 0; // may have been a charlist, which does not nest
    }
    return 1 + maxOf(t.map((e) => walk(e, m)));
  }
  if (t instanceof ErlTuple) {
    m.list = Math.max(m.list, t.elements.length);
    return 1 + maxOf(t.elements.map((e) => walk(e, m)));
  }
  if (t instanceof ErlMap) {
    m.map = Math.max(m.map, t.entries.length);
    return 1 + maxOf(t.entries.flatMap(([k, v]) => [walk(k, m), walk(v, m)]));
  }
  if (t instanceof ErlImproperList) {
    // Always a LIST_EXT (entered); its tail is read outside it, at the list's own level.
    m.list = Math.max(m.list, t.elements.length);
    const inner = maxOf(t.elements.map((e) => walk(e, m)));
    return Math.max(1 + inner, walk(t.tail, m));
  }
  if (t instanceof ErlFun) {
    m.list = Math.max(m.list, t.freeVars.length);
    return 1 + maxOf([walk(t.pid, m), ...t.freeVars.map((e) => walk(e, m))]);
  }
  return 0;
}

function isByte(e: Term): boolean {
  return typeof e === 'number' && Number.isInteger(e) && e >= 0 && e <= 255;
}

function maxOf(xs: number[]): number {
  let m = 0;
  for (const x of xs) if (x > m) m = x;
  return m;
}
