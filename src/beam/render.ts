/**
 * Renders decoded terms as people read them, within a budget (message
 * contents and state can be huge):
 *
 * - Erlang syntax (default): exactly `io_lib:format("~0tp", [T])` on a node
 *   started with `erl +pc unicode` (one line, unlimited depth): printable
 *   charlists as `"…"`, printable binaries as `<<"…">>`, UTF-8 ones with any
 *   character above 127 as `<<"…"/utf8>>`, everything else as `~w` has it.
 * - Elixir syntax: `inspect/2` of Elixir 1.14 on one line (render_elixir.ts).
 *
 * Pids, ports and refs of a node other than `localNode` show the node's
 * name where the node writes a per-node index (`<5586.98.0>` would be
 * ambiguous in an archive): `<cli@host.98.0>`, `#Port<cli@host.7>`,
 * `#Ref<cli@host.1.2.3>`. Without `localNode` every one is local.
 */
import {
  ErlBitstring, ErlExport, ErlFloat, ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term,
} from './terms.js';
import { writeElixir } from './render_elixir.js';

export type TermSyntax = 'erlang' | 'elixir';

export interface RenderOptions {
  /** Default 'erlang'. */
  syntax?: TermSyntax;
  /** The node the term came from: pids, ports and refs of any other node name it. */
  localNode?: string;
  /** Elixir charlists: `~c"…"` (Elixir ≥ 1.15, the default) or `'…'` (≤ 1.14). */
  elixirCharlists?: 'sigil' | 'quotes';
}

const RESERVED = new Set([
  'after', 'and', 'andalso', 'band', 'begin', 'bnot', 'bor', 'bsl', 'bsr', 'bxor', 'case', 'catch', 'cond', 'div',
  'end', 'fun', 'if', 'let', 'not', 'of', 'or', 'orelse', 'receive', 'rem', 'try', 'when', 'xor',
]);

const isLower = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xff && c !== 0xf7);
const isAlnum = (c: number): boolean => isLower(c) || (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xde && c !== 0xd7) || (c >= 48 && c <= 57) || c === 95;

function isBareAtom(atom: string): boolean {
  if (atom.length === 0 || !isLower(atom.charCodeAt(0)) || RESERVED.has(atom)) return false;
  for (let i = 1; i < atom.length; i++) if (!isAlnum(atom.charCodeAt(i)) && atom.charCodeAt(i) !== 64) return false;
  return true;
}

const atomCache = new Map<string, string>();
const tpAtomCache = new Map<string, string>();

/** An atom as io_lib writes it with ~w: bare when it can be, else quoted and escaped (latin1, `\x{…}` above 255). */
export function renderAtom(atom: string): string {
  return atomCache.get(atom) ?? atomText(atom, atomCache, false);
}

/** An atom as ~tp writes it: like ~w, but characters above 255 stand as themselves. */
function tpAtom(atom: string): string {
  return tpAtomCache.get(atom) ?? atomText(atom, tpAtomCache, true);
}

function atomText(atom: string, cache: Map<string, string>, unicode: boolean): string {
  let out: string;
  if (isBareAtom(atom)) out = atom;
  else {
    out = "'";
    for (const ch of atom) {
      const c = ch.codePointAt(0) as number;
      out += c > 0xff && !unicode ? `\\x{${c.toString(16).toUpperCase()}}` : erlEscape(c, 39) ?? ch;
    }
    out += "'";
  }
  if (cache.size < 10_000) cache.set(atom, out);
  return out;
}

/** Control characters both languages write with a letter. */
export const CONTROL_ESCAPES: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 27: '\\e', 127: '\\d' };

/** io_lib's string_char: the escape for `c` inside quotes `q`, or null when it stands as itself. */
function erlEscape(c: number, q: number): string | null {
  if (c === q || c === 92) return '\\' + String.fromCharCode(c);
  if ((c >= 32 && c <= 126) || c >= 160) return null;
  return CONTROL_ESCAPES[c] ?? '\\' + ((c >> 6) & 7).toString() + ((c >> 3) & 7).toString() + (c & 7).toString();
}

const TWO_53 = 2n ** 53n;

