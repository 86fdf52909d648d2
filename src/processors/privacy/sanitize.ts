/** SQL and URL sanitizers, and truncation of rendered Erlang terms that keeps them well formed. */

/**
 * SQL literals → `?`: quoted strings (with '' escapes), dollar-quoted strings,
 * numbers not part of identifiers, hex and boolean literals. Identifiers in
 * double quotes and `$1` placeholders are kept.
 */
export function sanitizeSql(sql: string): string {
  return sql
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, '?')
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/(?<![\w$."])-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, '?')
    .replace(/\b0x[0-9a-f]+\b/gi, '?')
    .replace(/\b(?:TRUE|FALSE)\b/gi, '?');
}

/** Query-string values → `?` (keys kept): `/login?user=ada&token=x` → `/login?user=?&token=?`. */
export function sanitizeUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const cleaned = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? pair : `${pair.slice(0, eq)}=?`;
  }).join('&');
  return `${url.slice(0, q + 1)}${cleaned}${hash < 0 ? '' : url.slice(hash)}`;
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

function skipQuoted(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}
