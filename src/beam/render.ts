/**
 * Renders decoded terms in Erlang syntax, exactly as `io_lib:format("~w", [T])`
 * prints them, within a byte budget (message contents and state can be huge).
 */
import {
  ErlBitstring, ErlExport, ErlFloat, ErlFun, ErlImproperList, ErlMap, ErlPid, ErlPort, ErlRef, ErlTuple, type Term,
} from './terms.js';

const RESERVED = new Set([
  'after', 'and', 'andalso', 'band', 'begin', 'bnot', 'bor', 'bsl', 'bsr', 'bxor', 'case', 'catch', 'cond', 'div',
  'end', 'fun', 'if', 'let', 'not', 'of', 'or', 'orelse', 'receive', 'rem', 'try', 'when', 'xor',
]);

function isLower(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xff && c !== 0xf7);
}

function isNameChar(c: number): boolean {
  return isLower(c) || (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xde && c !== 0xd7) || (c >= 48 && c <= 57) || c === 95 || c === 64;
}

const atomCache = new Map<string, string>();

/** An atom as io_lib writes it with ~w: bare when it can be, else quoted and escaped (latin1). */
export function renderAtom(atom: string): string {
  const cached = atomCache.get(atom);
  if (cached !== undefined) return cached;
  let bare = atom.length > 0 && isLower(atom.charCodeAt(0)) && !RESERVED.has(atom);
  if (bare) {
    for (let i = 1; i < atom.length; i++) {
      if (!isNameChar(atom.charCodeAt(i))) {
        bare = false;
        break;
      }
    }
  }
  const out = bare ? atom : quoteAtom(atom);
  if (atomCache.size < 10_000) atomCache.set(atom, out);
  return out;
}

function quoteAtom(atom: string): string {
  let out = "'";
  for (const ch of atom) {
    const c = ch.codePointAt(0) as number;
    if (c === 39) out += "\\'";
    else if (c === 92) out += '\\\\';
    else if (c >= 32 && c <= 126) out += ch;
    else if (c >= 0xa0 && c <= 0xff) out += ch;
    else if (c > 0xff) out += `\\x{${c.toString(16).toUpperCase()}}`;
    else out += controlChar(c);
  }
  return out + "'";
}

function controlChar(c: number): string {
  switch (c) {
    case 10: return '\\n';
    case 13: return '\\r';
    case 9: return '\\t';
    case 11: return '\\v';
    case 8: return '\\b';
    case 12: return '\\f';
    case 27: return '\\e';
    case 127: return '\\d';
    default: return '\\' + ((c >> 6) & 7).toString() + ((c >> 3) & 7).toString() + (c & 7).toString();
  }
}

const TWO_53 = 2n ** 53n;

/**
 * A float as `float_to_list(F, [short])` writes it (what ~w uses): the shortest
 * round-trip digits, in fixed notation only while the exponent of the last
 * digit stays in the range erts' ryu to_chars allows, else `d.ddde±x`.
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

function isEmulatorLower(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xff && c !== 0xf7);
}

function isEmulatorAlnum(c: number): boolean {
  return isEmulatorLower(c) || (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xde && c !== 0xd7) || (c >= 48 && c <= 57) || c === 95;
}

/**
 * An atom as the emulator itself prints it (erl_printf_term.c print_atom_name),
 * which fun_to_list, and so ~w of a fun, uses: no reserved-word rule, `@`
 * quoted, control characters (C0 and C1) in octal, and any other character
 * above 127 as its raw UTF-8 bytes.
 */
export function renderEmulatorAtom(atom: string): string {
  let quote = atom.length === 0;
  let out = '';
  let first = true;
  for (const ch of atom) {
    const c = ch.codePointAt(0) as number;
    if (first ? !isEmulatorLower(c) : !isEmulatorAlnum(c)) quote = true;
    first = false;
    switch (c) {
      case 39: out += "\\'"; break;
      case 92: out += '\\\\'; break;
      case 10: out += '\\n'; break;
      case 13: out += '\\r'; break;
      case 9: out += '\\t'; break;
      case 12: out += '\\f'; break;
      case 8: out += '\\b'; break;
      case 11: out += '\\v'; break;
      default:
        if (c < 32 || (c >= 128 && c < 160)) out += '\\' + c.toString(8).padStart(3, '0');
        else if (c < 128) out += ch;
        else for (const b of Buffer.from(ch, 'utf8')) out += String.fromCharCode(b);
    }
  }
  return quote ? `'${out}'` : out;
}

