/**
 * An append-only log of records in segment files, the disk queue's storage.
 *
 * Record: `[u32 length][u32 crc32][u64 seq][payload]`, little-endian; the CRC
 * (zlib's CRC-32) covers seq and payload. Segments are named by their first
 * seq and rotated at `segmentBytes`. Appends made in one turn of the event
 * loop go to disk in one write (group commit); with `fsync: always` their
 * promises resolve only after the fsync that covers them, with `interval`
 * after the write (the kernel has them: a killed process loses nothing, a
 * power cut up to `fsyncIntervalMs`).
 *
 * Recovery reads every segment and stops a segment at the first record that
 * is short or fails its CRC (a torn last write); that tail is cut off and
 * counted. Segments whose records are all released are deleted.
 *
 * Chosen by measurement against lmdb (bench/disk-queue.ts, table in
 * README.md beside this file): as fast for durable batch appends, faster
 * for one appender and small records, gives released space back, and costs
 * no native module; lmdb opens a large store faster. The fsync runs on the
 * libuv thread pool, so it never stalls the event loop.
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync, writev, fsync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER = 16;
const SEGMENT_SUFFIX = '.seg';
const RELEASED_FILE = 'released';

export type FsyncPolicy = 'always' | 'interval';

export interface SegmentLogOptions {
  dir: string;
  segmentBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  /** A record larger than this is refused (and a longer length read back is taken as corruption). */
  maxRecordBytes: number;
}

interface Segment {
  firstSeq: number;
  path: string;
  fd: number;
  bytes: number;
  lastSeq: number;
}

interface Location {
  segment: Segment;
  offset: number;
  length: number;
}

export interface Recovered {
  /** Seqs in the log after the released one, oldest first. */
  seqs: number[];
  /** The first four payload bytes of each (u32 LE), read on the way: the queue keeps its item count there. */
  heads: number[];
  /** Bytes cut off torn or corrupt segment tails. */
  truncatedBytes: number;
  released: number;
}

interface Pending {
  header: Buffer;
  payload: Uint8Array;
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class SegmentLog {
  private readonly segments: Segment[] = [];
  private readonly index = new Map<number, Location>();
  private lastSeq = 0;
  private releasedSeq = 0;
  private releasedWritten = 0;
  private pending: Pending[] = [];
  private writing = false;
  private scheduled = false;
  private unsynced = false;
  private syncTimer?: NodeJS.Timeout;
  private releasedTimer?: NodeJS.Timeout;
  private closed = false;
  /** Bytes of records not yet released (what max_size bounds). */
  bytes = 0;

  constructor(private readonly options: SegmentLogOptions) {}

  open(): Recovered {
    mkdirSync(this.options.dir, { recursive: true });
    this.releasedSeq = this.readReleased();
    this.releasedWritten = this.releasedSeq;
    let truncatedBytes = 0;
    const names = readdirSync(this.options.dir).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const seqs: number[] = [];
    const heads: number[] = [];
    for (const name of names) {
      const path = join(this.options.dir, name);
      const data = readFileSync(path);
      const segment: Segment = { firstSeq: Number(name.slice(0, -SEGMENT_SUFFIX.length)), path, fd: -1, bytes: 0, lastSeq: 0 };
      let at = 0;
      while (at + HEADER <= data.length) {
        const length = data.readUInt32LE(at);
        if (length > this.options.maxRecordBytes || at + HEADER + length > data.length) break;
        if (crc32(data.subarray(at + 8, at + HEADER + length)) !== data.readUInt32LE(at + 4)) break;
        const seq = Number(data.readBigUInt64LE(at + 8));
        if (seq <= this.lastSeq) break; // seqs only grow: anything else is not ours
        this.lastSeq = seq;
        segment.lastSeq = seq;
        if (seq > this.releasedSeq) {
          this.index.set(seq, { segment, offset: at + HEADER, length });
          seqs.push(seq);
          heads.push(length >= 4 ? data.readUInt32LE(at + HEADER) : 0);
          this.bytes += HEADER + length;
        }
        at += HEADER + length;
      }
      if (at < data.length) {
        truncatedBytes += data.length - at;
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, at);
        fsyncSync(fd);
        closeSync(fd);
      }
      segment.bytes = at;
      if (segment.lastSeq === 0 || segment.lastSeq <= this.releasedSeq) {
        rmSync(path, { force: true });
        continue;
      }
      segment.fd = openSync(path, 'r+');
      this.segments.push(segment);
    }
    // A released seq beyond what the log holds (segments deleted): new records go after it.
    this.lastSeq = Math.max(this.lastSeq, this.releasedSeq);
    if (this.options.fsync === 'interval') {
      this.syncTimer = setInterval(() => this.syncNow(), this.options.fsyncIntervalMs);
      this.syncTimer.unref();
    }
    return { seqs, heads, truncatedBytes, released: this.releasedSeq };
  }

