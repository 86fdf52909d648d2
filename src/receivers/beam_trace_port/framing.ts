/**
 * The IP trace driver's framing: `<<Op:8, Size:32/big>>`. Op 0 carries Size
 * bytes of term_to_binary output; Op 1 carries nothing and Size is the number
 * of messages the driver dropped. Frames are reassembled across TCP chunks,
 * copying only the bytes of a frame that straddles two chunks.
 */

export const OP_TERM = 0;
export const OP_DROP = 1;
const HEADER = 5;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** After next() returned OP_TERM: the payload is buf[start, end). After OP_DROP: size = dropped count. */
  payload: Buffer = this.buf;
  start = 0;
  end = 0;
  size = 0;

  constructor(private readonly maxFrameBytes: number) {}

  feed(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.buf.length - this.pos;
  }

  /** The next frame's op, or -1 when more bytes are needed. Throws FrameError when the stream is not framed as expected. */
  next(): number {
    const buf = this.buf;
    const left = buf.length - this.pos;
    if (left < HEADER) return -1;
    const op = buf[this.pos];
    const size = buf.readUInt32BE(this.pos + 1);
    if (op === OP_DROP) {
      this.pos += HEADER;
      this.size = size;
      return OP_DROP;
    }
    if (op !== OP_TERM) throw new FrameError(`unknown frame op ${op}`);
    if (size > this.maxFrameBytes) throw new FrameError(`frame of ${size} bytes is over max_frame_bytes (${this.maxFrameBytes})`);
    if (left < HEADER + size) return -1;
    this.payload = buf;
    this.start = this.pos + HEADER;
    this.end = this.start + size;
    this.size = size;
    this.pos = this.end;
    return OP_TERM;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.pos = 0;
  }
}
