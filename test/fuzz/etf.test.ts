/**
 * Fuzz properties of the ETF decoder (src/beam/etf.ts) and the project's
 * encoder (src/beam/encode.ts): random and damaged bytes give a term or an
 * EtfError (never another exception, never a term beyond the limits, never a
 * slow call); every encoding the decoder reads gives back the term encoded;
 * a limit refuses (term_limit) exactly the terms beyond it. Seeds and run
 * counts: test/fuzz/fuzz_params.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeTerm, etfLimits, EtfError, ErlMap, ErlTuple, type EtfLimits, type Term } from '../../src/beam/etf.js';
import { encodeTerm, type SimpleTerm } from '../../src/beam/encode.js';
import { encodedArbitrary, encodeTermSpec, measure, plain, type Encoded, type IntSpec, type Spec } from './etf_terms.js';
import { fuzz, runs } from './fuzz_params.js';
import { mutate, mutationsArbitrary } from './mutate.js';

/** Limits small enough that random input reaches every one of them. */
const TIGHT: Readonly<EtfLimits> = etfLimits({
  maxDepth: 8, maxListLength: 16, maxMapSize: 8, maxBignumBytes: 16, maxUncompressedBytes: 512, maxTerms: 64,
});

/** Per call: far above what any of these inputs needs, far below what an unbounded allocation or a quadratic loop takes. */
const MAX_CALL_MS = 1000;

type Outcome = { term: Term } | { error: EtfError };

/** decodeTerm, with anything but an EtfError (and an EtfError without a reason) failing the property. */
function decode(bytes: Uint8Array, limits?: Readonly<EtfLimits> | Partial<EtfLimits>, start?: number, end?: number): Outcome {
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = { term: decodeTerm(bytes, limits, start, end) };
  } catch (error) {
    if (!(error instanceof EtfError)) {
      throw new Error(`threw ${(error as Error)?.name}: ${(error as Error)?.message} on ${hex(bytes)}`, { cause: error });
    }
    assert.ok(error.reason === 'malformed' || error.reason === 'term_limit', `reason ${String(error.reason)}`);
    assert.ok(Number.isInteger(error.offset) && error.offset >= 0, `offset ${error.offset}`);
    outcome = { error };
  }
  const ms = performance.now() - started;
  assert.ok(ms < MAX_CALL_MS, `decoding ${bytes.length} bytes took ${ms.toFixed(0)} ms: ${hex(bytes)}`);
  return outcome;
}

/** How often each outcome came up: asserted at the end so the generators keep reaching what the property is about. */
class Tally {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  /** Each key came up at least `share` of `total` runs (checked only for runs enough to say). */
  expect(total: number, share: number, ...keys: string[]): void {
    if (total < 200) return;
    for (const k of keys) {
      assert.ok(this.get(k) >= total * share, `only ${this.get(k)} of ${total} runs were "${k}": ${JSON.stringify(Object.fromEntries(this.counts))}`);
    }
  }
}

function hex(b: Uint8Array, max = 200): string {
  const h = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max)).toString('hex');
  return b.length <= max ? h : `${h}… (${b.length} bytes)`;
}

/** A decoded term is within the limits it was decoded under (as far as the term itself shows). */
function assertWithin(term: Term, limits: Readonly<EtfLimits>, bytes: Uint8Array): void {
  const m = measure(term);
  const where = `decoded from ${hex(bytes)}`;
  assert.ok(m.nodes <= limits.maxTerms, `${m.nodes} terms, over maxTerms ${limits.maxTerms}, ${where}`);
  assert.ok(m.depth <= limits.maxDepth, `nested ${m.depth} deep, over maxDepth ${limits.maxDepth}, ${where}`);
  assert.ok(m.list <= limits.maxListLength, `a list or tuple of ${m.list}, over maxListLength ${limits.maxListLength}, ${where}`);
  assert.ok(m.map <= limits.maxMapSize, `a map of ${m.map}, over maxMapSize ${limits.maxMapSize}, ${where}`);
  assert.ok(m.bignumBytes <= limits.maxBignumBytes, `a bignum of ${m.bignumBytes} bytes, over maxBignumBytes ${limits.maxBignumBytes}, ${where}`);
}

// ---- damaging encodings --------------------------------------------------------------------

/** A (damaged) uncompressed encoding wrapped as a compressed one, its declared size true or a lie. */
function compress(bytes: Uint8Array, lie: number | undefined): Uint8Array {
  const body = bytes.subarray(1);
  const z = deflateSync(body);
  const out = Buffer.alloc(6 + z.length);
  out[0] = 131;
  out[1] = 80;
  out.writeUInt32BE(lie === undefined ? body.length : lie >>> 0, 2);
  z.copy(out, 6);
  return new Uint8Array(out);
}

const TAGS = [70, 77, 80, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 68, 82];

