/**
 * Erlang External Term Format decoder, written to the spec
 * (erts/doc: External Term Format) and tested against real `erl`.
 *
 * Hot path first: decodes straight from the given buffer (binaries are
 * subarrays, not copies), one class with a cursor, no closures per term.
 * Hostile input meets limits on depth, length, size, what a compressed term
 * inflates to and how many terms one call decodes, and becomes an EtfError,
 * never a hang, a crash or an unbounded allocation: what one call allocates
 * is bounded by `maxTerms` (times the largest term object, a reference at
 * about 110 bytes) plus `maxUncompressedBytes`, both checked before
 * allocating (a bomb of a million tiny terms is counted by a scan that builds
 * nothing, and refused).
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
  /**
   * Bytes a compressed term may inflate to. A receiver passes its frame limit:
   * the declared size is checked against it before anything is inflated, and
   * zlib stops at the declared size, so a lying header costs no more.
   */
  maxUncompressedBytes: number;
  /**
   * Terms one call decodes (every term, list tails included, and every
   * element of a charlist): bounds the objects a frame becomes however it is
   * nested or compressed. Input that could exceed it (more bytes than terms
   * allowed) is counted before anything is built. Real trace frames hold tens
   * of terms; a traced message of a million elements is far beyond anything
   * one renders.
   */
  maxTerms: number;
}

export const defaultEtfLimits: EtfLimits = {
  maxDepth: 256,
  maxListLength: 10_000_000,
  maxMapSize: 1_000_000,
  maxBignumBytes: 8192,
  maxUncompressedBytes: 64 * 1024 * 1024,
  maxTerms: 1_000_000,
};

/** Why a term was not decoded: `malformed` (not valid ETF, or a header that lies) or `term_limit` (valid, but over a limit). */
export type EtfErrorReason = 'malformed' | 'term_limit';

export class EtfError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly reason: EtfErrorReason = 'malformed',
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'EtfError';
  }
}

const RESOLVED = Symbol('scope.etfLimits');

/**
 * Complete limits from a partial set, made once (a receiver keeps the result):
 * decodeTerm takes it as is instead of merging with the defaults per call.
 */
export function etfLimits(limits: Partial<EtfLimits> = {}): Readonly<EtfLimits> {
  const out = { ...defaultEtfLimits, ...limits };
  Object.defineProperty(out, RESOLVED, { value: true, enumerable: false });
  return Object.freeze(out);
}

const VERSION = 131;
const EMPTY = new Uint8Array(0);
/** Deflate's best case is about 1032:1 (258-byte matches at a bit or two each): no stream inflates further. */
const MAX_DEFLATE_RATIO = 1100;
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
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

/** Past an atom at p (any atom tag), or -1. */
function skipAtom(buf: Uint8Array, p: number, end: number): number {
  if (p < 0 || p >= end) return -1;
  const tag = buf[p];
  if (tag === 100 || tag === 118) return p + 3 > end ? -1 : p + 3 + ((buf[p + 1] << 8) | buf[p + 2]);
  if (tag === 115 || tag === 119) return p + 2 > end ? -1 : p + 2 + buf[p + 1];
  return -1;
}

/** Past a SMALL_INTEGER_EXT or INTEGER_EXT at p, or -1. */
function skipSmallInt(buf: Uint8Array, p: number, end: number): number {
  if (p < 0 || p >= end) return -1;
  return buf[p] === 97 ? p + 2 : buf[p] === 98 ? p + 5 : -1;
}

