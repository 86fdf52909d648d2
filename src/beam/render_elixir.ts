/**
 * Renders decoded terms in Elixir syntax: `inspect(T, limit: :infinity,
 * printable_limit: :infinity)` of Elixir 1.14, on one line (as with
 * `width: :infinity`; the default width of 80 would break long terms over
 * lines). Called through renderTerm(term, max, { syntax: 'elixir' }).
 *
 * What the ETF cannot carry, and so differs from inspect/2:
 * - local funs: the fun's name is not in the encoding, so they render as
 *   `#Function<Index.Uniq/Arity in Module>` (inspect adds `.name/arity`);
 * - structs (maps with an atom `__struct__` key) render as `%Mod{k: v}`,
 *   fields in the map's key order (inspect uses defstruct order and a
 *   struct's own Inspect implementation, e.g. `~D[…]` or `MapSet.new([…])`,
 *   neither of which the term carries);
 * - pids, ports and refs of another node than `localNode` show its name
 *   (`#PID<cli@host.98.0>`) where the node prints a per-node index.
 */
import {
  ErlBitstring, ErlExport, ErlFloat, ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term,
} from './terms.js';
import {
  TEXT_ELIXIR, TEXT_NON_ASCII, Writer, charlistText, nodePart, refIds, renderFloat, scanText, writeBinaryText, writeByteList,
} from './render.js';

/**
 * Non-ASCII code points Elixir 1.14's atom tokenizer accepts in an
 * identifier (Unicode 14 letters, marks and digits of the recommended
 * identifier types): "Gap,Length;" in base 36. Made by
 * test/beam/etf/ident_ranges.exs, which the property test re-runs.
 */
export const IDENT_RANGES =
  '51,0;2,0;9,m;2,u;2,1l;3,a;3,7;2,1g;h,0;h,1;e,1;t,f;2,5;3,a;4,1;3,z;3,1;7,d;12,0;2q,1;1c,0;k,4;2,6;3,2;2,1;7,0;' +
  '8,5;5,1;2,1;4,0;3,1;9,0;3,0;1i,2;9,0;2,2;2,0;2,j;2,17;1a,2r;17,39;h,p;5,1;2,11;3,0;8,11;1a,0;s,q;5,3;1a,v;2,k;' +
  'b,9;7,2;2,0;5,k;2,h;2,1d;2,0;g,1;8,e;3,0;29,2p;5b,n;2,5;i,c;6,0;3,k;1k,24;2,1;6,1;9,3;3,9;2,6;2,6;2,2;2,7;3,1;' +
  '3,l;2,6;2,0;4,3;3,8;3,1;3,3;9,0;9,3;3,b;d,0;3,2;2,5;5,1;3,l;2,6;2,0;3,0;3,1;3,0;2,4;5,1;3,2;f,0;a,e;d,2;2,8;' +
  '2,2;2,l;2,6;2,1;2,4;3,9;2,2;2,2;3,0;g,3;3,9;b,5;2,2;2,7;3,1;3,l;2,6;2,1;2,4;3,7;4,1;3,2;8,2;8,2;5,9;2,0;h,1;' +
  '2,5;4,2;2,3;4,1;2,0;2,1;4,1;4,2;4,b;5,4;4,2;2,3;3,0;7,0;f,9;i,b;2,2;2,m;2,9;2,4;3,8;2,2;2,3;8,1;7,0;3,1;5,9;' +
  'h,0;2,1;2,7;2,2;2,m;2,9;2,4;3,8;2,2;2,3;8,1;7,0;3,3;3,9;2,1;e,0;2,1;2,7;2,2;2,14;3,6;3,2;2,4;6,3;9,1;5,9;b,5;' +
  '3,1;2,9;3,5;4,b;2,a;2,8;2,0;3,6;4,0;5,5;2,0;2,6;k,0;f,1d;2,6;6,e;2,9;14,1;2,0;2,4;2,n;2,0;2,b;2,9;3,4;2,0;2,5;' +
  '3,9;5,1;x,0;w,9;c,0;2,0;7,4;2,3;2,3;2,3;2,3;2,3;2,b;2,2;5,1;2,0;6,6;2,2;2,c;2,3;2,3;2,3;2,3;2,3;2,b;2,2;a,0;' +
  '1m,21;7,25;16,0;6,0;3,w;7,3;3,2;75,20;2,3;3,6;2,0;2,3;3,14;2,3;3,w;2,3;3,6;2,0;2,3;3,e;2,1k;2,3;3,1u;3,2;x,f;' +
  's1,y;3,2;2,a;3,n;3,0;2,0;5,0;5,0;4,9;x3,16;3,2;8x,49;5,0;2,2h;7,l;3,5;3,11;3,5;3,7;2,0;2,0;2,0;2,h;2,0;2,0;2,0;' +
  '2,0;2,0;2,0;4,1g;2,4;2,0;6,2;2,2;2,0;2,0;4,2;4,4;6,2;2,6;2,0;6,2;2,2;2,0;2,0;2ln,0;6,0;2b,m;a,6;2,6;2,6;2,6;' +
  '2,6;2,6;2,6;2,6;fb,2;1m,2d;3,1;3,1;3,2h;2,2;7,14;2,0;35,v;g1,533;1t,g73;1a8,0;48,8;2x,0;5,0;5,1;n,0;4,0;a,1;' +
  '7,a;6,1;2,0;2,4;em,n;2q,m;4,5;3m,5;3,5;3,5;a,6;2,6;1k,1;49,8mb;6sr,1;2,0;2,1;b,0;2,0;2,1;3,2;4wo,0;2,0;1k,1;' +
  'ib8,1;cvi,3;1a,2;i,3;909,u;1qa,6;2,3;2,1;2,e;4qq,wyn;x,37c;8,65;3,4g1;f,5rk;3z4,3t6;';

