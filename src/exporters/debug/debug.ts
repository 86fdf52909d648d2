/** Writes items to a file or stdout, for people (text) or for replay (json). */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { ComponentContext, Exporter, ExportResult } from '../../component/types.js';
import type { Batch } from '../../model/types.js';
import type { DebugConfig } from './config.js';
import { parseDuration } from '../../config/units.js';
import { readableLines, Tally } from './readable.js';
import { renderBatch } from './render.js';

export class DebugExporter implements Exporter {
  private stream?: NodeJS.WritableStream;
  private file?: WriteStream;
  private streamError?: Error;
  private stopped = false;
  /** verbosity basic: what was counted, not shown, and the timer writing it. */
  private readonly tally = new Tally();
  private summaryTimer?: NodeJS.Timeout;
  private tallySinceMs = Date.now();
  private readonly summaryMs: number;

  constructor(
    private readonly config: DebugConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.summaryMs = parseDuration(config.summary_interval);
  }

  private get readable(): boolean {
    return this.config.format === 'text' && this.config.verbosity === 'basic';
  }

  private writeSummary(): void {
    if (this.tally.empty || !this.stream || this.streamError) return;
    this.stream.write(`${this.tally.take(this.tallySinceMs)}\n`);
    this.tallySinceMs = Date.now();
  }

  async start(): Promise<void> {
    if (this.config.path && this.config.path !== '-') {
      const file = createWriteStream(this.config.path, { flags: 'a' });
      file.on('error', (error) => {
        this.streamError = error;
        this.ctx.problems.report('write_error', 'debug exporter cannot write', { path: this.config.path, error: error.message });
      });
      await once(file, 'open');
      this.file = file;
      this.stream = file;
    } else {
      this.stream = process.stdout;
    }
    if (this.readable) {
      this.summaryTimer = setInterval(() => this.writeSummary(), this.summaryMs);
      this.summaryTimer.unref();
    }
  }

  async export(batch: Batch): Promise<ExportResult> {
    const stream = this.stream;
    if (!stream || this.stopped) return { ok: false, retryable: false, error: new Error('debug exporter is not started') };
    if (this.streamError) return { ok: false, retryable: false, error: this.streamError };
    const text = this.readable
      ? readableLines(batch, this.tally).map((l) => `${l}\n`).join('')
      : renderBatch(batch, this.config.format, this.config.verbosity === 'detailed' ? 'detailed' : 'normal');
    if (text.length === 0) return { ok: true };
    if (!stream.write(text)) {
      // Respect the stream's backpressure: the queue in front of us holds the rest.
      // The listener that did not fire is removed (once() leaves it otherwise: one more per backpressured write).
      const settled = new AbortController();
      await Promise.race([once(stream, 'drain', { signal: settled.signal }), once(stream, 'error', { signal: settled.signal })]).catch(() => undefined);
      settled.abort();
    }
    return this.streamError ? { ok: false, retryable: false, error: this.streamError } : { ok: true };
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.summaryTimer);
    // What was counted since the last summary line is not lost at the end.
    if (this.readable) this.writeSummary();
    this.stopped = true;
    const file = this.file;
    this.file = undefined;
    if (file && !file.destroyed) {
      await new Promise<void>((resolve) => file.end(() => resolve()));
    }
  }
}