/**
 * A float as `float_to_list(F, [short])` writes it (what ~w and ~p use): the
 * shortest round-trip digits, in fixed notation only while the exponent of
 * the last digit stays in the range erts' ryu to_chars allows, else `d.ddde±x`.
 */
export function renderFloat(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa, expText] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  const olength = digits.length;
  const r = exp - olength + 1; // exponent of the last digit
  const lower = olength === 1 ? -4 : -(olength + 2);
  const upper = olength === 1 || exp >= 10 ? 2 : 1;
  let fixed = r >= lower && r <= upper;
  if (fixed && r >= 0) {
    const d = BigInt(digits);
    if ((r === 0 && d >= TWO_53) || (r === 1 && d * 5n > TWO_53 / 2n) || (r === 2 && d * 25n > TWO_53 / 4n)) fixed = false;
  }
  if (!fixed) return sign + digits[0] + '.' + (olength > 1 ? digits.slice(1) : '0') + 'e' + exp;
  if (r >= 0) return sign + digits + '0'.repeat(r) + '.0';
  if (exp >= 0) return sign + digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  return sign + '0.' + '0'.repeat(-exp - 1) + digits;
}

/**
 * An atom as the emulator itself prints it (erl_printf_term.c print_atom_name),
 * which fun_to_list, and so ~w and ~p of a fun, uses: no reserved-word rule,
 * `@` quoted, control characters (C0 and C1) in octal, and any other
 * character above 127 as its raw UTF-8 bytes.
 */
export function renderEmulatorAtom(atom: string): string {
  let quote = atom.length === 0;
  let out = '';
  let first = true;
  for (const ch of atom) {
    const c = ch.codePointAt(0) as number;
    if (first ? !isLower(c) : !isAlnum(c)) quote = true;
    first = false;
    if (c === 39 || c === 92 || (c >= 8 && c <= 13)) out += erlEscape(c, 39);
    else if (c < 32 || (c >= 128 && c < 160)) out += '\\' + c.toString(8).padStart(3, '0');
    else if (c < 128) out += ch;
    else out += utf8Bytes(ch);
  }
  return quote ? `'${out}'` : out;
}

/** An atom's UTF-8 bytes, one character each: how fun_to_list writes a local fun's module (unquoted). */
function utf8Bytes(atom: string): string {
  let ascii = true;
  for (let i = 0; i < atom.length && ascii; i++) ascii = atom.charCodeAt(i) < 128;
  return ascii ? atom : Buffer.from(atom, 'utf8').toString('latin1');
}

/** The node's part of a pid, port or ref: 0 when local, else the node's name. */
export function nodePart(node: string, localNode: string | undefined): string {
  return localNode === undefined || node === localNode ? '0' : node;
}

/** A pid or port as an identifier, in Erlang syntax whatever the rendering syntax: `<0.98.0>`, `<cli@host.98.0>`, `#Port<0.7>`. */
export function pidText(t: ErlPid | ErlPort, localNode?: string): string {
  if (localNode !== undefined && t.node !== localNode) return t instanceof ErlPid ? `<${t.node}.${t.id}.${t.serial}>` : `#Port<${t.node}.${t.id}>`;
  return t instanceof ErlPid ? `<0.${t.id}.${t.serial}>` : `#Port<0.${t.id}>`;
}

/** The ids of a ref as printed: the words in reverse. */
export function refIds(t: ErlRef): string {
  return [...t.ids].reverse().join('.');
}

type Closer = { readonly s: string; readonly up: Closer | null };

/**
 * Collects output within a budget of `max` UTF-16 code units. Renderers call
 * mark() wherever an element may start (after an opener or a separator, and
 * between characters inside quotes) and open()/shut() around constructs. Once
 * the text passes `max`, rendering stops and the result is the text up to the
 * last mark that leaves room for `...`, then `...`, then the closers of what
 * was open there: `{cart,[{apple,5},...]}`, `<<"abc...">>`.
 */
export class Writer {
  out = '';
  full = false;
  private cutAt = 0;
  private cutClose: Closer | null = null;
  private close: Closer | null = null;

  /** `track`: keep marks and closers (the second pass of a cut rendering). */
  constructor(
    readonly max: number,
    readonly track: boolean,
  ) {}

