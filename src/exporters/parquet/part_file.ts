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
import { serializeTCompactProtocol } from 'hyparquet-writer/src/thrift.js';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';
import { TEMP_SUFFIX } from '../../archive/layout.js';

type WriterOptions = Pick<ConstructorParameters<typeof ParquetWriter>[0], 'codec' | 'compressors' | 'kvMetadata'>;

/** A Thrift struct as the compact-protocol reader gives it and the writer takes it: `field_<id>` keys in id order. */
type Thrift = { [key: `field_${number}`]: any };

const PAR1 = 0x31524150;

/**
 * The archive's schema as raw Thrift (FileMetaData's `schema` and
 * `column_orders`), for footers written around row groups that another
 * encoder made: hyparquet-writer serialises it, and the compact reader takes
 * it back field by field.
 */
export function rawSchema(schema: SchemaElement[]): { schema: Thrift[]; columnOrders: Thrift[] } {
  const sink = new ByteWriter();
  writeMetadata(sink, { version: 2, schema, num_rows: 0n, row_groups: [], metadata_length: 0 });
  const meta = deserializeTCompactProtocol({ view: new DataView(sink.buffer, 0, sink.index - 4), offset: 0 });
  return { schema: meta.field_2 as Thrift[], columnOrders: meta.field_7 as Thrift[] };
}

/** The footer of a whole Parquet file in memory, as raw Thrift. */
function rawFooter(file: Uint8Array): Thrift {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.byteLength < 12 || view.getUint32(file.byteLength - 4, true) !== PAR1) throw new Error('the encoder made no Parquet file');
  const length = view.getUint32(file.byteLength - 8, true);
  return deserializeTCompactProtocol({ view, offset: file.byteLength - 8 - length });
}

const leaves = (schema: Thrift[]): Thrift[] => schema.filter((e) => e.field_1 !== undefined);

