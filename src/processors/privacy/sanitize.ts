/** SQL and URL sanitizers. */

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
