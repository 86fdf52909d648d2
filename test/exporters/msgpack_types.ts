/**
 * A MessagePack reader that keeps each value's wire type (uint64, int64,
 * float64, str, …), written from the MessagePack specification, so tests can
 * compare the exact types two encoders chose.
 */
export type Typed =
  | { type: 'nil' | 'bool'; value: boolean | null }
  | { type: 'int' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64'; value: bigint }
  | { type: 'float32' | 'float64'; value: number }
  | { type: 'str'; value: string }
  | { type: 'bin'; value: Uint8Array }
  | { type: 'array'; value: Typed[] }
  | { type: 'map'; value: Array<[Typed, Typed]> };

export function readTyped(buf: Buffer): Typed {
  let pos = 0;
  const str = (n: number): Typed => {
    const value = buf.toString('utf8', pos, pos + n);
    pos += n;
    return { type: 'str', value };
  };
  const array = (n: number): Typed => ({ type: 'array', value: Array.from({ length: n }, () => read()) });
  const map = (n: number): Typed => ({ type: 'map', value: Array.from({ length: n }, () => [read(), read()] as [Typed, Typed]) });
  const read = (): Typed => {
    const b = buf[pos++];
    if (b <= 0x7f) return { type: 'int', value: BigInt(b) };
    if (b >= 0xe0) return { type: 'int', value: BigInt(b - 256) };
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    const take = <T>(n: number, f: () => T): T => {
      const v = f();
      pos += n;
      return v;
    };
    switch (b) {
      case 0xc0: return { type: 'nil', value: null };
      case 0xc2: return { type: 'bool', value: false };
      case 0xc3: return { type: 'bool', value: true };
      case 0xca: return { type: 'float32', value: take(4, () => buf.readFloatBE(pos)) };
      case 0xcb: return { type: 'float64', value: take(8, () => buf.readDoubleBE(pos)) };
      case 0xcc: return { type: 'uint8', value: take(1, () => BigInt(buf.readUInt8(pos))) };
      case 0xcd: return { type: 'uint16', value: take(2, () => BigInt(buf.readUInt16BE(pos))) };
      case 0xce: return { type: 'uint32', value: take(4, () => BigInt(buf.readUInt32BE(pos))) };
      case 0xcf: return { type: 'uint64', value: take(8, () => buf.readBigUInt64BE(pos)) };
      case 0xd0: return { type: 'int8', value: take(1, () => BigInt(buf.readInt8(pos))) };
      case 0xd1: return { type: 'int16', value: take(2, () => BigInt(buf.readInt16BE(pos))) };
      case 0xd2: return { type: 'int32', value: take(4, () => BigInt(buf.readInt32BE(pos))) };
      case 0xd3: return { type: 'int64', value: take(8, () => buf.readBigInt64BE(pos)) };
      case 0xd9: return str(take(1, () => buf.readUInt8(pos)));
      case 0xda: return str(take(2, () => buf.readUInt16BE(pos)));
      case 0xdb: return str(take(4, () => buf.readUInt32BE(pos)));
      case 0xc4: { const n = take(1, () => buf.readUInt8(pos)); const value = buf.subarray(pos, pos + n); pos += n; return { type: 'bin', value }; }
      case 0xdc: return array(take(2, () => buf.readUInt16BE(pos)));
      case 0xdd: return array(take(4, () => buf.readUInt32BE(pos)));
      case 0xde: return map(take(2, () => buf.readUInt16BE(pos)));
      case 0xdf: return map(take(4, () => buf.readUInt32BE(pos)));
      default: throw new Error(`msgpack type 0x${b.toString(16)} at ${pos - 1} not expected here`);
    }
  };
  const value = read();
  if (pos !== buf.length) throw new Error(`${buf.length - pos} trailing bytes`);
  return value;
}

/** A span's fields as `name → wire type`, and for meta/metrics the types of their values. */
export function spanShape(span: Typed): Record<string, string> {
  if (span.type !== 'map') throw new Error('a span is a map');
  const out: Record<string, string> = {};
  for (const [k, v] of span.value) {
    const key = String(k.value);
    if (v.type === 'map') {
      const types = new Set(v.value.map(([mk, mv]) => `${mk.type}→${mv.type}`));
      out[key] = `map{${[...types].sort().join(',')}}`;
    } else {
      out[key] = v.type;
    }
  }
  return out;
}
