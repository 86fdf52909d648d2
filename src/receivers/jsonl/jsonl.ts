/**
 * Replays JSON lines (the debug exporter's json format) from a file or stdin,
 * pausing its reads while the pipeline pushes back, so a capture of any size
 * replays without loss.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseDuration, parseSize } from '../../config/units.js';
import { DecodeError, parseJsonLine, type Item } from '../../model/jsonl.js';
import { emptyBatch, type Batch } from '../../model/types.js';
import type { JsonlConfig } from './config.js';

const READ_CHUNK = 256 * 1024;

export class JsonlReceiver implements Receiver {
  private readonly stop = new AbortController();
  private running?: Promise<void>;
  private batch: Batch = emptyBatch();
  private batchItems = 0;
  private lineNumber = 0;
  private pendingText = '';
  private skippingLongLine = false;
  private readonly maxLineBytes: number;
  private readonly pollMs: number;
  private file?: FileHandle;
  /** rebase_time: when the receiver started, and what is added to every recorded time (set by the first item). */
  private readonly startedNs = BigInt(Date.now()) * 1_000_000n;
  private shiftNs?: bigint;

  constructor(
    private readonly config: JsonlConfig,
    private readonly ctx: ReceiverContext,
  ) {
    this.maxLineBytes = parseSize(config.max_line_bytes);
    this.pollMs = parseDuration(config.poll_interval);
  }

  async start(): Promise<void> {
    if (this.config.path === '-') {
      this.running = this.readStdin();
    } else {
      // Open now so a missing file fails start() with a clear error (unless we are to wait for it).
      if (!this.config.follow) this.file = await open(this.config.path, 'r');
      this.running = this.readFile();
    }
    this.running = this.running.catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      this.ctx.logger.error('jsonl receiver stopped reading', { path: this.config.path, error: message });
      this.ctx.reportStatus({ healthy: false, reason: `cannot read ${this.config.path}: ${message}` });
    });
  }

  async shutdown(): Promise<void> {
    this.stop.abort();
    await this.running;
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  private async readStdin(): Promise<void> {
    const decoder = new StringDecoder('utf8');
    const onStop = (): void => void process.stdin.pause();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    for await (const chunk of process.stdin) {
      await this.take(decoder.write(chunk as Buffer));
      if (this.stopped) break;
    }
    await this.take(decoder.end(), true);
    this.logEnd();
  }

  private async readFile(): Promise<void> {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    let decoder = new StringDecoder('utf8');
    let position = 0;
    if (this.config.follow) {
      this.file = await this.waitForFile();
      if (!this.file) return;
      if (this.config.start_at === 'end') position = (await this.file.stat()).size;
    }
    const file = this.file as FileHandle;
    while (!this.stopped) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        await this.take(decoder.write(buffer.subarray(0, bytesRead)));
        continue;
      }
      if (!this.config.follow) {
        await this.take(decoder.end(), true);
        this.logEnd();
        return;
      }
      await this.flush(); // hand on what we have before waiting for more
      await this.sleep(this.pollMs);
      const size = await stat(this.config.path).then((s) => s.size, () => position);
      if (size < position) {
        this.ctx.logger.warn('file was truncated: reading it again from the start', { path: this.config.path });
        position = 0;
        decoder = new StringDecoder('utf8');
        this.pendingText = '';
      }
    }
  }

  private async waitForFile(): Promise<FileHandle | undefined> {
    let warned = false;
    while (!this.stopped) {
      try {
        return await open(this.config.path, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (!warned) this.ctx.logger.info('waiting for file to appear', { path: this.config.path });
        warned = true;
        await this.sleep(this.pollMs);
      }
    }
    return undefined;
  }

  private logEnd(): void {
    this.ctx.logger.info('reached end of input', { path: this.config.path, lines: this.lineNumber });
  }

  /** Splits text into lines and parses each; `atEnd` treats a final unterminated line as complete. */
  private async take(text: string, atEnd = false): Promise<void> {
    let data = this.pendingText + text;
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      const line = data.slice(start, nl);
      start = nl + 1;
      if (this.skippingLongLine) {
        this.skippingLongLine = false;
        continue;
      }
      await this.line(line);
    }
    data = data.slice(start);
    if (data.length > this.maxLineBytes) {
      // A line longer than allowed: count it once and skip to its end.
      if (!this.skippingLongLine) this.rejectLine('line_too_long', `line longer than ${this.maxLineBytes} bytes`, ++this.lineNumber);
      this.skippingLongLine = true;
      data = '';
    }
    this.pendingText = data;
    if (atEnd) {
      if (data.length > 0 && !this.skippingLongLine) await this.line(data);
      this.pendingText = '';
      this.skippingLongLine = false;
      await this.flush();
    }
  }

  private async line(raw: string): Promise<void> {
    this.lineNumber++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim().length === 0) return;
    if (line.length > this.maxLineBytes) {
      this.rejectLine('line_too_long', `line longer than ${this.maxLineBytes} bytes`, this.lineNumber);
      return;
    }
    try {
      const parsed = parseJsonLine(line);
      if (this.config.rebase_time) this.rebase(parsed);
      if (parsed.kind === 'event') this.batch.events.push(parsed.item);
      else if (parsed.kind === 'span') this.batch.spans.push(parsed.item);
      else this.batch.metrics.push(parsed.item);
      this.batchItems++;
    } catch (error) {
      const message = error instanceof DecodeError ? error.message : String(error);
      this.rejectLine('malformed', message, this.lineNumber);
      return;
    }
    if (this.batchItems >= this.config.max_batch_items) await this.flush();
  }

  /**
   * rebase_time: the capture as if it began when the receiver started, every
   * item keeping its offset from the first (a recorded session replayed as
   * happening now: retention keeps it, `--since=-5m` finds it).
   */
  private rebase(parsed: Item): void {
    const first = parsed.kind === 'event' ? parsed.item.time : parsed.kind === 'span' ? parsed.item.startTimeUnixNano : parsed.item.timeUnixNano;
    this.shiftNs ??= this.startedNs - first;
    const d = this.shiftNs;
    if (parsed.kind === 'event') {
      parsed.item.time += d;
    } else if (parsed.kind === 'span') {
      parsed.item.startTimeUnixNano += d;
      parsed.item.endTimeUnixNano += d;
      for (const e of parsed.item.events) e.timeUnixNano += d;
    } else {
      parsed.item.timeUnixNano += d;
      if (parsed.item.startTimeUnixNano !== undefined) parsed.item.startTimeUnixNano += d;
    }
  }

  private rejectLine(reason: string, message: string, lineNumber: number): void {
    this.ctx.countRefused(1, reason);
    this.ctx.problems.report(reason, `skipping line: ${message}`, { path: this.config.path, line: lineNumber });
  }

  /** Hands the current batch on, waiting while the pipeline pushes back. */
  private async flush(): Promise<void> {
    if (this.batchItems === 0) return;
    const batch = this.batch;
    this.batch = emptyBatch();
    this.batchItems = 0;
    for (;;) {
      if (!this.ctx.consumer.ready()) await this.untilReadyOrStopped();
      const result = this.ctx.consumer.consume(batch);
      // Refusals are counted by the pipeline; only retryable ones are worth another try.
      if (result.status === 'accepted' || !result.retryable || this.stopped) return;
      await this.sleep(result.retryAfterMs ?? 100);
    }
  }

  private async untilReadyOrStopped(): Promise<void> {
    if (this.stopped) return;
    await Promise.race([
      this.ctx.consumer.whenReady(),
      new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true })),
    ]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.stop.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.stop.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
