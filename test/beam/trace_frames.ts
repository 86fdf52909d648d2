/**
 * A minimal ETF encoder for trace frames, for tests that need a trace-port peer
 * without a node (a fake built from the published External Term Format; the
 * decoder itself is checked against real erl elsewhere).
 */
export type Encodable = string | number | { pid: [number, number] } | Encodable[] | { tuple: Encodable[] };

const NODE = 'nonode@nohost';

function atom(name: string): number[] {
  const bytes = [...Buffer.from(name, 'utf8')];
  return [119, bytes.length, ...bytes];
}

function encode(t: Encodable): number[] {
  if (typeof t === 'string') return atom(t);
  if (typeof t === 'number') return [97, t];
  if (Array.isArray(t)) return t.length === 0 ? [106] : [108, 0, 0, 0, t.length, ...t.flatMap(encode), 106];
  if ('pid' in t) {
    const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
    return [88, ...atom(NODE), ...u32(t.pid[0]), ...u32(t.pid[1]), ...u32(0)];
  }
  return [104, t.tuple.length, ...t.tuple.flatMap(encode)];
}

/** `<<0, Size:32, 131, Term>>` */
export function traceFrame(term: Encodable): Buffer {
  const body = Buffer.from([131, ...encode(term)]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}
