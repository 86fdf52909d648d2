/** The contents of quoted strings in rendered terms: decoded from their escapes, and written back escaped. */
import { escapeEnd } from './term_scan.js';

/** The text of a quoted string's contents, and where each of its UTF-16 units came from in the rendered text. */
export interface DecodedString {
  text: string;
  /** The rendered index where unit `i` begins. */
  rawStart(i: number): number;
  /** The rendered index just past unit `i`. */
  rawEnd(i: number): number;
}

function hexValue(text: string, from: number, to: number): number | undefined {
  if (to <= from) return undefined;
  const h = text.slice(from, to);
  return /^[0-9A-Fa-f]+$/.test(h) ? parseInt(h, 16) : undefined;
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, v: 11, b: 8, f: 12, e: 27, d: 127, s: 32, a: 7 };

/**
 * Decodes the contents `text[from, to)` of a quoted string with the escapes
 * of Erlang (`\n`, `\e`, `\x{…}`, `\NNN`, `\^X`), Elixir (`\#`, `\u{…}`) and
 * JSON (`\uXXXX`, `\/`); any other escaped character stands for itself.
 */
export function decodeQuoted(text: string, from: number, to: number): DecodedString {
  const backslash = text.indexOf('\\', from);
  if (backslash < 0 || backslash >= to) {
    return { text: text.slice(from, to), rawStart: (i) => from + i, rawEnd: (i) => from + i + 1 };
  }
  let out = '';
  const starts: number[] = [];
  const ends: number[] = [];
  const emit = (code: number, start: number, end: number): void => {
    const ch = code <= 0x10ffff && code >= 0 ? String.fromCodePoint(code) : '\ufffd';
    out += ch;
    for (let k = 0; k < ch.length; k++) {
      starts.push(start);
      ends.push(end);
    }
  };
  for (let i = from; i < to;) {
    if (text[i] !== '\\') {
      out += text[i];
      starts.push(i);
      ends.push(i + 1);
      i++;
      continue;
    }
    const end = escapeEnd(text, i, to);
    const c = text[i + 1];
    let code: number | undefined;
    if (c === undefined) code = 92;
    else if (SIMPLE_ESCAPES[c] !== undefined) code = SIMPLE_ESCAPES[c];
    else if ((c === 'x' || c === 'u') && text[i + 2] === '{') code = hexValue(text, i + 3, end - 1);
    else if (c === 'x' || c === 'u') code = hexValue(text, i + 2, end);
    else if (c === '^') code = (text.charCodeAt(i + 2) || 0) & 31;
    else if (c >= '0' && c <= '7') code = parseInt(text.slice(i + 1, end), 8);
    else code = text.codePointAt(i + 1);
    if (code === undefined) {
      // Not a valid escape: keep its characters as they are.
      for (let j = i; j < end; j++) emit(text.charCodeAt(j), j, j + 1);
    } else {
      emit(code, i, end);
    }
    i = end;
  }
  return { text: out, rawStart: (i) => starts[i], rawEnd: (i) => ends[i] };
}

/** Text written as a quoted string's contents: backslash, the quote and control characters escaped (and `#{` in Elixir strings). */
export function escapeQuoted(text: string, quote: '"' | "'", elixir = false): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const code = text.charCodeAt(i);
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (elixir && quote === '"' && ch === '#' && text[i + 1] === '{') out += '\\#';
    else if (code === 10) out += '\\n';
    else if (code === 13) out += '\\r';
    else if (code === 9) out += '\\t';
    else if (code < 32 || code === 127) out += `\\x{${code.toString(16).toUpperCase()}}`;
    else out += ch;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a binary's bytes: UTF-8 when they are valid UTF-8, else latin1. */
export function bytesText(bytes: readonly number[]): string {
  const buf = Uint8Array.from(bytes);
  try {
    return strictUtf8.decode(buf);
  } catch {
    return Buffer.from(buf).toString('latin1');
  }
}
