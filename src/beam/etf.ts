/**
 * Erlang External Term Format decoder, written to the spec
 * (erts/doc: External Term Format) and tested against real `erl`.
 *
 * Hot path first: decodes straight from the given buffer (binaries are
 * subarrays, not copies), one class with a cursor, no closures per term.
 * Hostile input meets limits on depth, length and size and becomes an
 * EtfError, never a hang, a crash or an unbounded allocation.
 */
import { inflateSync } from 'node:zlib';
import {
  ErlBitstring, ErlExport, ErlFloat, ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term,
} from './terms.js';

export * from './terms.js';
export { renderTerm } from './render.js';

export interface EtfLimits {
  /** Nesting of tuples, lists, maps and funs. */
  maxDepth: number;
  /** Elements in one list, tuple or charlist. */
  maxListLength: number;
  /** Pairs in one map. */
  maxMapSize: number;
  /** Bytes of one bignum (8192 bytes ≈ 19 700 decimal digits). */
  maxBignumBytes: number;
  /** Bytes a compressed term may inflate to. */
  maxUncompressedBytes: number;
}

export const defaultEtfLimits: EtfLimits = {
  maxDepth: 256,
  maxListLength: 10_000_000,
  maxMapSize: 1_000_000,
  maxBignumBytes: 8192,
  maxUncompressedBytes: 64 * 1024 * 1024,
};

export class EtfError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'EtfError';
  }
}

const VERSION = 131;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

function normalize(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
}

function decodeText(buf: Uint8Array, start: number, len: number, utf8: boolean): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, len).toString(utf8 ? 'utf8' : 'latin1');
}

const MAX_CACHED_ATOM = 64;

/**
 * Atoms repeat endlessly in trace data (tags, node names, modules). A small
 * direct-mapped cache keyed by the atom's bytes returns the same flat string
 * every time: no per-atom allocation, and later comparisons and map lookups
 * on it are pointer-fast.
 */
class AtomCache {
  private readonly size = 4096;
  private readonly keys: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(this.size);
  private readonly flags = new Uint8Array(this.size);
  private readonly values: string[] = new Array<string>(this.size).fill('');