let identStarts: Uint32Array | undefined;
let identEnds: Uint32Array | undefined;

function identAccepted(c: number): boolean {
  if (!identStarts || !identEnds) {
    const pairs = IDENT_RANGES.split(';').filter((p) => p !== '');
    identStarts = new Uint32Array(pairs.length);
    identEnds = new Uint32Array(pairs.length);
    let prev = 0;
    pairs.forEach((p, i) => {
      const [gap, len] = p.split(',').map((x) => parseInt(x, 36));
      identStarts![i] = prev + gap;
      prev = identEnds![i] = prev + gap + len;
    });
  }
  let lo = 0;
  let hi = identStarts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c < identStarts[mid]) hi = mid - 1;
    else if (c > identEnds[mid]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Scripts of the identifier characters (Script_Extensions); Common and Inherited ones fit any script. */
const SCRIPTS = ('Arabic Armenian Avestan Bengali Bopomofo Carian Caucasian_Albanian Chakma Cherokee Coptic Cyrillic ' +
  'Devanagari Dogra Duployan Elbasan Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Han ' +
  'Hangul Hebrew Hiragana Kaithi Kannada Katakana Khmer Khojki Lao Latin Lisu Lydian Mahajani Malayalam Multani Myanmar ' +
  'Nandinagari Old_Permic Oriya Osage Shavian Sinhala Syloti_Nagri Syriac Tai_Le Tamil Telugu Thaana Thai Tibetan Tifinagh ' +
  'Toto Yezidi').split(' ');
let scriptRes: Array<[string, RegExp]> | undefined;

/** A set of scripts; null is every script (Elixir's top). */
type Scripts = Set<string> | null;
const LATIN: Scripts = new Set(['Latin']);

/** Elixir's script set of one identifier character, with Han, kana, Hangul and Bopomofo widened to Japanese/Korean/Han+Bopomofo. */
function scriptsOf(c: number): Scripts {
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return LATIN;
  if (c < 128 || c === 0x3bc || !identAccepted(c)) return null; // µ normalizes to μ, which Elixir leaves unrestricted
  scriptRes ??= SCRIPTS.map((s) => [s, new RegExp(`\\p{scx=${s}}`, 'u')]);
  const ch = String.fromCodePoint(c);
  const out = new Set<string>();
  for (const [name, re] of scriptRes) if (re.test(ch)) out.add(name);
  if (out.size === 0) return null;
  if (out.has('Han')) out.add('Hanb').add('Jpan').add('Kore');
  if (out.has('Hiragana') || out.has('Katakana')) out.add('Jpan');
  if (out.has('Hangul')) out.add('Kore');
  if (out.has('Bopomofo')) out.add('Hanb');
  return out;
}

function intersect(a: Scripts, b: Scripts): Scripts {
  if (a === null) return b;
  if (b === null) return a;
  return new Set([...a].filter((s) => b.has(s)));
}

const RESTRICTIVE = [['Latin', 'Jpan'], ['Latin', 'Hanb'], ['Latin', 'Kore']];

/** String.Tokenizer.tokenize/1, for a whole atom: its kind and flags, or null when it is not one identifier. */
function tokenize(atom: string): { kind: 'alias' | 'identifier' | 'atom'; at: boolean; nfkc: boolean } | null {
  const cps = Array.from(atom, (ch) => ch.codePointAt(0) as number);
  const h = cps[0];
  let kind: 'alias' | 'identifier' | 'atom';
  let ss: Scripts = null;
  let ascii = true;
  let at = false;
  let nfkc = false;
  if (h >= 65 && h <= 90) [kind, ss] = ['alias', LATIN];
  else if (h >= 97 && h <= 122) [kind, ss] = ['identifier', LATIN];
  else if (h === 95) kind = 'identifier';
  else if (h < 128 || !identAccepted(h)) return null;
  else {
    const ch = String.fromCodePoint(h);
    if (/[\p{Lu}\p{Lt}]/u.test(ch)) kind = 'atom';
    else if (/\p{ID_Start}/u.test(ch)) kind = 'identifier';
    else return null;
    if (h === 0xb5) [cps[0], nfkc] = [0x3bc, true];
    ascii = false;
    ss = scriptsOf(cps[0]);
  }
  for (let i = 1; i < cps.length; i++) {
    const c = cps[i];
    if (c === 33 || c === 63) {
      if (i !== cps.length - 1) return null; // `?`/`!` end the identifier
    } else if (c === 64) at = true;
    else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) ss = intersect(ss, LATIN);
    else if (c === 95 || (c >= 48 && c <= 57)) continue;
    else if (c < 128 || !identAccepted(c)) return null;
    else {
      if (c === 0xb5) [cps[i], nfkc] = [0x3bc, true];
      ss = intersect(ss, scriptsOf(cps[i]));
      ascii = false;
    }
  }
  if (!ascii) {
    const text = String.fromCodePoint(...cps);
    const nfc = text.normalize('NFC');
    if (nfc !== text) nfkc = true;
    if (ss !== null && ss.size === 0) {
      const chars = Array.from(nfc, (ch) => scriptsOf(ch.codePointAt(0) as number));
      if (!RESTRICTIVE.some((r) => chars.every((s) => s === null || r.some((x) => s.has(x))))) return null; // mixed scripts
    }
  }
  return { kind, at, nfkc };
}