  put(s: string): void {
    if (this.full) return;
    this.out += s;
    if (this.out.length > this.max) this.full = true;
  }

  mark(): void {
    if (this.track && this.out.length + 3 <= this.max) {
      this.cutAt = this.out.length;
      this.cutClose = this.close;
    }
  }

  open(s: string, closer: string): void {
    this.put(s);
    if (this.track) this.close = { s: closer, up: this.close };
  }

  shut(s: string): void {
    this.put(s);
    if (this.track && this.close) this.close = this.close.up;
  }

  /**
   * Writes `text` between quotes the caller opened, each character as
   * `escape` gives it (null: as itself), with a mark between every two
   * characters near the budget; surrogate pairs and escapes are never split.
   */
  quoted(text: string, escape: (text: string, i: number) => string | null): void {
    const n = text.length;
    this.mark();
    for (let i = 0; i < n && !this.full; ) {
      let end = Math.min(n, i + 4096);
      const last = text.charCodeAt(end - 1);
      if (end < n && last >= 0xd800 && last <= 0xdbff) end++;
      let s = '';
      let run = i;
      for (let j = i; j < end; j++) {
        const e = escape(text, j);
        if (e === null) continue;
        s += text.slice(run, j) + e;
        run = j + 1;
      }
      s = run === 0 && end === n ? text : s + text.slice(run, end);
      if (!this.track || this.out.length + s.length + 3 <= this.max) {
        this.put(s);
        this.mark();
      } else {
        // This piece crosses the budget: character by character, so the cut can fall between any two.
        for (let j = i; j < end && !this.full; j++) {
          const c = text.charCodeAt(j);
          const e = escape(text, j);
          if (e !== null) {
            this.put(e);
            if (c === 35) this.put(text[++j]); // Elixir's `\#{` is one escape
          } else if (c >= 0xd800 && c <= 0xdbff && j + 1 < n) this.put(text.slice(j, ++j + 1));
          else this.put(text[j]);
          this.mark();
        }
      }
      i = end;
    }
  }

  result(): string {
    if (!this.full) return this.out;
    let s = this.out.slice(0, this.cutAt) + '...';
    for (let c = this.cutClose; c; c = c.up) s += c.s;
    return s;
  }
}

function erlStringEscape(text: string, i: number): string | null {
  const c = text.charCodeAt(i);
  if (c >= 35 && c <= 126 && c !== 92) return null;
  return erlEscape(c, 34);
}

/**
 * Flags of scanText: valid UTF-8 and printable for io_lib (+pc unicode); for
 * String.printable?/1 (which adds \a and \d); valid with a character above
 * 127 (io_lib's `/utf8`); not valid UTF-8 (io_lib then tries latin1).
 */
export const TEXT_ERLANG = 1, TEXT_ELIXIR = 2, TEXT_NON_ASCII = 4, TEXT_INVALID = 8;

/** One pass over a binary: is it valid UTF-8, and printable for io_lib, for Elixir, or neither (0). */
export function scanText(b: Uint8Array): number {
  let flags = TEXT_ERLANG | TEXT_ELIXIR;
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i++];
    if (c < 0x80) {
      if ((c >= 32 && c < 127) || (c >= 8 && c <= 13) || c === 27) continue;
      if (c !== 7 && c !== 127) return 0; // no printable reading at all, latin1 included
      flags &= ~TEXT_ERLANG;
      continue;
    }
    const len = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (len < 0 || i + len > n) return TEXT_INVALID;
    let cp = c & (0x3f >> len);
    for (const stop = i + len; i < stop; i++) {
      if ((b[i] & 0xc0) !== 0x80) return TEXT_INVALID;
      cp = (cp << 6) | (b[i] & 0x3f);
    }
    if ((len === 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 3 && (cp < 0x10000 || cp > 0x10ffff))) return TEXT_INVALID;
    flags |= TEXT_NON_ASCII;
    if (cp < 0xa0 || cp === 0xfffe || cp === 0xffff) flags &= ~(TEXT_ERLANG | TEXT_ELIXIR);
  }
  return flags;
}

/** io_lib's printable_latin1_list over the bytes. */
function printableLatin1(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (!((c >= 32 && c <= 126) || c >= 160 || (c >= 8 && c <= 13) || c === 27)) return false;
  }
  return true;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes bytes to text in pieces (so a cut binary decodes about what is shown) and writes it quoted. */