  get released(): number {
    return this.releasedSeq;
  }

  /** Appends a record; the promise resolves when it is as durable as the fsync policy makes it. */
  append(payload: Uint8Array): { seq: number; durable: Promise<void> } {
    if (this.closed) throw new Error('the disk queue is closed');
    if (payload.length > this.options.maxRecordBytes) throw new RangeError(`a record of ${payload.length} bytes is larger than the queue takes (${this.options.maxRecordBytes})`);
    const seq = ++this.lastSeq;
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(payload.length, 0);
    header.writeBigUInt64LE(BigInt(seq), 8);
    header.writeUInt32LE(crc32(payload, crc32(header.subarray(8, 16))), 4);
    this.bytes += HEADER + payload.length;
    const durable = new Promise<void>((resolve, reject) => this.pending.push({ header, payload, seq, resolve, reject }));
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return { seq, durable };
  }

  /** A record's payload, read back from its segment. */
  read(seq: number): Buffer {
    const at = this.index.get(seq);
    if (!at) throw new Error(`seq ${seq} is not in the disk queue`);
    const out = Buffer.allocUnsafe(at.length);
    let got = 0;
    while (got < at.length) got += readSync(at.segment.fd, out, got, at.length - got, at.offset + got);
    return out;
  }

  /** Everything up to `seq` is delivered: its segments can go. The released seq is written lazily (a lag only replays, it never loses). */
  release(seq: number): void {
    if (seq <= this.releasedSeq) return;
    for (let s = this.releasedSeq + 1; s <= seq; s++) {
      const at = this.index.get(s);
      if (!at) continue;
      this.bytes -= HEADER + at.length;
      this.index.delete(s);
    }
    this.releasedSeq = seq;
    // Whole segments behind the released seq are deleted, the one being written never.
    while (this.segments.length > 1 && this.segments[0].lastSeq <= seq) {
      const done = this.segments.shift() as Segment;
      closeSync(done.fd);
      rmSync(done.path, { force: true });
    }
    // Written lazily: every 256 seqs, else within a second.
    if (seq - this.releasedWritten >= 256) this.writeReleased();
    else if (!this.releasedTimer) {
      this.releasedTimer = setTimeout(() => {
        this.releasedTimer = undefined;
        if (this.releasedWritten < this.releasedSeq) this.writeReleased();
      }, 1000);
      this.releasedTimer.unref();
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.writing || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.writing = true;
    const segment = this.segmentFor(batch[0].seq);
    const buffers: Uint8Array[] = [];
    let length = 0;
    for (const p of batch) {
      buffers.push(p.header, p.payload);
      length += HEADER + p.payload.length;
    }
    const offset = segment.bytes;
    writev(segment.fd, buffers, offset, (writeError, written) => {
      // A short write: the rest is written on, which either completes it or says why not (ENOSPC).
      const error = writeError ?? (written < length ? writeRest(segment.fd, Buffer.concat(buffers).subarray(written), offset + written) : null);
      if (error || this.options.fsync !== 'always') return this.written(segment, batch, offset, error);
      // On the thread pool: the event loop goes on while the disk syncs.
      fsync(segment.fd, (syncError) => this.written(segment, batch, offset, syncError));
    });
  }

  private written(segment: Segment, batch: Pending[], offset: number, error: NodeJS.ErrnoException | null): void {
    this.writing = false;
    if (error) {
      // Cut back what was written in part, so the segment stays a sequence of whole records.
      try {
        ftruncateSync(segment.fd, offset);
      } catch {
        // the next recovery cuts it by CRC
      }
      for (const p of batch) {
        this.bytes -= HEADER + p.payload.length;
        p.reject(error);
      }
      // Their seqs are never used: the next record of this segment is written where they would have been.
      this.lastSeq = Math.max(this.lastSeq, batch[batch.length - 1].seq);
    } else {
      let at = offset;
      for (const p of batch) {
        this.index.set(p.seq, { segment, offset: at + HEADER, length: p.payload.length });
        at += HEADER + p.payload.length;
      }
      segment.bytes = at;
      segment.lastSeq = batch[batch.length - 1].seq;
      if (this.options.fsync === 'interval') this.unsynced = true;
      for (const p of batch) p.resolve();
    }
    if (this.pending.length > 0) this.flush();
  }

  /** The segment new records go to: the last one, or a new one past segmentBytes. */
  private segmentFor(firstSeq: number): Segment {
    const last = this.segments[this.segments.length - 1];
    if (last && last.bytes < this.options.segmentBytes) return last;
    // With fsync interval the timer syncs the last segment only: the one left behind is synced now.
    // On the thread pool; a failure only means a power cut may cost more (recovery checks every record by its CRC).
    if (last && this.options.fsync === 'interval') fsync(last.fd, () => undefined);
    const path = join(this.options.dir, `${String(firstSeq).padStart(20, '0')}${SEGMENT_SUFFIX}`);
    const segment: Segment = { firstSeq, path, fd: openSync(path, 'w+'), bytes: 0, lastSeq: 0 };
    this.segments.push(segment);
    return segment;
  }

  private syncNow(): void {
    const last = this.segments[this.segments.length - 1];
    if (!this.unsynced || !last) return;
    this.unsynced = false;
    fsync(last.fd, (error) => {
      if (error) this.unsynced = true;
    });
  }

  /** Resolves once every append made so far is written (and synced). */
  async settle(): Promise<void> {
    const last = this.pending[this.pending.length - 1];
    if (last) {
      await new Promise<void>((resolve) => {
        const { resolve: done, reject } = last;
        last.resolve = () => { done(); resolve(); };
        last.reject = (e) => { reject(e); resolve(); };
      });
    }
    while (this.writing) await new Promise((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.settle();
    this.closed = true;
    clearInterval(this.syncTimer);
    clearTimeout(this.releasedTimer);
    for (const s of this.segments) {
      try {
        fsyncSync(s.fd);
      } catch {
        // nothing more can be done at close; recovery checks every record
      }
      closeSync(s.fd);
    }
    this.segments.length = 0;
    this.writeReleased();
  }

  private readReleased(): number {
    try {
      const n = Number(readFileSync(join(this.options.dir, RELEASED_FILE), 'utf8').trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  private writeReleased(): void {
    const path = join(this.options.dir, RELEASED_FILE);
    try {
      writeFileSync(`${path}.new`, String(this.releasedSeq));
      renameSync(`${path}.new`, path);
      this.releasedWritten = this.releasedSeq;
    } catch {
      // a stale released seq only replays more
    }
  }
}

function writeRest(fd: number, rest: Buffer, at: number): NodeJS.ErrnoException | null {
  try {
    for (let done = 0; done < rest.length;) done += writeSync(fd, rest, done, rest.length - done, at + done);
    return null;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

/** Bytes a directory's segments take on disk (for tests and the gauge). */
export function segmentBytesOnDisk(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) if (name.endsWith(SEGMENT_SUFFIX)) total += statSync(join(dir, name)).size;
  return total;
}