  get(buf: Uint8Array, start: number, len: number, utf8: boolean): string {
    let h = 0x811c9dc5 ^ len;
    for (let i = start; i < start + len; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    const slot = (h >>> 0) & (this.size - 1);
    const key = this.keys[slot];
    const flag = utf8 ? 2 : 1;
    if (key !== undefined && key.length === len && this.flags[slot] === flag) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (key[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.values[slot];
    }
    const text = decodeText(buf, start, len, utf8);
    this.keys[slot] = new Uint8Array(buf.subarray(start, start + len)); // a copy: the frame buffer may be reused
    this.flags[slot] = flag;
    this.values[slot] = text;
    return text;
  }
}

const atoms = new AtomCache();

/** One decoding pass over one buffer. Reused per call; never shared across calls in flight. */
class Decoder {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private pos = 0;
  private end = 0;
  private depth = 0;
  private limits: EtfLimits = defaultEtfLimits;

  run(buf: Uint8Array, start: number, end: number, limits: EtfLimits): Term {
    this.reset(buf, start, end, limits);
    if (this.end - this.pos < 2) throw new EtfError('too short for a term', this.pos);
    if (buf[this.pos] !== VERSION) throw new EtfError(`version byte ${buf[this.pos]}, expected 131`, this.pos);
    this.pos++;
    let term: Term;
    if (buf[this.pos] === 80) {
      term = this.compressed();
    } else {
      term = this.term();
    }
    if (this.pos !== this.end) throw new EtfError(`${this.end - this.pos} bytes left after the term`, this.pos);
    return term;
  }

  private reset(buf: Uint8Array, start: number, end: number, limits: EtfLimits): void {
    // Frames of one socket chunk share a buffer: one DataView serves them all.
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.pos = start;
    this.end = end;
    this.depth = 0;
    this.limits = limits;
  }

  private compressed(): Term {
    const at = this.pos;
    this.need(5);
    const size = this.u32(this.pos + 1);
    this.pos += 5;
    if (size > this.limits.maxUncompressedBytes) throw new EtfError(`compressed term inflates to ${size} bytes, over the limit`, at);
    let inflated: Buffer;
    let consumed: number;
    try {
      const result = inflateSync(this.buf.subarray(this.pos, this.end), { maxOutputLength: Math.max(size, 1), info: true }) as unknown as {
        buffer: Buffer; engine: { bytesWritten: number };
      };
      inflated = result.buffer;
      consumed = result.engine.bytesWritten;
    } catch (error) {
      throw new EtfError(`bad compressed term: ${(error as Error).message}`, at);
    }
    if (inflated.length !== size) throw new EtfError(`compressed term inflated to ${inflated.length} bytes, header said ${size}`, at);
    if (consumed !== this.end - this.pos) throw new EtfError(`${this.end - this.pos - consumed} bytes left after the compressed term`, at);
    const outer = { buf: this.buf, view: this.view, end: this.end };
    this.buf = inflated;
    this.view = new DataView(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    this.pos = 0;
    this.end = inflated.length;
    const term = this.term();
    if (this.pos !== this.end) throw new EtfError(`${this.end - this.pos} bytes left after the compressed term`, at);
    this.buf = outer.buf;
    this.view = outer.view;
    this.pos = outer.end;
    this.end = outer.end;
    return term;
  }

  private need(n: number): void {
    if (this.end - this.pos < n) throw new EtfError(`truncated: needs ${n} more bytes, has ${this.end - this.pos}`, this.pos);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, false);
  }

  private enter(): void {
    if (++this.depth > this.limits.maxDepth) throw new EtfError(`nested deeper than ${this.limits.maxDepth}`, this.pos);
  }

  /** A count of elements that each take at least `minBytes`: checked against what is left before allocating. */
  private count(n: number, minBytes: number, max: number, what: string): void {
    if (n > max) throw new EtfError(`${what} of ${n} elements is over the limit of ${max}`, this.pos);
    if (n * minBytes > this.end - this.pos) throw new EtfError(`${what} of ${n} elements cannot fit in ${this.end - this.pos} bytes`, this.pos);
  }

  term(): Term {
    if (this.pos >= this.end) throw new EtfError('truncated: expected a tag', this.pos);
    const buf = this.buf;
    const tag = buf[this.pos++];
    switch (tag) {
      case 97: // SMALL_INTEGER_EXT
        this.need(1);
        return buf[this.pos++];
      case 98: { // INTEGER_EXT
        this.need(4);
        const v = this.view.getInt32(this.pos, false);
        this.pos += 4;
        return v;
      }
      case 70: { // NEW_FLOAT_EXT
        this.need(8);
        const v = this.view.getFloat64(this.pos, false);
        this.pos += 8;
        return new ErlFloat(v);
      }
      case 99: { // FLOAT_EXT: 31 bytes of "%.20e" text
        this.need(31);
        let stop = this.pos;
        while (stop < this.pos + 31 && buf[stop] !== 0) stop++;
        const text = Buffer.from(buf.buffer, buf.byteOffset + this.pos, stop - this.pos).toString('latin1');
        this.pos += 31;
        const v = Number(text);
        if (!Number.isFinite(v) && text.trim() !== '') throw new EtfError(`bad FLOAT_EXT "${text}"`, this.pos - 31);
        return new ErlFloat(v);
      }
      case 100: // ATOM_EXT (latin1)
      case 118: { // ATOM_UTF8_EXT
        this.need(2);
        const len = (buf[this.pos] << 8) | buf[this.pos + 1];
        this.pos += 2;
        return this.atomText(len, tag === 118);
      }
      case 115: // SMALL_ATOM_EXT
      case 119: { // SMALL_ATOM_UTF8_EXT
        this.need(1);
        const len = buf[this.pos++];
        return this.atomText(len, tag === 119);
      }
      case 104: { // SMALL_TUPLE_EXT
        this.need(1);
        return this.tuple(buf[this.pos++]);
      }
      case 105: { // LARGE_TUPLE_EXT
        this.need(4);
        const n = this.view.getUint32(this.pos, false);
        this.pos += 4;
        return this.tuple(n);
      }
      case 106: // NIL_EXT
        return [];
      case 107: { // STRING_EXT: a list of bytes
        this.need(2);
        const len = (buf[this.pos] << 8) | buf[this.pos + 1];
        this.pos += 2;
        this.need(len);
        const out: number[] = new Array<number>(len);
        for (let i = 0; i < len; i++) out[i] = buf[this.pos + i];
        this.pos += len;
        return out;
      }
      case 108: // LIST_EXT
        return this.list();
      case 109: { // BINARY_EXT
        this.need(4);
        const len = this.view.getUint32(this.pos, false);
        this.pos += 4;
        this.need(len);
        const bin = buf.subarray(this.pos, this.pos + len);
        this.pos += len;
        return bin;
      }
      case 77: { // BIT_BINARY_EXT
        this.need(5);
        const len = this.view.getUint32(this.pos, false);
        const bits = buf[this.pos + 4];
        this.pos += 5;
        this.need(len);
        if (len === 0 || bits < 1 || bits > 8) throw new EtfError(`bad bitstring: ${len} bytes, ${bits} bits in the last`, this.pos - 5);
        const bytes = buf.subarray(this.pos, this.pos + len);
        this.pos += len;
        return bits === 8 ? bytes : new ErlBitstring(bytes, bits);
      }
      case 110: { // SMALL_BIG_EXT
        this.need(2);
        const n = buf[this.pos];
        const sign = buf[this.pos + 1];
        this.pos += 2;
        return this.bignum(n, sign);
      }
      case 111: { // LARGE_BIG_EXT
        this.need(5);
        const n = this.view.getUint32(this.pos, false);
        const sign = buf[this.pos + 4];
        this.pos += 5;
        return this.bignum(n, sign);
      }
      case 116: { // MAP_EXT
        this.need(4);
        const n = this.view.getUint32(this.pos, false);
        this.pos += 4;
        this.count(n, 2, this.limits.maxMapSize, 'map');
        this.enter();
        const entries: Array<[Term, Term]> = new Array<[Term, Term]>(n);
        for (let i = 0; i < n; i++) {
          const k = this.term();
          entries[i] = [k, this.term()];
        }
        this.depth--;
        return new ErlMap(entries);
      }
      case 88: { // NEW_PID_EXT
        const node = this.atom();
        this.need(12);
        const v = this.view;
        const pid = new ErlPid(node, v.getUint32(this.pos, false), v.getUint32(this.pos + 4, false), v.getUint32(this.pos + 8, false));
        this.pos += 12;
        return pid;
      }
      case 103: { // PID_EXT
        const node = this.atom();
        this.need(9);
        const v = this.view;
        const pid = new ErlPid(node, v.getUint32(this.pos, false), v.getUint32(this.pos + 4, false), buf[this.pos + 8]);
        this.pos += 9;
        return pid;
      }
      case 89: { // NEW_PORT_EXT
        const node = this.atom();
        this.need(8);
        const port = new ErlPort(node, this.view.getUint32(this.pos, false), this.view.getUint32(this.pos + 4, false));
        this.pos += 8;
        return port;
      }
      case 120: { // V4_PORT_EXT
        const node = this.atom();
        this.need(12);
        const port = new ErlPort(node, normalize(this.view.getBigUint64(this.pos, false)), this.view.getUint32(this.pos + 8, false));
        this.pos += 12;
        return port;
      }
      case 102: { // PORT_EXT
        const node = this.atom();
        this.need(5);
        const port = new ErlPort(node, this.view.getUint32(this.pos, false), buf[this.pos + 4]);
        this.pos += 5;
        return port;
      }
      case 90: // NEWER_REFERENCE_EXT
      case 114: { // NEW_REFERENCE_EXT
        this.need(2);
        const len = (buf[this.pos] << 8) | buf[this.pos + 1];
        this.pos += 2;
        const node = this.atom();
        const creationBytes = tag === 90 ? 4 : 1;
        if (len > 5) throw new EtfError(`reference with ${len} id words`, this.pos);
        this.need(creationBytes + 4 * len);
        const creation = tag === 90 ? this.view.getUint32(this.pos, false) : buf[this.pos];
        this.pos += creationBytes;
        const ids: number[] = [];
        for (let i = 0; i < len; i++) ids.push(this.view.getUint32(this.pos + 4 * i, false));
        this.pos += 4 * len;
        return new ErlRef(node, creation, ids);
      }
      case 101: { // REFERENCE_EXT
        const node = this.atom();
        this.need(5);
        const ref = new ErlRef(node, buf[this.pos + 4], [this.view.getUint32(this.pos, false)]);
        this.pos += 5;
        return ref;
      }
      case 113: { // EXPORT_EXT
        const module = this.atom();
        const fun = this.atom();
        return new ErlExport(module, fun, this.smallInt('export arity'));
      }
      case 112: { // NEW_FUN_EXT
        const at = this.pos;
        this.need(4 + 1 + 16 + 4 + 4);
        const size = this.view.getUint32(this.pos, false);
        if (size > this.end - at + 1) throw new EtfError(`fun of ${size} bytes cannot fit`, at);
        const arity = buf[this.pos + 4];
        const index = this.view.getUint32(this.pos + 21, false);
        const numFree = this.view.getUint32(this.pos + 25, false);
        this.pos += 29;
        this.count(numFree, 1, this.limits.maxListLength, 'fun environment');
        this.enter();
        const module = this.atom();
        const oldIndex = this.smallInt('fun old index');
        const oldUniq = this.smallInt('fun old uniq');
        const pid = this.term();
        const freeVars: Term[] = new Array<Term>(numFree);
        for (let i = 0; i < numFree; i++) freeVars[i] = this.term();
        this.depth--;
        return new ErlFun(module, arity, index, oldIndex, oldUniq, pid, freeVars);
      }
      case 117: { // FUN_EXT (before OTP R16)
        this.need(4);
        const numFree = this.view.getUint32(this.pos, false);
        this.pos += 4;
        this.count(numFree, 1, this.limits.maxListLength, 'fun environment');
        this.enter();
        const pid = this.term();
        const module = this.atom();
        const index = this.smallInt('fun index');
        const uniq = this.smallInt('fun uniq');
        const freeVars: Term[] = new Array<Term>(numFree);
        for (let i = 0; i < numFree; i++) freeVars[i] = this.term();
        this.depth--;
        return new ErlFun(module, -1, index, index, uniq, pid, freeVars);
      }
      case 121:
        throw new EtfError('LOCAL_EXT terms can only be decoded by the node that encoded them', this.pos - 1);
      case 82: // ATOM_CACHE_REF
      case 68: // DIST_HEADER
        throw new EtfError(`distribution-only tag ${tag} outside a distribution header`, this.pos - 1);
      default:
        throw new EtfError(`unknown tag ${tag}`, this.pos - 1);
    }
  }

  private atomText(len: number, utf8: boolean): string {
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return len <= MAX_CACHED_ATOM ? atoms.get(this.buf, start, len, utf8) : decodeText(this.buf, start, len, utf8);
  }

  /** An atom in a position that must hold one (node names, modules): only atom tags, no recursion. */
  private atom(): string {
    this.need(1);
    const tag = this.buf[this.pos];
    if (tag === 100 || tag === 118) {
      this.need(3);
      const len = (this.buf[this.pos + 1] << 8) | this.buf[this.pos + 2];
      this.pos += 3;
      return this.atomText(len, tag === 118);
    }
    if (tag === 115 || tag === 119) {
      this.need(2);
      const len = this.buf[this.pos + 1];
      this.pos += 2;
      return this.atomText(len, tag === 119);
    }
    throw new EtfError(`expected an atom, found tag ${tag}`, this.pos);
  }

  /** SMALL_INTEGER_EXT or INTEGER_EXT where the format requires one (fun indexes, export arity). */
  private smallInt(what: string): number {
    this.need(1);
    const tag = this.buf[this.pos];
    if (tag === 97) {
      this.need(2);
      this.pos += 2;
      return this.buf[this.pos - 1];
    }
    if (tag === 98) {
      this.need(5);
      const v = this.view.getInt32(this.pos + 1, false);
      this.pos += 5;
      return v;
    }
    throw new EtfError(`${what} is not an integer (tag ${tag})`, this.pos);
  }

  /**
   * LIST_EXT. A tail that is itself a LIST_EXT or a STRING_EXT continues the same
   * proper list; it is read in a loop, so such chains cost neither stack nor copies.
   */
  private list(): Term {
    const elements: Term[] = [];
    this.enter();
    for (;;) {
      this.need(4);
      const n = this.view.getUint32(this.pos, false);
      this.pos += 4;
      this.count(n + 1, 1, this.limits.maxListLength + 1 - elements.length, 'list');
      for (let i = 0; i < n; i++) elements.push(this.term());
      this.need(1);
      const tailTag = this.buf[this.pos];
      if (tailTag === 108) {
        this.pos++;
        continue;
      }
      this.depth--;
      if (tailTag === 106) {
        this.pos++;
        return elements;
      }
      const tail = this.term();
      if (Array.isArray(tail)) {
        for (const t of tail) elements.push(t); // a charlist tail: still a proper list
        return elements;
      }
      return new ErlImproperList(elements, tail);
    }
  }

  private tuple(n: number): ErlTuple {
    this.count(n, 1, this.limits.maxListLength, 'tuple');
    this.enter();
    const elements: Term[] = new Array<Term>(n);
    for (let i = 0; i < n; i++) elements[i] = this.term();
    this.depth--;
    return new ErlTuple(elements);
  }

  private bignum(n: number, sign: number): number | bigint {
    if (n > this.limits.maxBignumBytes) throw new EtfError(`bignum of ${n} bytes is over the limit of ${this.limits.maxBignumBytes}`, this.pos);
    this.need(n);
    const b = this.buf;
    const p = this.pos;
    this.pos += n;
    if (n <= 6) {
      // Exact in a double: the common case (monotonic times, unique integers).
      let v = 0;
      for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
      return sign ? -v : v;
    }
    let v: bigint;
    if (n === 8) {
      v = this.view.getBigUint64(p, true); // monotonic times: one allocation
    } else if (n === 7) {
      let hi = 0;
      for (let i = 6; i >= 4; i--) hi = hi * 256 + b[p + i];
      const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
      v = (BigInt(hi) << 32n) | BigInt(lo);
    } else {
      let hex = '';
      for (let i = n - 1; i >= 0; i--) hex += (b[p + i] < 16 ? '0' : '') + b[p + i].toString(16);
      v = BigInt('0x' + hex);
    }
    return normalize(sign ? -v : v);
  }
}

const shared = new Decoder();

/**
 * Decodes one term from `buf[start, end)`, which must begin with the version
 * byte 131 and hold exactly one term. Throws EtfError on bad or hostile input.
 */
export function decodeTerm(buf: Uint8Array, limits?: Partial<EtfLimits>, start = 0, end = buf.length): Term {
  const effective = limits ? { ...defaultEtfLimits, ...limits } : defaultEtfLimits;
  try {
    return shared.run(buf, start, end, effective);
  } catch (error) {
    // A maxDepth raised past what the stack holds: still a clear error, never a crash.
    if (error instanceof RangeError) throw new EtfError('term nested too deep for the stack', start);
    throw error;
  }
}
