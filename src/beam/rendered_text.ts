/**
 * Small readers for Erlang terms as the receivers render them, in either
 * syntax the renderer writes:
 *
 * - Erlang, as `io_lib:format("~0tp", [T])`: `<<"text">>`, `<<"tëxt"/utf8>>`,
 *   `<<1,2,3>>`, `"charlist"`, `'Quoted'` atoms, `#{k => v}`, `<0.80.0>`,
 *   `<cli@host.98.0>`, `#Ref<0.1.2.3>`, truncation as a `...` element;
 * - Elixir, as `inspect/2`: `"text"`, `<<1, 2, 3>>`, `:atom`, `:"Quoted"`,
 *   `Foo.Bar`, `~c"abc"` / `'abc'`, `[password: "x"]`, `%{k => v}`,
 *   `%Mod{…}`, `#PID<0.80.0>`, `#Name<…>`;
 *
 * and the older `~w` form (binaries as byte lists). Two kinds of reader: a
 * lenient scanner that only tracks nesting and quoting (taking a tuple apart at
 * its top level for correlation, cutting a term to size while keeping it well
 * formed), and a parser into a syntax tree that knows where every string,
 * atom and number is (privacy), which refuses text that is no term.
 */
import { BARE_PID, escapeEnd, scanText, skipQuoted } from './term_scan.js';
import { parseTerm } from './term_parse.js';

export { skipQuoted } from './term_scan.js';

/** The top-level elements of a rendered tuple `{A,B,…}` / `{a, b}`, or null when the text is not one. */
export function tupleElements(text: string): string[] | null {
  if (text[0] !== '{' || text[text.length - 1] !== '}') return null;
  const out: string[] = [];
  let start = 1;
  let closedAt = -1;
  const ok = scanText(text, 0, (event, at, stack) => {
    if (event === 'comma' && stack.length === 1) {
      out.push(text.slice(start, at).trim());
      start = at + 1;
    } else if (event === 'close' && stack.length === 0) {
      closedAt = at;
      return true;
    }
    return false;
  });
  // The tuple must close exactly at the end of the text.
  if (!ok || closedAt !== text.length - 1) return null;
  if (text.length > 2) out.push(text.slice(start, text.length - 1).trim());
  return out;
}

