/**
 * The IP trace driver's framing: `<<Op:8, Size:32/big>>`. Op 0 carries Size
 * bytes of term_to_binary output; Op 1 carries nothing and Size is the number
 * of messages the driver dropped. Frames are reassembled across TCP chunks:
 * the chunks of an incomplete frame are kept aside and joined once, when the
 * frame is whole (a 16 MiB frame arriving in 64 KiB chunks is copied once,
 * not once per chunk), and only the bytes of frames that straddle chunks are
 * copied at all.
 *
 * What a reader holds is bounded: at most one incomplete frame (its header
 * checked against `maxFrameBytes` as soon as its 5 bytes are in) plus the
 * chunk being read; `buffered` says how much.
 */

export const OP_TERM = 0;
export const OP_DROP = 1;
const HEADER = 5;

export type FrameErrorReason = 'too_large' | 'unknown_op';

export class FrameError extends Error {
  constructor(
    message: string,
    readonly reason: FrameErrorReason = 'unknown_op',
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Chunks after buf[pos..], not joined yet because they do not complete a frame. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** After next() returned OP_TERM: the payload is buf[start, end). After OP_DROP: size = dropped count. */
  payload: Buffer = this.buf;
  start = 0;
  end = 0;
  size = 0;

  /** Largest Size accepted; may be changed between frames (a small first frame, then larger ones). */
  constructor(public maxFrameBytes: number) {}

  feed(chunk: Buffer): void {
    if (this.pos >= this.buf.length && this.partsBytes === 0) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
    }
  }

  /** Bytes received but not yet part of a whole frame (after next() returned -1: the incomplete frame). */
  get buffered(): number {
    return this.buf.length - this.pos + this.partsBytes;
  }

  private join(): void {
    const left = this.buf.length - this.pos;
    this.buf = left === 0 && this.parts.length === 1 ? this.parts[0] : Buffer.concat([this.buf.subarray(this.pos), ...this.parts], left + this.partsBytes);
    this.pos = 0;
    this.parts = [];
    this.partsBytes = 0;
  }

  /** The next frame's op, or -1 when more bytes are needed. Throws FrameError when the stream is not framed as expected. */
  next(): number {
    for (;;) {
      const buf = this.buf;
      const left = buf.length - this.pos;
      if (left < HEADER) {
        if (left + this.partsBytes < HEADER) {
          // Everything read was whole frames: let go of the chunk (a 16 MiB frame's buffer is not kept until the next read).
          if (left === 0 && this.partsBytes === 0 && buf !== EMPTY) this.reset();
          return -1;
        }
        this.join();
        continue;
      }
      const op = buf[this.pos];
      const size = buf.readUInt32BE(this.pos + 1);
      if (op === OP_DROP) {
        this.pos += HEADER;
        this.size = size;
        return OP_DROP;
      }
      if (op !== OP_TERM) throw new FrameError(`unknown frame op ${op}`, 'unknown_op');
      if (size > this.maxFrameBytes) throw new FrameError(`frame of ${size} bytes is over the limit of ${this.maxFrameBytes}`, 'too_large');
      if (left < HEADER + size) {
        if (left + this.partsBytes < HEADER + size) return -1;
        this.join();
        continue;
      }
      this.payload = buf;
      this.start = this.pos + HEADER;
      this.end = this.start + size;
      this.size = size;
      this.pos = this.end;
      return OP_TERM;
    }
  }

  reset(): void {
    this.buf = EMPTY;
    this.payload = EMPTY;
    this.pos = 0;
    this.parts = [];
    this.partsBytes = 0;
  }
}