describe('fuzz: ETF decoder on hostile bytes', () => {
  it('random bytes give a term within the limits or an EtfError', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.constantFrom(...TAGS), fc.uint8Array({ maxLength: 64 })).map(([tag, rest]) => Uint8Array.from([131, tag, ...rest])),
      // Containers of random elements: tags and lengths that point somewhere.
      fc.array(fc.oneof(fc.constantFrom(...TAGS).map((t) => [t]), fc.uint8Array({ maxLength: 4 }).map((b) => [...b])), { maxLength: 40 })
        .map((parts) => Uint8Array.from([131, ...parts.flat()])),
    );
    const tally = new Tally();
    fuzz(fc.property(bytes, fc.boolean(), (b, tight) => {
      const limits = tight ? TIGHT : etfLimits();
      const out = decode(b, limits);
      if ('term' in out) assertWithin(out.term, limits, b);
      tally.add('term' in out ? 'term' : out.error.reason);
    }), 6000);
    tally.expect(runs(6000), 0.002, 'term', 'malformed');
  });

  it('damaged real encodings (bit flips, truncations, huge length fields, inserted and deleted bytes, lying compression headers) give a term within the limits or an EtfError', () => {
    const lie = fc.option(fc.constantFrom(0, 1, 511, 513, 0xffff, 0x7fffffff, 0xffffffff), { freq: 3 });
    const tally = new Tally();
    fuzz(fc.property(encodedArbitrary(4), mutationsArbitrary, fc.boolean(), fc.boolean(), lie, (enc, mutations, tight, recompress, lied) => {
      let damaged = mutate(enc.bytes, mutations, 1);
      if (recompress && damaged[1] !== 80 && damaged.length >= 2) damaged = compress(damaged, lied ?? undefined);
      const limits = tight ? TIGHT : etfLimits();
      const out = decode(damaged, limits);
      if ('term' in out) assertWithin(out.term, limits, damaged);
      tally.add('term' in out ? 'term' : out.error.reason);
      if (damaged[1] === 80) tally.add('compressed');
    }), 4000);
    tally.expect(runs(4000), 0.02, 'term', 'malformed', 'term_limit', 'compressed');
  });

  it('a frame of many tiny terms, bigger than maxTerms, is refused as term_limit', () => {
    // The shape of a term bomb: the pre-scan must count it; the decoder must refuse it either way.
    fuzz(fc.property(fc.integer({ min: 65, max: 2000 }), fc.constantFrom(106, 97), fc.boolean(), (n, leaf, tuple) => {
      const leafBytes = leaf === 97 ? [97, 1] : [106];
      const head = tuple ? [105, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255] : [108, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
      const body = [...head];
      for (let i = 0; i < n; i++) body.push(...leafBytes);
      if (!tuple) body.push(106);
      const bytes = Uint8Array.from([131, ...body]);
      const out = decode(bytes, etfLimits({ maxTerms: 64 }));
      assert.ok('error' in out && out.error.reason === 'term_limit', `${n} terms under maxTerms 64: ${'term' in out ? 'decoded' : out.error.message}`);
    }), 200);
  });
});

// ---- round trips -----------------------------------------------------------------------------

describe('fuzz: ETF round trips', () => {
  it('every encoding of a random term (all tags, chained list tails, charlists, compressed) decodes to that term, also from inside a larger buffer', () => {
    const tags = new Set<number>();
    fuzz(fc.property(encodedArbitrary(5), fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (enc, before, after) => {
      for (const t of enc.tags) tags.add(t);
      const out = decode(enc.bytes);
      if ('error' in out) assert.fail(`${out.error.message} decoding ${hex(enc.bytes)}`);
      assert.deepStrictEqual(plain(out.term), enc.term);
      // As receivers call it: the term is a slice of a frame buffer.
      const framed = new Uint8Array(before.length + enc.bytes.length + after.length);
      framed.set(before, 0);
      framed.set(enc.bytes, before.length);
      framed.set(after, before.length + enc.bytes.length);
      const sliced = decode(framed, undefined, before.length, before.length + enc.bytes.length);
      if ('error' in sliced) assert.fail(`${sliced.error.message} decoding a slice ${hex(enc.bytes)}`);
      assert.deepStrictEqual(plain(sliced.term), enc.term);
    }), 3000);
    // Every tag the decoder reads outside a distribution header, but the pre-R16 FUN_EXT (117).
    const missing = TAGS.filter((t) => ![117, 121, 68, 82].includes(t) && !tags.has(t));
    if (runs(3000) >= 200) assert.deepEqual(missing, [], 'tags never generated');
  });

  it('src/beam/encode.ts: encodeTerm output decodes to the term encoded', () => {
    const atomText = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
    const { term } = fc.letrec<{ term: SimpleTerm }>((tie) => ({
      term: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'simple' },
        atomText.map((atom) => ({ atom })),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.bigInt({ min: -(2n ** 400n), max: 2n ** 400n }),
        fc.uint8Array({ maxLength: 32 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.array(tie('term'), { maxLength: 5 }),
        fc.array(tie('term'), { maxLength: 5 }).map((tuple) => ({ tuple })),
        fc.array(fc.tuple(tie('term'), tie('term')), { maxLength: 4 }).map((map) => ({ map })),
      ),
    }));
    const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
    const expected = (t: SimpleTerm): Term => {
      if (typeof t === 'number') return t;
      if (typeof t === 'bigint') return t <= MAX_SAFE && t >= -MAX_SAFE ? Number(t) : t;
      if (typeof t === 'string') return new Uint8Array(Buffer.from(t, 'utf8'));
      if (t instanceof Uint8Array) return new Uint8Array(t);
      if (Array.isArray(t)) return t.map(expected);
      if ('atom' in t) return t.atom;
      if ('tuple' in t) return new ErlTuple(t.tuple.map(expected));
      return new ErlMap(t.map.map(([k, v]) => [expected(k), expected(v)]));
    };
    fuzz(fc.property(term, (t) => {
      const bytes = new Uint8Array(encodeTerm(t));
      const out = decode(bytes);
      if ('error' in out) assert.fail(`${out.error.message} decoding encodeTerm output ${hex(bytes)}`);
      assert.deepStrictEqual(plain(out.term), expected(t));
    }), 1500);
  });
});