/** Leaf by leaf, the encoder's schema must be the archive's: same names, physical types and repetitions (so the same levels). */
function checkSchema(theirs: Thrift[], ours: Thrift[]): void {
  const a = leaves(theirs);
  const b = leaves(ours);
  const same = a.length === b.length && a.every((e, i) => e.field_1 === b[i].field_1 && e.field_3 === b[i].field_3 && Buffer.compare(e.field_4, Buffer.from(b[i].field_4)) === 0);
  const ok = same && theirs.length === ours.length && theirs.every((e, i) => e.field_3 === ours[i].field_3 && e.field_5 === ours[i].field_5);
  if (!ok) throw new Error('the encoded row group does not have the archive\'s schema');
}

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
  /** Row groups this writer encodes (hyparquet-writer)… */
  private readonly writer?: ParquetWriter;
  /** …or row groups encoded elsewhere (encode.ts), whose raw metadata the footer lists. */
  private readonly encoded?: { schema: ReturnType<typeof rawSchema>; rowGroups: Thrift[]; kv: Thrift[]; noStatistics: ReadonlySet<string> };
  private readonly footerSchema: SchemaElement[];
  /** open: takes row groups; footer: footer encoded, not yet all on disk and synced; sealed: closed, waiting for its rename. */
  private phase: Phase = 'open';

  /**
   * `schema.write` encodes the row groups; `schema.footer` (same columns and
   * physical types) goes in the footer. With `schema.raw`, row groups come
   * encoded (appendEncoded) and the footer is written here: `noStatistics`
   * names the top-level columns whose statistics it leaves out.
   */
  constructor(
    tempDir: string,
    schema: { write: SchemaElement[]; footer: SchemaElement[]; raw?: ReturnType<typeof rawSchema>; noStatistics?: ReadonlySet<string> },
    options: WriterOptions,
  ) {
    this.tempPath = join(tempDir, `${this.id}${TEMP_SUFFIX}`);
    const fd = openSync(this.tempPath, 'wx');
    this.fd = fd;
    this.sink = new FileSink(fd);
    this.footerSchema = schema.footer;
    if (schema.raw) {
      this.encoded = {
        schema: schema.raw, rowGroups: [], noStatistics: schema.noStatistics ?? new Set(),
        kv: (options.kvMetadata ?? []).map((kv) => ({ field_1: kv.key, field_2: kv.value ?? '' })),
      };
      this.sink.appendUint32(PAR1);
    } else {
      this.writer = new ParquetWriter({ writer: this.sink, schema: schema.write, createdBy: 'scope-pipeline', statistics: true, ...options });
    }
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
    if (this.phase !== 'open' || this.sink.error || !this.writer) throw new Error('a row group was written to a file that cannot take one');
    // The writer's own grouping is bypassed: every call is exactly one row group.
    void this.writer.write({ columnData: columnData as Parameters<ParquetWriter['write']>[0]['columnData'], rowGroupSize: rows });
    this.rows += rows;
  }

  /**
   * Appends a row group encoded elsewhere, given as one-row-group Parquet
   * files (encode.ts's pieces) of consecutive columns, together the
   * archive's columns in order; a leaf column cut by rows comes as
   * consecutive pieces of that column alone whose rows add up to the
   * group's, and their pages are joined into one column chunk. The column
   * chunks are copied after the file's last row group and their metadata,
   * moved to where they now are, is kept for the footer as one row group.
   * Page indexes and the encoder's own footers are left out. Throws only
   * when the pieces are unusable (checked before anything is written); a
   * refused write is kept as for writeRowGroup.
   */
  appendEncoded(pieces: readonly Uint8Array[], rows: number): void {
    const encoded = this.encoded;
    if (this.phase !== 'open' || this.sink.error || !encoded) throw new Error('a row group was written to a file that cannot take one');
    const groupStart = BigInt(this.sink.offset);
    const columns: Thrift[] = [];
    const leafSchema: Thrift[] = [];
    const spans: Array<{ file: Uint8Array; end: number }> = [];
    let totalBytes = 0n;
    let compressedBytes: bigint | undefined;
    let firstGroup: Thrift | undefined;
    // A column cut by rows whose pieces do not yet hold every row of the group.
    let open: { leaf: Thrift; rows: bigint } | undefined;
    let offset = groupStart;
    for (const file of pieces) {
      const footer = rawFooter(file);
      const [group] = footer.field_4 as Thrift[];
      const pieceRows = group?.field_3 as bigint | undefined;
      if (!group || (footer.field_4 as Thrift[]).length !== 1 || pieceRows === undefined || pieceRows > BigInt(rows)) {
        throw new Error(`the encoder made no row group of ${rows} rows`);
      }
      firstGroup ??= group;
      const chunks = group.field_1 as Thrift[];
      // The column chunks: from after the leading magic to the end of the last one.
      let end = 4n;
      for (const chunk of chunks) {
        const meta = chunk.field_3 as Thrift;
        const last = ((meta.field_11 as bigint | undefined) ?? (meta.field_9 as bigint)) + (meta.field_7 as bigint);
        if (last > end) end = last;
      }
      const moved = chunks.map((chunk) => ({ field_2: chunk.field_2, field_3: this.moved(chunk.field_3 as Thrift, offset - 4n) }));
      // Only a leaf column can be cut by rows: the pieces' bytes follow each other, so a list's
      // leaves would be interleaved (its time, name, attributes, then the next piece's).
      if (pieceRows !== BigInt(rows) && moved.length !== 1) throw new Error(`the encoder made no row group of ${rows} rows`);
      if (open) {
        joinPages(open.leaf, moved[0].field_3);
        open.rows += pieceRows;
      } else {
        if (pieceRows !== BigInt(rows)) {
          if (moved[0].field_3.field_11 !== undefined) throw new Error('a column with a dictionary was cut by rows');
          open = { leaf: moved[0].field_3, rows: pieceRows };
        }
        columns.push(...moved);
        leafSchema.push(...(footer.field_2 as Thrift[]).slice(1));
      }
      if (open && open.rows === BigInt(rows)) open = undefined;
      else if (open && open.rows > BigInt(rows)) throw new Error(`a column cut by rows was given more than ${rows} rows`);
      spans.push({ file, end: Number(end) });
      offset += end - 4n;
      totalBytes += group.field_2 as bigint;
      if (group.field_6 !== undefined) compressedBytes = (compressedBytes ?? 0n) + (group.field_6 as bigint);
    }
    if (open) throw new Error('a column cut by rows was not given all its rows');
    // Each piece's schema below its root, one after the other: the archive's below its root.
    checkSchema(leafSchema, encoded.schema.schema.slice(1));
    for (const { file, end } of spans) this.sink.appendBytes(file.subarray(4, end));
    // num_rows, sizes, and where the group starts (its first column chunk); the i16 ordinal is left out.
    encoded.rowGroups.push({
      field_1: columns, field_2: totalBytes, field_3: BigInt(rows),
      ...(firstGroup?.field_5 !== undefined ? { field_5: groupStart } : {}),
      ...(compressedBytes !== undefined ? { field_6: compressedBytes } : {}),
    });
    this.rows += rows;
  }

  /** A column chunk's metadata with its offsets moved by `shift`, statistics only where the archive keeps them, no bloom filter. */
  private moved(meta: Thrift, shift: bigint): Thrift {
    const noStatistics = (this.encoded as NonNullable<PartFile['encoded']>).noStatistics;
    const moved: Thrift = {};
    for (const [key, value] of Object.entries(meta)) {
      if (key === 'field_9' || key === 'field_10' || key === 'field_11') moved[key as `field_${number}`] = (value as bigint) + shift;
      else if (key === 'field_12' && noStatistics.has(Buffer.from((meta.field_3 as Uint8Array[])[0]).toString('utf8'))) continue;
      else if (key !== 'field_14' && key !== 'field_15') moved[key as `field_${number}`] = value;
    }
    return moved;
  }

  /** The footer of a file of encoded row groups: the archive's schema and key-value metadata, the row groups' metadata. */
  private writeEncodedFooter(): void {
    const encoded = this.encoded as NonNullable<PartFile['encoded']>;
    const start = this.sink.offset;
    serializeTCompactProtocol(this.sink, {
      field_1: 2,
      field_2: encoded.schema.schema,
      field_3: BigInt(this.rows),
      field_4: encoded.rowGroups,
      ...(encoded.kv.length > 0 ? { field_5: encoded.kv } : {}),
      field_6: 'scope-pipeline',
      field_7: encoded.schema.columnOrders,
    });
    this.sink.appendUint32(this.sink.offset - start);
    this.sink.appendUint32(PAR1);
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
      if (this.writer) {
        this.writer.schema = this.footerSchema;
        this.writer.finish();
      } else {
        this.writeEncodedFooter();
      }
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

/**
 * Joins the pages of `next`, the column chunk written right after `into`'s
 * (the same column, rows that follow), into `into`: values, sizes, page
 * encodings and their counts add up. Statistics and size statistics, which
 * cannot be added, are left out (only columns without them are cut by rows).
 */
function joinPages(into: Thrift, next: Thrift): void {
  if (Buffer.compare(Buffer.concat(into.field_3 as Uint8Array[]), Buffer.concat(next.field_3 as Uint8Array[])) !== 0 || next.field_11 !== undefined) {
    throw new Error('a column cut by rows was given another column\'s pages');
  }
  into.field_5 = (into.field_5 as bigint) + (next.field_5 as bigint);
  into.field_6 = (into.field_6 as bigint) + (next.field_6 as bigint);
  into.field_7 = (into.field_7 as bigint) + (next.field_7 as bigint);
  into.field_2 = [...new Set([...(into.field_2 as number[]), ...(next.field_2 as number[])])];
  if (into.field_13 !== undefined || next.field_13 !== undefined) {
    const counts = new Map<string, Thrift>();
    for (const stat of [...((into.field_13 as Thrift[] | undefined) ?? []), ...((next.field_13 as Thrift[] | undefined) ?? [])]) {
      const key = `${stat.field_1}/${stat.field_2}`;
      const seen = counts.get(key);
      if (seen) seen.field_3 = (seen.field_3 as number) + (stat.field_3 as number);
      else counts.set(key, { ...stat });
    }
    into.field_13 = [...counts.values()];
  }
  delete into.field_12;
  delete into.field_16;
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