const NOT_CALLABLE = new Set(['%', '%{}', '{}', '<<>>', '...', '..', '.', '..//', '->']);
const QUOTED_OPERATORS = new Set(['::', '^^^', '~~~', '<|>']);
const OPERATORS = new Set([
  '&', '!', '^', 'not', '+', '-', '@', '<-', '\\\\', 'when', '|', '=', '||', '|||', 'or', '&&', '&&&', 'and', '==', '!=',
  '=~', '===', '!==', '<', '<=', '>=', '>', '|>', '<<<', '>>>', '<~', '~>', '<<~', '~>>', '<~>', 'in', '++', '--', '<>',
  '+++', '---', '*', '/', '**',
]);
const ALIAS = /^Elixir(\.[A-Z][A-Za-z0-9_]*)*$/;

type AtomClass = 'alias' | 'identifier' | 'unquoted_operator' | 'quoted_operator' | 'not_callable' | 'other';

/** Macro's inner_classify/1. */
function classify(atom: string): AtomClass {
  if (NOT_CALLABLE.has(atom)) return 'not_callable';
  if (QUOTED_OPERATORS.has(atom)) return 'quoted_operator';
  if (OPERATORS.has(atom)) return 'unquoted_operator';
  if (ALIAS.test(atom)) return 'alias';
  const tok = atom.length > 0 ? tokenize(atom) : null;
  if (!tok) return 'other';
  if (tok.kind !== 'identifier' || tok.at) return 'not_callable';
  return tok.nfkc ? 'other' : 'identifier';
}

