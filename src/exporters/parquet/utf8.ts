/**
 * UTF-8 for a row group's string column. The writer would call
 * TextEncoder.encode per value, allocating a buffer each time; here the
 * column's strings are joined and encoded with one call and each value is a
 * view into the result. When every character is ASCII (one byte each, by far
 * the common case: ids, names, pids, JSON of ASCII keys) the views are cut by
 * string length; otherwise each value is written into the shared buffer on
 * its own. With `dedupe`, equal strings share one view, which the writer's
 * dictionary encoding recognises by identity instead of hashing bytes.
 */
export function encodeStrings(values: ReadonlyArray<string | null>, dedupe: boolean): Array<Uint8Array | null> {
  const out = new Array<Uint8Array | null>(values.length);
  const seen = dedupe ? new Map<string, Uint8Array>() : undefined;
  const present: string[] = [];
  let chars = 0;
  for (const value of values) {
    if (value !== null && !seen?.has(value)) {
      present.push(value);
      chars += value.length;
      seen?.set(value, EMPTY);
    }
  }
  const joined = present.join('');
  const ascii = Buffer.byteLength(joined, 'utf8') === chars;
  const bytes = ascii ? Buffer.from(joined, 'latin1') : Buffer.allocUnsafe(chars * 3);
  const base = bytes.byteOffset;
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null) {
      out[i] = null;
      continue;
    }
    const known = seen?.get(value);
    if (known !== undefined && known !== EMPTY) {
      out[i] = known;
      continue;
    }
    const length = ascii ? value.length : bytes.write(value, at, 'utf8');
    const view = new Uint8Array(bytes.buffer, base + at, length);
    at += length;
    seen?.set(value, view);
    out[i] = view;
  }
  return out;
}

const EMPTY = new Uint8Array(0);
