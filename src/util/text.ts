/** Text for a terminal line, shared by the debug exporter's readable output and the inspection layer's tables. */

/** On one line (line breaks and tabs as a space), cut to `width` characters (code points), ending in "…" when cut. */
export function fit(text: string, width: number): string {
  const chars = [...text.replace(/[\t\n\v\f\r]+/g, ' ')];
  return chars.length <= width ? chars.join('') : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}