/** Code.Identifier.escape/2 for the character at `i` of valid text, quotes `q`; null when it stands as itself. */
function elixirEscape(text: string, i: number, q: number): string | null {
  const c = text.charCodeAt(i);
  if (c === q) return '\\' + text[i];
  if (c === 35) return text.charCodeAt(i + 1) === 123 ? '\\#' : null; // `#{` → `\#{`
  if (c >= 32 && c <= 126 && c !== 92) return null;
  switch (c) {
    case 7: return '\\a';
    case 8: return '\\b';
    case 127: return '\\d';
    case 27: return '\\e';
    case 12: return '\\f';
    case 10: return '\\n';
    case 13: return '\\r';
    case 9: return '\\t';
    case 11: return '\\v';
    case 92: return '\\\\';
    case 0: return '\\0';
    case 0xfeff: return '\\uFEFF';
    default:
      if ((c >= 0xa0 && c <= 0xfffd) || c > 0xffff) return null; // surrogates: astral, printable
      return c < 0x100 ? '\\x' + c.toString(16).toUpperCase().padStart(2, '0') : `\\x{${c.toString(16).toUpperCase()}}`;
  }
}

const dq = (text: string, i: number): string | null => elixirEscape(text, i, 34);
const sq = (text: string, i: number): string | null => elixirEscape(text, i, 39);

function escapeAll(text: string): string {
  let s = '';
  for (let i = 0; i < text.length; i++) s += dq(text, i) ?? text[i];
  return s;
}

const literalCache = new Map<string, string>();
const keyCache = new Map<string, string>();

/** Macro.inspect_atom(:literal, atom): `:ok`, `:"a b"`, `Foo.Bar`, `nil`. */
export function elixirAtom(atom: string): string {
  let s = literalCache.get(atom);
  if (s !== undefined) return s;
  const kind = classify(atom);
  if (atom === 'nil' || atom === 'true' || atom === 'false') s = atom;
  else if (kind === 'alias') s = atom === 'Elixir' || atom.startsWith('Elixir.Elixir') ? atom : atom.slice(7);
  else if (kind === 'quoted_operator' || kind === 'other') s = `:"${escapeAll(atom)}"`;
  else s = ':' + atom;
  if (literalCache.size < 10_000) literalCache.set(atom, s);
  return s;
}

/** Macro.inspect_atom(:key, atom): `a:`, `"a b":`. */
function elixirKey(atom: string): string {
  let s = keyCache.get(atom);
  if (s !== undefined) return s;
  const kind = classify(atom);
  if (kind === 'alias') s = `"${atom}":`;
  else if (kind === 'quoted_operator' || kind === 'other') s = `"${escapeAll(atom)}":`;
  else s = atom + ':';
  if (keyCache.size < 10_000) keyCache.set(atom, s);
  return s;
}

/** Macro.inspect_atom(:remote_call, atom): the function name in `&Mod.fun/1`. */
function remoteCall(atom: string): string {
  const kind = classify(atom);
  if (kind === 'identifier' || kind === 'unquoted_operator' || kind === 'quoted_operator') return atom;
  return kind === 'other' ? `"${escapeAll(atom)}"` : `"${atom}"`;
}

/** List.ascii_printable?/1. */
function isCharlist(list: Term[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (typeof c !== 'number' || !((c >= 32 && c <= 126) || (c >= 7 && c <= 13) || c === 27)) return false;
  }
  return true;
}

/** Inspect.List.keyword?/1: pairs whose keys are atoms, none of them an alias. */
function isKeyword(pairs: ArrayLike<Term>): boolean {
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (!(p instanceof ErlTuple) || p.elements.length !== 2) return false;
    const k = p.elements[0];
    if (typeof k !== 'string' || k.startsWith('Elixir.')) return false;
  }
  return true;
}

function isKeywordMap(entries: Array<[Term, Term]>): boolean {
  for (const [k] of entries) if (typeof k !== 'string' || k.startsWith('Elixir.')) return false;
  return true;
}

function elixirFloat(v: number): string {
  const a = Math.abs(v);
  return a >= 1 && a < 1e16 && Number.isInteger(v) ? `${v}.0` : renderFloat(v);
}

function writeEntries(entries: Array<[Term, Term]>, keyword: boolean, w: Writer, local: string | undefined, sigil: boolean): void {
  for (let i = 0; i < entries.length && !w.full; i++) {
    const [k, v] = entries[i];
    if (i > 0) w.put(', ');
    w.mark();
    if (keyword) {
      w.put(elixirKey(k as string) + ' ');
    } else {
      writeElixir(k, w, local, sigil);
      w.put(' => ');
    }
    writeElixir(v, w, local, sigil);
  }
}

