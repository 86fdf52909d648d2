/**
 * One Parquet file being written: under a temporary name in the archive's
 * `_tmp/` directory, row group by row group, and renamed into its partition
 * only when its footer is written and synced, so a reader never sees a
 * partial file.
 *
 * A write the disk refuses (ENOSPC, EDQUOT, EROFS, …) loses nothing: the
 * encoded bytes that did not reach the file stay in memory and the next
 * flush() writes them where the file ends, and a completion that stopped
 * (footer, rename) goes on from the step that failed when complete() is
 * called again. Only a failed fsync gives the file up (FileLostError): after
 * one, what the kernel holds of the file can no longer be trusted.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ByteWriter, ParquetWriter, type SchemaElement } from 'hyparquet-writer';
import { TEMP_SUFFIX } from '../../archive/layout.js';

type WriterOptions = Pick<ConstructorParameters<typeof ParquetWriter>[0], 'codec' | 'compressors' | 'kvMetadata'>;

const FLUSH_AT = 1 << 20;

/**
 * hyparquet-writer's ByteWriter, written to a file descriptor whenever it
 * holds a megabyte and after every row group. It never throws: the writer
 * calls it in the middle of encoding, where an exception would leave the
 * writer's state half updated. A refused write is kept in `error` with the
 * bytes still buffered.
 */
class FileSink extends ByteWriter {
  /** Bytes of the file on disk: everything before the buffer. */
  private written = 0;
  /** How much of the buffer reached the disk before a write was refused. */
  private sent = 0;
  error?: NodeJS.ErrnoException;

  constructor(private readonly fd: number) {
    super(FLUSH_AT);
  }

  override ensure(size: number): void {
    if (this.index > FLUSH_AT && this.error === undefined) this.tryFlush();
    super.ensure(size);
  }

  /** Writes the buffer at the end of the file; false, with `error` set and the rest still buffered, when the disk refuses. */
  tryFlush(): boolean {
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    try {
      while (this.sent < bytes.length) {
        const n = writeSync(this.fd, bytes, this.sent, bytes.length - this.sent, this.written);
        this.sent += n;
        this.written += n;
      }
    } catch (error) {
      this.error = error as NodeJS.ErrnoException;
      return false;
    }
    this.index = 0;
    this.sent = 0;
    this.error = undefined;
    return true;
  }

  flush(): void {
    this.tryFlush();
  }

  override finish(): void {
    // PartFile flushes the footer itself, so that a refused write can be retried.
  }
}

/** The file can no longer be completed: its rows are lost. `cause` is the error that made it so. */
export class FileLostError extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(`${message}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

type Phase = 'open' | 'footer' | 'sealed';

export class PartFile {
  readonly id = randomUUID();
  readonly tempPath: string;
  readonly openedAt = Date.now();
  rows = 0;
  private fd: number | undefined;
  private readonly sink: FileSink;
  private readonly writer: ParquetWriter;
  private readonly footerSchema: SchemaElement[];
  /** open: takes row groups; footer: footer encoded, not yet all on disk and synced; sealed: closed, waiting for its rename. */
  private phase: Phase = 'open';

  /** `schema.write` encodes the row groups; `schema.footer` (same columns and physical types) goes in the footer. */
  constructor(tempDir: string, schema: { write: SchemaElement[]; footer: SchemaElement[] }, options: WriterOptions) {
    this.tempPath = join(tempDir, `${this.id}${TEMP_SUFFIX}`);
    const fd = openSync(this.tempPath, 'wx');
    this.fd = fd;
    this.sink = new FileSink(fd);
    this.footerSchema = schema.footer;
    this.writer = new ParquetWriter({ writer: this.sink, schema: schema.write, createdBy: 'scope-pipeline', statistics: true, ...options });
  }

  /** Bytes of the file so far, on disk or waiting to be (row groups; the footer comes at completion). */
  get bytes(): number {
    return this.sink.offset;
  }

  /** A completion has begun: no more row groups go in. */
  get completing(): boolean {
    return this.phase !== 'open';
  }

  /** The disk refused part of what was encoded; it waits in memory for flush(). */
  get refused(): NodeJS.ErrnoException | undefined {
    return this.sink.error;
  }

  /**
   * Encodes one row group of column arrays (all the same length) and writes it.
   * Throws only when the file is unusable (encoding failed); when the disk
   * refuses the bytes, the group is in the file all the same and `refused` says why.
   */
  writeRowGroup(columnData: Array<{ name: string; data: unknown[] }>, rows: number): void {
    if (this.phase !== 'open' || this.sink.error) throw new Error('a row group was written to a file that cannot take one');
    // The writer's own grouping is bypassed: every call is exactly one row group.
    void this.writer.write({ columnData: columnData as Parameters<ParquetWriter['write']>[0]['columnData'], rowGroupSize: rows });
    this.rows += rows;
  }

  /** Writes what the disk refused before; throws the error again if it still does. */
  flush(): void {
    if (!this.sink.tryFlush()) throw this.sink.error;
  }

  /** Where complete(dir) puts the file. */
  finalPath(dir: string): string {
    return join(dir, `part-${this.id}.parquet`);
  }

  /**
   * Writes the footer, syncs, and renames into `dir` as `part-<uuid>.parquet`;
   * returns the final path. After a failure, calling it again goes on from the
   * step that failed.
   */
  complete(dir: string): string {
    if (this.phase === 'open') {
      this.writer.schema = this.footerSchema;
      this.writer.finish();
      this.phase = 'footer';
    }
    if (this.phase === 'footer') {
      this.flush();
      const fd = this.fd as number;
      try {
        fsyncSync(fd);
      } catch (error) {
        throw new FileLostError(`syncing ${this.tempPath} failed`, error);
      }
      closeSync(fd);
      this.fd = undefined;
      this.phase = 'sealed';
    }
    mkdirSync(dir, { recursive: true });
    const finalPath = this.finalPath(dir);
    renameSync(this.tempPath, finalPath);
    try {
      syncDir(dir);
    } catch {
      // The file is in place and readable; only its directory entry may not survive a power loss.
    }
    return finalPath;
  }

  /** Gives up on the file: closes and removes the temporary. */
  discard(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    rmSync(this.tempPath, { force: true });
  }
}

/** Makes a rename durable: the directory entry must reach the disk too. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