/** One decoding pass over one buffer. Reused per call; never shared across calls in flight. */
class Decoder {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private pos = 0;
  private end = 0;
  private depth = 0;
  /** Terms still allowed in this call (maxTerms counting down). */
  private budget = 0;
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
      this.checkTermCount();
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
    this.budget = limits.maxTerms;
    this.limits = limits;
  }

  /** Drops the references to the caller's and the inflated buffers, so a decoder at rest keeps no frame alive. */
  release(): void {
    this.buf = EMPTY;
    this.view = EMPTY_VIEW;
  }

  private compressed(): Term {
    const at = this.pos;
    this.need(5);
    const size = this.u32(this.pos + 1);
    this.pos += 5;
    // Before inflating anything: a declared size deflate cannot reach from these bytes is a lie,
    // and one over the limit is refused at once.
    if (size > (this.end - this.pos) * MAX_DEFLATE_RATIO + 1024) {
      throw new EtfError(`compressed term declares ${size} bytes, more than ${this.end - this.pos} compressed bytes can hold`, at);
    }
    if (size > this.limits.maxUncompressedBytes) {
      throw new EtfError(`compressed term inflates to ${size} bytes, over the limit of ${this.limits.maxUncompressedBytes}`, at, 'term_limit');
    }
    let inflated: Buffer;
    let consumed: number;
    try {
      // zlib grows its output chunk by chunk and stops with an error at maxOutputLength (the declared size):
      // a header that understates what follows costs at most that size, never the real inflation.
      const result = inflateSync(this.buf.subarray(this.pos, this.end), {
        maxOutputLength: Math.max(size, 1), chunkSize: Math.min(Math.max(size, 64), 64 * 1024), info: true,
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      inflated = result.buffer;
      consumed = result.engine.bytesWritten;
    } catch (error) {
      const over = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new EtfError(over ? `compressed term inflates past its declared ${size} bytes` : `bad compressed term: ${(error as Error).message}`, at);
    }
    if (inflated.length !== size) throw new EtfError(`compressed term inflated to ${inflated.length} bytes, header said ${size}`, at);
    if (consumed !== this.end - this.pos) throw new EtfError(`${this.end - this.pos - consumed} bytes left after the compressed term`, at);
    const outer = { buf: this.buf, view: this.view, end: this.end };
    this.buf = inflated;
    this.view = new DataView(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    this.pos = 0;
    this.end = inflated.length;
    this.checkTermCount();
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
    if (++this.depth > this.limits.maxDepth) throw new EtfError(`nested deeper than ${this.limits.maxDepth}`, this.pos, 'term_limit');
  }

  private tooManyTerms(): never {
    throw new EtfError(`more than ${this.limits.maxTerms} terms`, this.pos, 'term_limit');
  }

  /**
   * Every term takes at least a byte, so only input longer than the term
   * budget can exceed it. Such input is counted first, by a scan that skips
   * over the bytes without building anything: a frame of a million tiny terms
   * is refused before one of them is allocated. The count is the decoder's
   * own (each term, each charlist element, each list tail); input the scan
   * cannot follow is left to the decoder, which fails on it (its budget
   * still holds).
   */
  private checkTermCount(): void {
    if (this.end - this.pos <= this.budget) return;
    if (this.countTerms(this.budget) > this.budget) this.tooManyTerms();
  }

  /** Terms from pos as term() counts them, stopping once past `max`; -1 where the bytes are not a term it can follow. */
  private countTerms(max: number): number {
    const buf = this.buf;
    const view = this.view;
    const end = this.end;
    let p = this.pos;
    let pending = 1;
    let count = 0;
    while (pending > 0) {
      if (++count > max) return count;
      pending--;
      if (p >= end) return -1;
      const tag = buf[p++];
      switch (tag) {
        case 97: p += 1; break;
        case 98: p += 4; break;
        case 70: p += 8; break;
        case 99: p += 31; break;
        case 106: break;
        case 100: case 118:
          if (p + 2 > end) return -1;
          p += 2 + ((buf[p] << 8) | buf[p + 1]);
          break;
        case 115: case 119:
          if (p >= end) return -1;
          p += 1 + buf[p];
          break;
        case 104:
          if (p >= end) return -1;
          pending += buf[p++];
          break;
        case 105: case 108: case 116:
          if (p + 4 > end) return -1;
          // tuple: n elements; list: n elements and a tail; map: n keys and n values.
          pending += tag === 105 ? view.getUint32(p, false) : tag === 108 ? view.getUint32(p, false) + 1 : 2 * view.getUint32(p, false);
          p += 4;
          break;
        case 107: {
          if (p + 2 > end) return -1;
          const len = (buf[p] << 8) | buf[p + 1];
          p += 2 + len;
          count += len;
          break;
        }
        case 109:
          if (p + 4 > end) return -1;
          p += 4 + view.getUint32(p, false);
          break;
        case 77: case 111:
          if (p + 4 > end) return -1;
          p += 5 + view.getUint32(p, false);
          break;
        case 110:
          if (p >= end) return -1;
          p += 2 + buf[p];
          break;
        case 88: case 103: case 89: case 120: case 102: case 101:
          p = skipAtom(buf, p, end);
          if (p < 0) return -1;
          p += tag === 88 || tag === 120 ? 12 : tag === 103 ? 9 : tag === 89 ? 8 : 5;
          break;
        case 90: case 114: {
          if (p + 2 > end) return -1;
          const words = (buf[p] << 8) | buf[p + 1];
          p = skipAtom(buf, p + 2, end);
          if (p < 0) return -1;
          p += (tag === 90 ? 4 : 1) + 4 * words;
          break;
        }
        case 113:
          p = skipSmallInt(buf, skipAtom(buf, skipAtom(buf, p, end), end), end);
          if (p < 0) return -1;
          break;
        case 112: { // NEW_FUN_EXT: Size, Arity, Uniq, Index, NumFree, then Module, OldIndex, OldUniq (not terms), Pid and the free variables (terms)
          if (p + 29 > end) return -1;
          const numFree = view.getUint32(p + 25, false);
          p = skipSmallInt(buf, skipSmallInt(buf, skipAtom(buf, p + 29, end), end), end);
          if (p < 0) return -1;
          pending += 1 + numFree;
          break;
        }
        case 117: // FUN_EXT: NumFree, Pid, Module, Index, Uniq, free variables; the four read as terms here (term() charges them alike)
          if (p + 4 > end) return -1;
          pending += 4 + view.getUint32(p, false);
          p += 4;
          break;
        default:
          return -1;
      }
      if (p > end) return -1;
    }
    return count;
  }

  /** A count of elements that each take at least `minBytes`: checked against what is left before allocating. */
  private count(n: number, minBytes: number, max: number, what: string): void {
    // A count the bytes cannot hold is a lie (malformed); one they can, over the limit, is a term too big to take.
    if (n * minBytes > this.end - this.pos) throw new EtfError(`${what} of ${n} elements cannot fit in ${this.end - this.pos} bytes`, this.pos);
    if (n > max) throw new EtfError(`${what} of ${n} elements is over the limit of ${max}`, this.pos, 'term_limit');
  }

  term(): Term {
    if (--this.budget < 0) this.tooManyTerms();
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
        this.count(len, 1, this.limits.maxListLength, 'charlist');
        if ((this.budget -= len) < 0) this.tooManyTerms();
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
        const ids: number[] = new Array<number>(len);
        for (let i = 0; i < len; i++) ids[i] = this.view.getUint32(this.pos + 4 * i, false);
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
        if ((this.budget -= 3) < 0) this.tooManyTerms(); // module, index and uniq, as the count before decoding charges them
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
    this.enter();
    this.need(4);
    const first = this.view.getUint32(this.pos, false);
    this.pos += 4;
    this.count(first + 1, 1, this.limits.maxListLength + 1, 'list');
    // The first segment's length is known: sized once, not grown push by push.
    const elements: Term[] = new Array<Term>(first);
    for (let i = 0; i < first; i++) elements[i] = this.term();
    for (;;) {
      this.need(1);
      const tailTag = this.buf[this.pos];
      if (tailTag === 108) {
        if (--this.budget < 0) this.tooManyTerms(); // the tail is a term, read here without term()
        this.pos++;
        this.need(4);
        const n = this.view.getUint32(this.pos, false);
        this.pos += 4;
        this.count(n + 1, 1, this.limits.maxListLength + 1 - elements.length, 'list');
        for (let i = 0; i < n; i++) elements.push(this.term());
        continue;
      }
      this.depth--;
      if (tailTag === 106) {
        if (--this.budget < 0) this.tooManyTerms();
        this.pos++;
        return elements;
      }
      const tail = this.term();
      if (Array.isArray(tail)) {
        // A charlist tail: still a proper list, held to the same limit as a whole.
        if (elements.length + tail.length > this.limits.maxListLength) {
          throw new EtfError(`list of ${elements.length + tail.length} elements is over the limit of ${this.limits.maxListLength}`, this.pos, 'term_limit');
        }
        for (const t of tail) elements.push(t);
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
    this.need(n);
    if (n > this.limits.maxBignumBytes) throw new EtfError(`bignum of ${n} bytes is over the limit of ${this.limits.maxBignumBytes}`, this.pos, 'term_limit');
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
  const effective = limits === undefined ? defaultEtfLimits : (limits as { [RESOLVED]?: boolean })[RESOLVED] === true ? (limits as EtfLimits) : { ...defaultEtfLimits, ...limits };
  try {
    return shared.run(buf, start, end, effective);
  } catch (error) {
    // The decoder may be left pointing at an inflated buffer: let it go now rather than at the next call.
    shared.release();
    // A maxDepth raised past what the stack holds: still a clear error, never a crash.
    if (error instanceof RangeError) throw new EtfError('term nested too deep for the stack', start, 'term_limit');
    throw error;
  }
}
