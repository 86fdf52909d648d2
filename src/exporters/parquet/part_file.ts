/**
 * One Parquet file being written: under a temporary name in the archive's
 * `_tmp/` directory, row group by row group, and renamed into its partition
 * only when its footer is written and synced, so a reader never sees a
 * partial file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ByteWriter, ParquetWriter, type SchemaElement } from 'hyparquet-writer';
import { TEMP_SUFFIX } from '../../archive/layout.js';

type WriterOptions = Pick<ConstructorParameters<typeof ParquetWriter>[0], 'codec' | 'compressors' | 'kvMetadata'>;

/** hyparquet-writer's ByteWriter, flushed to a file descriptor whenever it holds a megabyte and after every row group. */
class FileSink extends ByteWriter {
  constructor(private readonly fd: number) {
    super(1 << 20);
  }

  override ensure(size: number): void {
    if (this.index > 1 << 20) this.flush();
    super.ensure(size);
  }

  flush(): void {
    let at = 0;
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    while (at < bytes.length) at += writeSync(this.fd, bytes, at);
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }
}

export class PartFile {
  readonly id = randomUUID();
  readonly tempPath: string;
  readonly openedAt = Date.now();
  rows = 0;
  private readonly fd: number;
  private readonly sink: FileSink;
  private readonly writer: ParquetWriter;

  private readonly footerSchema: SchemaElement[];

  /** `schema.write` encodes the row groups; `schema.footer` (same columns and physical types) goes in the footer. */
  constructor(tempDir: string, schema: { write: SchemaElement[]; footer: SchemaElement[] }, options: WriterOptions) {
    this.tempPath = join(tempDir, `${this.id}${TEMP_SUFFIX}`);
    this.fd = openSync(this.tempPath, 'wx');
    this.sink = new FileSink(this.fd);
    this.footerSchema = schema.footer;
    this.writer = new ParquetWriter({ writer: this.sink, schema: schema.write, createdBy: 'scope-pipeline', statistics: true, ...options });
  }

  /** Bytes written so far (row groups; the footer comes at completion). */
  get bytes(): number {
    return this.sink.offset;
  }

  /** Writes one row group of column arrays (all the same length). */
  writeRowGroup(columnData: Array<{ name: string; data: unknown[] }>, rows: number): void {
    // The writer's own grouping is bypassed: every call is exactly one row group.
    void this.writer.write({ columnData: columnData as Parameters<ParquetWriter['write']>[0]['columnData'], rowGroupSize: rows });
    this.rows += rows;
  }

  /** Writes the footer, syncs, and renames into `dir` as `part-<uuid>.parquet`; returns the final path. */
  complete(dir: string): string {
    this.writer.schema = this.footerSchema;
    this.writer.finish();
    fsyncSync(this.fd);
    closeSync(this.fd);
    mkdirSync(dir, { recursive: true });
    const finalPath = join(dir, `part-${this.id}.parquet`);
    renameSync(this.tempPath, finalPath);
    syncDir(dir);
    return finalPath;
  }

  /** Gives up on the file (a write failed): closes and removes the temporary. */
  discard(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
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