export function writeBinaryText(b: Uint8Array, oneByteChars: boolean, w: Writer, escape: (text: string, i: number) => string | null): void {
  for (let i = 0; i < b.length && !w.full; ) {
    let end = Math.min(b.length, i + 4096);
    if (!oneByteChars) while (end < b.length && (b[end] & 0xc0) === 0x80) end++;
    if (end < b.length && b[end - 1] === 35) end++; // keep Elixir's `#{` in one piece
    const part = b.subarray(i, end);
    // ASCII or latin1: each byte is its character (cheaper than a decoder call for short text).
    w.quoted(oneByteChars ? String.fromCharCode.apply(null, part as unknown as number[]) : utf8.decode(part), escape);
    i = end;
  }
}

/** Byte values separated by `sep` (`,` or `, `), built in chunks, with a mark after every separator. */
export function writeByteList(b: Uint8Array, count: number, sep: string, w: Writer): void {
  for (let i = 0; i < count && !w.full; i += 256) {
    const stop = Math.min(count, i + 256);
    if (!w.track || w.out.length + 3 + (stop - i) * (3 + sep.length) <= w.max) {
      let s = '';
      for (let j = i; j < stop; j++) s += b[j] + (j + 1 < count ? sep : '');
      w.put(s);
      if (stop < count) w.mark();
    } else {
      for (let j = i; j < stop && !w.full; j++) {
        w.put(b[j] + (j + 1 < count ? sep : ''));
        if (j + 1 < count) w.mark();
      }
    }
  }
}

/** A proper list io_lib prints as a string (printable_unicode_list). */
function isErlangString(list: Term[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (typeof c !== 'number') return false;
    if (!((c >= 32 && c <= 126) || (c >= 160 && c < 0xd800) || (c > 0xdfff && c < 0xfffe) || (c > 0xffff && c <= 0x10ffff) || (c >= 8 && c <= 13) || c === 27)) return false;
  }
  return true;
}

/** The characters of a charlist, in pieces (String.fromCodePoint takes arguments). */
export function charlistText(list: Term[]): string {
  if (list.length <= 16) {
    let s = ''; // short: cheaper than an apply
    for (let i = 0; i < list.length; i++) s += String.fromCodePoint(list[i] as number);
    return s;
  }
  if (list.length <= 4096) return String.fromCodePoint.apply(null, list as number[]);
  let s = '';
  for (let i = 0; i < list.length; i += 4096) s += String.fromCodePoint.apply(null, list.slice(i, i + 4096) as number[]);
  return s;
}

/** Elements between `open` and `close`, comma-separated, each a place to cut; an improper list's tail after `|`. */
function writeErlangSeq(open: string, items: Term[], close: string, w: Writer, local: string | undefined, tail?: Term): void {
  w.open(open, close);
  for (let i = 0; i < items.length && !w.full; i++) {
    if (i > 0) w.put(',');
    w.mark();
    writeErlang(items[i], w, local);
  }
  if (tail !== undefined) {
    w.put('|');
    w.mark();
    writeErlang(tail, w, local);
  }
  w.shut(close);
}

/** The common kinds, kept small so the engine inlines it; the rest in writeErlangMore. */
function writeErlang(t: Term, w: Writer, local: string | undefined): void {
  if (w.full) return;
  if (typeof t === 'number') w.put(String(t));
  else if (typeof t === 'string') w.put(tpAtom(t));
  else if (t instanceof ErlTuple) writeErlangSeq('{', t.elements, '}', w, local);
  else if (t instanceof ErlPid) {
    w.put(local === undefined || t.node === local ? `<0.${t.id}.${t.serial}>` : `<${t.node}.${t.id}.${t.serial}>`);
  } else writeErlangMore(t, w, local);
}

