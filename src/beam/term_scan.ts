/** A lenient scanner of rendered terms (either syntax): nesting and quoting only, no tree. */
/** The index of the quote closing the string opened at `open` (escapes skipped), or text.length. */
export function skipQuoted(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

/** Names of `#Name<…>` values with no term inside: pids, refs, ports, funs (Erlang and Elixir spellings). */
export const OPAQUE_ANGLE = new Set(['PID', 'Ref', 'Reference', 'Port', 'Fun', 'Function']);
export const ANGLE_NAME = /#([A-Za-z][\w.]*)</y;
/** A pid as written bare: `<0.80.0>`, `<cli@host.98.0>`. */
export const BARE_PID = /<[^<>\s,"']+\.\d+\.\d+>/y;

export const BRACKET_ATOM = /:(?:<<>>|<<<|>>>|<<~|~>>|<~>|<\|>|<>|<=|>=|->|<-|\|>|<~|~>|%\{\}|\{\}|<|>)(?=[\s,}\])>|]|$)/y;

export type ScanEvent = 'open' | 'close' | 'comma' | 'string';

/**
 * Walks rendered text from `from`, keeping a stack of the closers of what is
 * open (`}`, `]`, `)`, `>>` for binaries, `>` for `#Name<…>`). `visit` sees
 * openers (at their last character), closers, commas and strings (`at` the
 * opening quote, `end` the closing one); it returns true to stop. Returns false
 * when a closer did not match what was open.
 */
export function scanText(text: string, from: number, visit: (event: ScanEvent, at: number, stack: readonly string[], end: number) => boolean | void): boolean {
  const stack: string[] = [];
  const n = text.length;
  for (let i = from; i < n; i++) {
    const c = text[i];
    switch (c) {
      case '"':
      case "'": {
        const end = skipQuoted(text, i);
        if (visit('string', i, stack, end)) return true;
        i = end;
        break;
      }
      case '<':
        if (text[i + 1] === '<') {
          stack.push('>>');
          i++;
          if (visit('open', i, stack, i)) return true;
        } else {
          BARE_PID.lastIndex = i;
          if (BARE_PID.test(text)) i = BARE_PID.lastIndex - 1;
        }
        break;
      case '#': {
        ANGLE_NAME.lastIndex = i;
        const m = ANGLE_NAME.exec(text);
        if (!m) break;
        const lt = ANGLE_NAME.lastIndex - 1;
        if (OPAQUE_ANGLE.has(m[1])) {
          const gt = text.indexOf('>', lt);
          i = gt < 0 ? n : gt;
        } else {
          stack.push('>');
          i = lt;
          if (visit('open', i, stack, i)) return true;
        }
        break;
      }
      case '{':
      case '[':
      case '(':
        stack.push(c === '{' ? '}' : c === '[' ? ']' : ')');
        if (visit('open', i, stack, i)) return true;
        break;
      case '}':
      case ']':
      case ')':
        if (stack[stack.length - 1] !== c) return false;
        stack.pop();
        if (visit('close', i, stack, i)) return true;
        break;
      case '>':
        if (text[i + 1] === '>' && stack[stack.length - 1] === '>>') {
          stack.pop();
          i++;
          if (visit('close', i, stack, i)) return true;
        } else if (stack[stack.length - 1] === '>' && text[i - 1] !== '=' && text[i - 1] !== '-') {
          stack.pop();
          if (visit('close', i, stack, i)) return true;
        }
        break;
      case ',':
        if (visit('comma', i, stack, i)) return true;
        break;
      case ':':
        // Elixir atoms made of brackets (`:<<>>`, `:%{}`, `:>=`) open and close nothing.
        BRACKET_ATOM.lastIndex = i;
        if (BRACKET_ATOM.test(text)) i = BRACKET_ATOM.lastIndex - 1;
        break;
      default:
        break;
    }
  }
  return true;
}


/** The index just past the escape sequence starting at `at` (a backslash) inside a quoted string. */
export function escapeEnd(text: string, at: number, limit: number): number {
  const c = text[at + 1];
  if ((c === 'x' || c === 'u') && text[at + 2] === '{') {
    const close = text.indexOf('}', at + 3);
    return close < 0 || close >= limit ? limit : close + 1;
  }
  if (c === 'x') return Math.min(limit, at + 4);
  if (c === 'u') return Math.min(limit, at + 6);
  if (c === '^') return Math.min(limit, at + 3);
  if (c >= '0' && c <= '7') {
    let j = at + 2;
    while (j < limit && j < at + 4 && text[j] >= '0' && text[j] <= '7') j++;
    return j;
  }
  const code = text.charCodeAt(at + 1);
  return Math.min(limit, at + (code >= 0xd800 && code <= 0xdbff ? 3 : 2));
}

