/**
 * A minimal External Term Format encoder: enough for the receivers' replies
 * to BEAM clients and for tests that speak to them (atoms, integers,
 * binaries, lists, tuples, maps). Decoding is etf.ts.
 */
export type SimpleTerm =
  | { atom: string }
  | number
  | bigint
  | Uint8Array
  | string
  | SimpleTerm[]
  | { tuple: SimpleTerm[] }
  | { map: Array<[SimpleTerm, SimpleTerm]> };

const VERSION = 131;
const SMALL_INTEGER_EXT = 97;
const INTEGER_EXT = 98;
const SMALL_TUPLE_EXT = 104;
const NIL_EXT = 106;
const LIST_EXT = 108;
const BINARY_EXT = 109;
const SMALL_ATOM_UTF8_EXT = 119;
const SMALL_BIG_EXT = 110;
const MAP_EXT = 116;

const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

function encode(term: SimpleTerm, out: number[]): void {
  if (typeof term === 'bigint') {
    if (term >= -(2n ** 31n) && term < 2n ** 31n) return encode(Number(term), out);
    let magnitude = term < 0n ? -term : term;
    const digits: number[] = [];
    while (magnitude > 0n) {
      digits.push(Number(magnitude & 255n));
      magnitude >>= 8n;
    }
    out.push(SMALL_BIG_EXT, digits.length, term < 0n ? 1 : 0, ...digits);
  } else if (typeof term === 'number') {
    if (!Number.isInteger(term) || term < -(2 ** 31) || term >= 2 ** 31) throw new RangeError(`not a 32-bit integer: ${term}`);
    if (term >= 0 && term < 256) out.push(SMALL_INTEGER_EXT, term);
    else out.push(INTEGER_EXT, ...u32(term));
  } else if (typeof term === 'string' || term instanceof Uint8Array) {
    // Strings go out as binaries (UTF-8), as Elixir strings are.
    const bytes = typeof term === 'string' ? Buffer.from(term, 'utf8') : term;
    const n = bytes.length;
    out.push(BINARY_EXT, ...u32(n), ...bytes);
  } else if (Array.isArray(term)) {
    if (term.length > 0) {
      const n = term.length;
      out.push(LIST_EXT, ...u32(n));
      for (const t of term) encode(t, out);
    }
    out.push(NIL_EXT);
  } else if ('map' in term) {
    out.push(MAP_EXT, ...u32(term.map.length));
    for (const [k, v] of term.map) {
      encode(k, out);
      encode(v, out);
    }
  } else if ('atom' in term) {
    const bytes = Buffer.from(term.atom, 'utf8');
    if (bytes.length > 255) throw new RangeError('atom longer than 255 bytes');
    out.push(SMALL_ATOM_UTF8_EXT, bytes.length, ...bytes);
  } else {
    if (term.tuple.length > 255) throw new RangeError('tuple of more than 255 elements');
    out.push(SMALL_TUPLE_EXT, term.tuple.length);
    for (const t of term.tuple) encode(t, out);
  }
}

/** term_to_binary of a simple term. */
export function encodeTerm(term: SimpleTerm): Buffer {
  const out = [VERSION];
  encode(term, out);
  return Buffer.from(out);
}