function writeErlangMore(t: Term, w: Writer, local: string | undefined): void {
  if (typeof t === 'bigint') {
    w.put(t.toString());
  } else if (Array.isArray(t)) {
    if (t.length === 0) {
      w.put('[]');
    } else if (isErlangString(t)) {
      w.open('"', '"');
      w.quoted(charlistText(t), erlStringEscape);
      w.shut('"');
    } else {
      writeErlangSeq('[', t, ']', w, local);
    }
  } else if (t instanceof Uint8Array) {
    if (t.length === 0) {
      w.put('<<>>');
      return;
    }
    const kind = scanText(t);
    if (kind & TEXT_ERLANG || (kind === TEXT_INVALID && printableLatin1(t))) {
      const utf8Marked = (kind & (TEXT_ERLANG | TEXT_NON_ASCII)) === (TEXT_ERLANG | TEXT_NON_ASCII);
      w.open('<<"', utf8Marked ? '"/utf8>>' : '">>');
      writeBinaryText(t, !(kind & TEXT_NON_ASCII), w, erlStringEscape);
      w.shut(utf8Marked ? '"/utf8>>' : '">>');
    } else {
      w.open('<<', '>>');
      writeByteList(t, t.length, ',', w);
      w.shut('>>');
    }
  } else if (t instanceof ErlFloat) {
    w.put(renderFloat(t.value));
  } else if (t instanceof ErlMap) {
    // Maps over 32 keys (hash maps) are encoded in maps:to_list order; io_lib walks
    // maps:iterator, which goes the other way.
    const entries = t.entries;
    const n = entries.length;
    const reversed = n > 32;
    w.open('#{', '}');
    for (let i = 0; i < n && !w.full; i++) {
      const [k, v] = entries[reversed ? n - 1 - i : i];
      if (i > 0) w.put(',');
      w.mark();
      writeErlang(k, w, local);
      w.put(' => ');
      writeErlang(v, w, local);
    }
    w.shut('}');
  } else if (t instanceof ErlImproperList) {
    writeErlangSeq('[', t.elements, ']', w, local, t.tail);
  } else if (t instanceof ErlRef) {
    w.put(`#Ref<${nodePart(t.node, local)}.${refIds(t)}>`);
  } else if (t instanceof ErlPort) {
    w.put(`#Port<${nodePart(t.node, local)}.${t.id}>`);
  } else if (t instanceof ErlExport) {
    w.put(`fun ${renderEmulatorAtom(t.module)}:${renderEmulatorAtom(t.fun)}/${t.arity}`);
  } else if (t instanceof ErlFun) {
    w.put(`#Fun<${utf8Bytes(t.module)}.${t.oldIndex}.${t.oldUniq}>`);
  } else if (t instanceof ErlBitstring) {
    const whole = t.bytes.length - 1;
    w.open('<<', '>>');
    writeByteList(t.bytes, whole, ',', w);
    if (whole > 0) w.put(',');
    w.mark();
    w.put(`${t.bytes[whole] >> (8 - t.bitsInLastByte)}:${t.bitsInLastByte}`);
    w.shut('>>');
  }
}

/**
 * The term as text in the chosen syntax. Past `maxBytes` UTF-16 code units
 * (JS string length; bytes for ASCII text) the text is cut well formed: it
 * stops at an element boundary (or between two characters inside a string or
 * binary text), writes `...` as the last element and closes what was open.
 * Bound: the text up to and including that `...` is at most
 * max(maxBytes, 3) long, and only closers follow it (`]`, `}`, `>>`, `"`,
 * `">>`, `"/utf8>>`, `'`), so the result never exceeds max(maxBytes, 3) by
 * more than the closers of the constructs open at the cut. Rendering stops as
 * soon as the budget is passed.
 */
export function renderTerm(term: Term, maxBytes = Number.POSITIVE_INFINITY, options?: RenderOptions): string {
  // Most terms fit: a first pass keeps no marks or closers. Only when it passes the
  // budget (where it stops) does a second pass, which stops there too, track the cut.
  // (A fresh writer each time: storing new strings into a long-lived one costs write barriers.)
  const w = write(term, new Writer(maxBytes, false), options);
  return w.full ? write(term, new Writer(maxBytes, true), options).result() : w.out;
}

function write(term: Term, w: Writer, options: RenderOptions | undefined): Writer {
  if (options?.syntax === 'elixir') writeElixir(term, w, options.localNode, options.elixirCharlists !== 'quotes');
  else writeErlang(term, w, options?.localNode);
  return w;
}