/** Writes `t` as Elixir's inspect/2 would, one line; `sigil` picks `~c"…"` over `'…'` for charlists. */
export function writeElixir(t: Term, w: Writer, local: string | undefined, sigil: boolean): void {
  if (w.full) return;
  switch (typeof t) {
    case 'number':
      w.put(String(t));
      return;
    case 'bigint':
      w.put(t.toString());
      return;
    case 'string':
      w.put(elixirAtom(t));
      return;
    default:
      break;
  }
  if (Array.isArray(t) || t instanceof ErlImproperList) {
    const list = Array.isArray(t) ? t : t.elements;
    if (list.length === 0) {
      w.put('[]');
    } else if (Array.isArray(t) && isCharlist(t)) {
      w.open(sigil ? '~c"' : "'", sigil ? '"' : "'");
      w.quoted(charlistText(t), sigil ? dq : sq);
      w.shut(sigil ? '"' : "'");
    } else if (Array.isArray(t) && isKeyword(t)) {
      w.open('[', ']');
      writeEntries(t.map((p) => (p as ErlTuple).elements as [Term, Term]), true, w, local, sigil);
      w.shut(']');
    } else {
      w.open('[', ']');
      for (let i = 0; i < list.length && !w.full; i++) {
        if (i > 0) w.put(', ');
        w.mark();
        writeElixir(list[i], w, local, sigil);
      }
      if (t instanceof ErlImproperList) {
        w.put(' | ');
        w.mark();
        writeElixir(t.tail, w, local, sigil);
      }
      w.shut(']');
    }
  } else if (t instanceof ErlTuple) {
    w.open('{', '}');
    const e = t.elements;
    for (let i = 0; i < e.length && !w.full; i++) {
      if (i > 0) w.put(', ');
      w.mark();
      writeElixir(e[i], w, local, sigil);
    }
    w.shut('}');
  } else if (t instanceof Uint8Array) {
    const kind = t.length === 0 ? 0 : scanText(t);
    if (t.length === 0) w.put('""');
    else if (kind & TEXT_ELIXIR) {
      w.open('"', '"');
      writeBinaryText(t, !(kind & TEXT_NON_ASCII), w, dq);
      w.shut('"');
    } else {
      w.open('<<', '>>');
      writeByteList(t, t.length, ', ', w);
      w.shut('>>');
    }
  } else if (t instanceof ErlFloat) {
    w.put(elixirFloat(t.value));
  } else if (t instanceof ErlPid) {
    w.put(local === undefined || t.node === local ? `#PID<0.${t.id}.${t.serial}>` : `#PID<${t.node}.${t.id}.${t.serial}>`);
  } else if (t instanceof ErlMap) {
    const struct = t.get('__struct__');
    const fields = typeof struct === 'string' && struct !== 'nil' && struct !== 'true' && struct !== 'false'
      ? t.entries.filter(([k]) => k !== '__struct__' && k !== '__exception__') : undefined;
    if (fields && isKeywordMap(fields)) {
      w.open(`%${elixirAtom(struct as string)}{`, '}');
      writeEntries(fields, true, w, local, sigil);
    } else {
      w.open('%{', '}');
      writeEntries(t.entries, isKeywordMap(t.entries), w, local, sigil);
    }
    w.shut('}');
  } else if (t instanceof ErlRef) {
    w.put(`#Reference<${nodePart(t.node, local)}.${refIds(t)}>`);
  } else if (t instanceof ErlPort) {
    w.put(`#Port<${nodePart(t.node, local)}.${t.id}>`);
  } else if (t instanceof ErlExport) {
    // Function.info/1 leaves out an `undefined` module or name, so inspect shows nil.
    w.put(`&${elixirAtom(t.module === 'undefined' ? 'nil' : t.module)}.${remoteCall(t.fun === 'undefined' ? 'nil' : t.fun)}/${t.arity}`);
  } else if (t instanceof ErlFun) {
    w.put(`#Function<${t.index}.${t.oldUniq}/${t.arity} in ${elixirAtom(t.module)}>`);
  } else if (t instanceof ErlBitstring) {
    const whole = t.bytes.length - 1;
    w.open('<<', '>>');
    writeByteList(t.bytes, whole, ', ', w);
    if (whole > 0) w.put(', ');
    w.mark();
    w.put(`${t.bytes[whole] >> (8 - t.bitsInLastByte)}::size(${t.bitsInLastByte})`);
    w.shut('>>');
  }
}