const PID = /^(?:#PID)?<[^<>\s,"']+\.\d+\.\d+>$/;

/** A pid in either syntax, local or remote: `<0.80.0>`, `<cli@host.98.0>`, `#PID<0.80.0>`. */
export function isPid(text: string): boolean {
  return PID.test(text);
}

/** Whether a tuple starts with the tag `erlangAtom` (`'$gen_call'`, `'EXIT'`) in either syntax. */
function tagged(message: string, erlang: string, elixir: string): boolean {
  return message.startsWith(`{${erlang},`) || message.startsWith(`{${elixir},`);
}

/** `{'$gen_call',{<0.90.0>,Tag},Request}` (or `{:"$gen_call", {#PID<0.90.0>, Tag}, request}`) → its parts; null for any other message. */
export function genCall(message: string): { caller: string; tag: string; request: string } | null {
  if (!tagged(message, "'$gen_call'", ':"$gen_call"')) return null;
  const parts = tupleElements(message);
  if (!parts || parts.length !== 3) return null;
  const from = tupleElements(parts[1]);
  if (!from || from.length !== 2 || !isPid(from[0])) return null;
  return { caller: from[0], tag: from[1], request: parts[2] };
}

/** `{'$gen_cast',Request}` → Request. */
export function genCast(message: string): string | null {
  if (!tagged(message, "'$gen_cast'", ':"$gen_cast"')) return null;
  const parts = tupleElements(message);
  return parts && parts.length === 2 ? parts[1] : null;
}

/** `{'EXIT',<0.90.0>,Reason}` / `{:EXIT, #PID<0.90.0>, reason}` (a trapped exit signal) → the pid that exited. */
export function exitSignal(message: string): string | null {
  if (!tagged(message, "'EXIT'", ':EXIT')) return null;
  const parts = tupleElements(message);
  return parts && parts.length === 3 && isPid(parts[1]) ? parts[1] : null;
}

/** The first element of a tuple message (a gen_server reply's tag), or null. Scans only as far as that element. */
export function firstElement(message: string): string | null {
  if (message[0] !== '{' || message[message.length - 1] !== '}') return null;
  let first: string | null = null;
  const ok = scanText(message, 0, (event, at, stack) => {
    if (event === 'comma' && stack.length === 1) {
      first = message.slice(1, at).trim();
      return true;
    }
    return false;
  });
  if (!ok) return null;
  if (first !== null) return first;
  return message.length > 2 ? message.slice(1, message.length - 1).trim() : null;
}

/** A low-cardinality label for a request: its atom, or the atom heading its tuple (`{add,apple,5}`, `{:add, :apple, 5}` → `add`). */
export function requestLabel(request: string): string | undefined {
  const atom = /^:?([a-z][A-Za-z0-9_@]*)$/;
  const m = atom.exec(request);
  if (m) return m[1];
  const parts = tupleElements(request);
  const head = parts && parts.length > 0 ? atom.exec(parts[0]) : null;
  return head ? head[1] : undefined;
}

/**
 * Cuts a rendered term to about `max` bytes and closes what was open, so it
 * stays well formed: at an element boundary (`{cart,[{apple,5},{pear,3}],#{owner
 * => <<"ada">>}}` at 24 → `{cart,[{apple,5},...]}`, Elixir `[1, 2, ...]`),
 * or inside the string that runs past the limit (`{msg,<<"a long te...">>}`),
 * or just after an opener (`{...}`); a term with no such place (one long
 * atom) becomes `...`. Text that is not a term is cut plainly with `...`.
 */
export function truncateTerm(term: string, max: number): string {
  if (term.length <= max) return term;
  let best: string | undefined;
  let fallback: string | undefined;
  const closing = (stack: readonly string[]): string => {
    let s = '';
    for (let j = stack.length - 1; j >= 0; j--) s += stack[j];
    return s;
  };
  scanText(term, 0, (event, at, stack, end) => {
    if (at >= max) return true;
    if (event === 'comma') {
      const cut = `${term.slice(0, at + 1)}${term[at + 1] === ' ' ? ' ' : ''}...${closing(stack)}`;
      if (cut.length <= max) best = cut;
    } else if (event === 'open') {
      const cut = `${term.slice(0, at + 1)}...${closing(stack)}`;
      if (cut.length <= max) fallback = cut;
    } else if (event === 'string' && end < term.length && end + 1 + closing(stack).length > max) {
      // The string runs past the limit: cut inside it, at a character boundary.
      const quote = term[at];
      const utf8 = stack[stack.length - 1] === '>>' && term.startsWith('/utf8', end + 1) ? '/utf8' : '';
      const suffix = `...${quote}${utf8}${closing(stack)}`;
      const limit = max - suffix.length;
      let cutAt = -1;
      for (let j = at + 1; j < end && j <= limit;) {
        cutAt = j;
        if (term[j] === '\\') j = escapeEnd(term, j, end);
        else {
          const code = term.charCodeAt(j);
          j += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
        }
        if (j <= limit && j <= end) cutAt = j;
      }
      if (cutAt > at + 1) best = `${term.slice(0, cutAt)}${suffix}`;
      return true;
    }
    return false;
  });
  if (best !== undefined || fallback !== undefined) return (best ?? fallback) as string;
  // Nothing to cut at (one long atom or number): a term becomes its `...` element, other text is cut plainly.
  return parseTerm(term) ? '...' : `${term.slice(0, Math.max(0, max - 3))}...`;
}

/**
 * A message as a chart labels it: a call's request, a cast's, a reply's value
 * (the gen_server envelope and the caller's alias left out: the arrow says it).
 */
export function messageLabel(kind: string, message: string): string {
  if (kind === 'call') return genCall(message)?.request ?? message;
  if (kind === 'cast') return genCast(message) ?? message;
  if (kind === 'reply') {
    const parts = tupleElements(message);
    return parts && parts.length === 2 ? parts[1] : message;
  }
  return message;
}

/** A received message as one reads it: `call {total,…}`, `cast {record,…}`, or the message itself. */
export function receivedLabel(message: string): string {
  const call = genCall(message);
  if (call) return `call ${call.request}`;
  const cast = genCast(message);
  return cast === null ? message : `cast ${cast}`;
}
