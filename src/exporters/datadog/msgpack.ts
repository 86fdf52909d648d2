/**
 * The few MessagePack forms a Datadog trace payload needs, written by hand
 * rather than with msgpackr: the agent's tracers write span ids as uint64
 * (0xcf) even when small, and msgpackr writes a BigInt as int64 (0xd3). The
 * reference test holds these forms to what dd-trace itself sends.
 */
export class MsgpackWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written so far (a copy). */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  array(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xdc;
      this.pos = this.buf.writeUInt16BE(n, this.pos);
    } else {
      this.buf[this.pos++] = 0xdd;
      this.pos = this.buf.writeUInt32BE(n, this.pos);
    }
  }

  map(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xde;
      this.pos = this.buf.writeUInt16BE(n, this.pos);
    } else {
      this.buf[this.pos++] = 0xdf;
      this.pos = this.buf.writeUInt32BE(n, this.pos);
    }
  }

  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(5 + n);
    if (n < 32) this.buf[this.pos++] = 0xa0 | n;
    else if (n < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xda;
      this.pos = this.buf.writeUInt16BE(n, this.pos);
    } else {
      this.buf[this.pos++] = 0xdb;
      this.pos = this.buf.writeUInt32BE(n, this.pos);
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Always the 8-byte unsigned form (ids). */
  uint64(v: bigint): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcf;
    this.pos = this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.pos);
  }

  /** An integer in its smallest form, as dd-trace writes start, duration, error and integral metrics. */
  int(v: number | bigint): void {
    this.ensure(9);
    const b = BigInt(v);
    if (b >= 0n) {
      if (b < 0x80n) this.buf[this.pos++] = Number(b);
      else if (b < 0x100n) { this.buf[this.pos++] = 0xcc; this.buf[this.pos++] = Number(b); }
      else if (b < 0x10000n) { this.buf[this.pos++] = 0xcd; this.pos = this.buf.writeUInt16BE(Number(b), this.pos); }
      else if (b < 0x100000000n) { this.buf[this.pos++] = 0xce; this.pos = this.buf.writeUInt32BE(Number(b), this.pos); }
      else { this.buf[this.pos++] = 0xcf; this.pos = this.buf.writeBigUInt64BE(b, this.pos); }
    } else if (b >= -32n) this.buf[this.pos++] = 0x100 + Number(b);
    else if (b >= -0x80n) { this.buf[this.pos++] = 0xd0; this.pos = this.buf.writeInt8(Number(b), this.pos); }
    else if (b >= -0x8000n) { this.buf[this.pos++] = 0xd1; this.pos = this.buf.writeInt16BE(Number(b), this.pos); }
    else if (b >= -0x80000000n) { this.buf[this.pos++] = 0xd2; this.pos = this.buf.writeInt32BE(Number(b), this.pos); }
    else { this.buf[this.pos++] = 0xd3; this.pos = this.buf.writeBigInt64BE(b, this.pos); }
  }

  float64(v: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.pos = this.buf.writeDoubleBE(v, this.pos);
  }

  /** A metric value: integral numbers as integers, others as float64 (as dd-trace does). */
  number(v: number): void {
    if (Number.isSafeInteger(v)) this.int(v);
    else this.float64(v);
  }
}