/** Collects output up to a budget; past it, rendering stops and `...` marks the cut. */
class Writer {
  out = '';
  full = false;
  constructor(private readonly max: number) {}

  put(s: string): void {
    if (this.full) return;
    if (this.out.length + s.length > this.max) {
      this.out += s.slice(0, Math.max(0, this.max - this.out.length)) + '...';
      this.full = true;
    } else {
      this.out += s;
    }
  }
}

function write(t: Term, w: Writer): void {
  if (w.full) return;
  switch (typeof t) {
    case 'number':
      w.put(String(t));
      return;
    case 'bigint':
      w.put(t.toString());
      return;
    case 'string':
      w.put(renderAtom(t));
      return;
    default:
      break;
  }
  if (Array.isArray(t)) {
    w.put('[');
    for (let i = 0; i < t.length && !w.full; i++) {
      if (i > 0) w.put(',');
      write(t[i], w);
    }
    w.put(']');
  } else if (t instanceof ErlTuple) {
    w.put('{');
    const e = t.elements;
    for (let i = 0; i < e.length && !w.full; i++) {
      if (i > 0) w.put(',');
      write(e[i], w);
    }
    w.put('}');
  } else if (t instanceof Uint8Array) {
    writeBytes(t, t.length, w);
    w.put('>>');
  } else if (t instanceof ErlFloat) {
    w.put(renderFloat(t.value));
  } else if (t instanceof ErlPid) {
    w.put(`<0.${t.id}.${t.serial}>`);
  } else if (t instanceof ErlMap) {
    // Maps over 32 keys (hash maps) are encoded in maps:to_list order; ~w walks
    // maps:iterator, which goes the other way.
    const entries = t.entries;
    const n = entries.length;
    const reversed = n > 32;
    w.put('#{');
    for (let i = 0; i < n && !w.full; i++) {
      const [k, v] = entries[reversed ? n - 1 - i : i];
      if (i > 0) w.put(',');
      write(k, w);
      w.put(' => ');
      write(v, w);
    }
    w.put('}');
  } else if (t instanceof ErlImproperList) {
    w.put('[');
    for (let i = 0; i < t.elements.length && !w.full; i++) {
      if (i > 0) w.put(',');
      write(t.elements[i], w);
    }
    w.put('|');
    write(t.tail, w);
    w.put(']');
  } else if (t instanceof ErlRef) {
    w.put(`#Ref<0.${[...t.ids].reverse().join('.')}>`);
  } else if (t instanceof ErlPort) {
    w.put(`#Port<0.${t.id}>`);
  } else if (t instanceof ErlExport) {
    w.put(`fun ${renderEmulatorAtom(t.module)}:${renderEmulatorAtom(t.fun)}/${t.arity}`);
  } else if (t instanceof ErlFun) {
    w.put(`#Fun<${renderEmulatorAtom(t.module)}.${t.oldIndex}.${t.oldUniq}>`);
  } else if (t instanceof ErlBitstring) {
    const whole = t.bytes.length - 1;
    writeBytes(t.bytes, whole, w);
    if (whole > 0) w.put(',');
    w.put(`${t.bytes[whole] >> (8 - t.bitsInLastByte)}:${t.bitsInLastByte}>>`);
  }
}

function writeBytes(bytes: Uint8Array, count: number, w: Writer): void {
  w.put('<<');
  // Build in chunks: one put per byte would be slow for large binaries.
  for (let i = 0; i < count && !w.full; i += 256) {
    const stop = Math.min(count, i + 256);
    let s = i > 0 ? ',' : '';
    for (let j = i; j < stop; j++) s += (j > i ? ',' : '') + bytes[j];
    w.put(s);
  }
}

/** The term in Erlang `~w` syntax; past `maxBytes` characters the text is cut and ends in `...`. */
export function renderTerm(term: Term, maxBytes = Number.POSITIVE_INFINITY): string {
  const w = new Writer(maxBytes);
  write(term, w);
  return w.out;
}