// ---- limits, either side ---------------------------------------------------------------------

type LimitName = 'maxTerms' | 'maxDepth' | 'maxListLength' | 'maxMapSize' | 'maxBignumBytes' | 'maxUncompressedBytes';

/** What a term needs of each limit, by the decoder's own accounting (Stats). */
function needs(enc: Encoded): Record<LimitName, number> {
  const s = enc.stats;
  return {
    maxTerms: s.terms, maxDepth: s.depth, maxListLength: s.list, maxMapSize: s.map, maxBignumBytes: s.bignum, maxUncompressedBytes: enc.inflated ?? 0,
  };
}

function over(need: Record<LimitName, number>, limits: EtfLimits): LimitName[] {
  return (Object.keys(need) as LimitName[]).filter((k) => need[k] > limits[k]);
}

const LIMIT_NAMES: LimitName[] = ['maxTerms', 'maxDepth', 'maxListLength', 'maxMapSize', 'maxBignumBytes', 'maxUncompressedBytes'];

describe('fuzz: ETF limits', () => {
  it('a valid term is decoded when within every limit and refused as term_limit when over one, whichever limit and by however little', () => {
    // Each chosen limit is set just below, at or just above what the term needs.
    const tweaks = fc.array(fc.tuple(fc.constantFrom(...LIMIT_NAMES), fc.integer({ min: -2, max: 1 })), { minLength: 1, maxLength: 3 });
    const tally = new Tally();
    fuzz(fc.property(encodedArbitrary(5), tweaks, (enc, chosen) => {
      const need = needs(enc);
      const partial: Partial<EtfLimits> = {};
      for (const [name, delta] of chosen) partial[name] = Math.max(0, need[name] + delta);
      const limits = etfLimits(partial);
      const out = decode(enc.bytes, limits);
      const exceeded = over(need, limits);
      const summary = `needs ${JSON.stringify(need)} under ${JSON.stringify(partial)}: ${hex(enc.bytes)}`;
      tally.add(exceeded.length === 0 ? 'within' : 'over');
      for (const name of exceeded) tally.add(name);
      if (exceeded.length === 0) {
        if ('error' in out) assert.fail(`refused (${out.error.reason}: ${out.error.message}) within the limits; ${summary}`);
        assert.deepStrictEqual(plain(out.term), enc.term);
      } else {
        assert.ok('error' in out, `decoded although over ${exceeded.join(', ')}; ${summary}`);
        assert.equal(out.error.reason, 'term_limit', `${out.error.message}; ${summary}`);
      }
    }), 3000);
    tally.expect(runs(3000), 0.2, 'within', 'over');
    tally.expect(runs(3000), 0.005, ...LIMIT_NAMES);
  });

  it('charlists are held to maxListLength like other lists (EtfLimits.maxListLength: "Elements in one list, tuple or charlist")', () => {
    const byte = (v: number): IntSpec => ({ k: 'int', v: BigInt(v), enc: 'auto', pad: 0 });
    fuzz(fc.property(fc.uint8Array({ minLength: 2, maxLength: 300 }), fc.boolean(), fc.integer({ min: 0, max: 299 }), (chars, tailOnly, max) => {
      const items = [...chars].map(byte);
      const spec: Spec = tailOnly
        ? { k: 'list', items, asString: false, cuts: [0], stringTail: true } // [b0 | "b1…"]: a charlist tail
        : { k: 'list', items, asString: true, cuts: [], stringTail: false }; // "b0…": STRING_EXT
      const enc = encodeTermSpec(spec);
      const out = decode(enc.bytes, etfLimits({ maxListLength: max }));
      if (chars.length <= max) {
        if ('error' in out) assert.fail(out.error.message);
        assert.deepStrictEqual(plain(out.term), enc.term);
      } else {
        assert.ok('error' in out, `a charlist of ${chars.length} decoded under maxListLength ${max} (${tailOnly ? 'as a list tail' : 'STRING_EXT'})`);
        assert.equal(out.error.reason, 'term_limit');
      }
    }), 300);
  });
});
