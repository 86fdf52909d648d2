/**
 * Small readers for Erlang terms as the receivers render them (`~w`-style
 * text): taking a tuple apart at its top level (gen_server call tags, EXIT
 * signals, request names for correlation) and cutting one to size while
 * keeping it well formed (privacy).
 */

/** The top-level elements of a rendered tuple `{A,B,…}`, or null when the text is not one. */
export function tupleElements(text: string): string[] | null {
  if (text[0] !== '{' || text[text.length - 1] !== '}') return null;
  const out: string[] = [];
  let depth = 0;
  let start = 1;
  for (let i = 1; i < text.length - 1; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = skipQuoted(text, i);
    } else if (c === '<' && text[i + 1] === '<') {
      // A binary: its bytes are separated by commas of their own.
      const end = text.indexOf('>>', i + 2);
      if (end < 0) return null;
      i = end + 1;
    } else if (c === '{' || c === '[' || c === '(') {
      depth++;
    } else if (c === '}' || c === ']' || c === ')') {
      depth--;
    } else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  if (text.length > 2) out.push(text.slice(start, text.length - 1));
  return out;
}

export function skipQuoted(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

const PID = /^<\d+\.\d+\.\d+>$/;

export function isPid(text: string): boolean {
  return PID.test(text);
}

/** `{'$gen_call',{<0.90.0>,Tag},Request}` → its parts; null for any other message. */
export function genCall(message: string): { caller: string; tag: string; request: string } | null {
  if (!message.startsWith("{'$gen_call',")) return null;
  const parts = tupleElements(message);
  if (!parts || parts.length !== 3) return null;
  const from = tupleElements(parts[1]);
  if (!from || from.length !== 2 || !isPid(from[0])) return null;
  return { caller: from[0], tag: from[1], request: parts[2] };
}

/** `{'$gen_cast',Request}` → Request. */
export function genCast(message: string): string | null {
  if (!message.startsWith("{'$gen_cast',")) return null;
  const parts = tupleElements(message);
  return parts && parts.length === 2 ? parts[1] : null;
}

/** `{'EXIT',<0.90.0>,Reason}` (a trapped exit signal) → the pid that exited. */
export function exitSignal(message: string): string | null {
  if (!message.startsWith("{'EXIT',")) return null;
  const parts = tupleElements(message);
  return parts && parts.length === 3 && isPid(parts[1]) ? parts[1] : null;
}

/** The first element of a tuple message (a gen_server reply's tag), or null. Scans only as far as that element. */
export function firstElement(message: string): string | null {
  if (message[0] !== '{' || message[message.length - 1] !== '}') return null;
  let depth = 0;
  for (let i = 1; i < message.length - 1; i++) {
    const c = message[i];
    if (c === '"' || c === "'") i = skipQuoted(message, i);
    else if (c === '<' && message[i + 1] === '<') {
      const end = message.indexOf('>>', i + 2);
      if (end < 0) return null;
      i = end + 1;
    } else if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') depth--;
    else if (c === ',' && depth === 0) return message.slice(1, i);
  }
  return message.length > 2 ? message.slice(1, message.length - 1) : null;
}

/** A low-cardinality label for a request: its atom, or the atom heading its tuple (`{add,apple,5}` → `add`). */
export function requestLabel(request: string): string | undefined {
  const atom = /^[a-z][A-Za-z0-9_@]*$/;
  if (atom.test(request)) return request;
  const parts = tupleElements(request);
  if (parts && parts.length > 0 && atom.test(parts[0])) return parts[0];
  return undefined;
}

const OPEN: Record<string, string> = { '{': '}', '[': ']', '(': ')' };

/**
 * Cuts a rendered term to about `max` bytes at an element boundary and closes
 * what was open: `{cart,[{apple,5},{pear,3}],#{owner => <<"ada">>}}` at 20 →
 * `{cart,[{apple,5},...]}`. Text that is not a term is cut plainly with `...`.
 */
export function truncateTerm(term: string, max: number): string {
  if (term.length <= max) return term;
  const stack: string[] = [];
  // Element boundaries (commas) with what was open there; the last whose cut fits within max wins.
  const boundaries: Array<{ at: number; closers: string }> = [];
  for (let i = 0; i < term.length && i < max; i++) {
    const c = term[i];
    if (c === '"' || c === "'") {
      const end = skipQuoted(term, i);
      if (end >= max) break;
      i = end;
    } else if (c === '<' && term[i + 1] === '<') {
      const end = term.indexOf('>>', i + 2);
      if (end < 0 || end + 1 >= max) break;
      i = end + 1;
    } else if (OPEN[c]) {
      stack.push(OPEN[c]);
    } else if (c === '}' || c === ']' || c === ')') {
      stack.pop();
    } else if (c === ',') {
      boundaries.push({ at: i, closers: [...stack].reverse().join('') });
    }
  }
  for (let j = boundaries.length - 1; j >= 0; j--) {
    const { at, closers } = boundaries[j];
    if (at + 1 + 3 + closers.length <= max) return `${term.slice(0, at + 1)}...${closers}`;
  }
  return `${term.slice(0, Math.max(0, max - 3))}...`;
}
