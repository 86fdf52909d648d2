/** Writes items to a file or stdout, for people (text) or for replay (json). */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { ComponentContext, Exporter, ExportResult } from '../../component/types.js';
import type { Batch } from '../../model/types.js';
import type { DebugConfig } from './config.js';
import { renderBatch } from './render.js';

export class DebugExporter implements Exporter {
  private stream?: NodeJS.WritableStream;
  private file?: WriteStream;
  private streamError?: Error;
  private stopped = false;

  constructor(
    private readonly config: DebugConfig,
    private readonly ctx: ComponentContext,
  ) {}

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
  }

  async export(batch: Batch): Promise<ExportResult> {
    const stream = this.stream;
    if (!stream || this.stopped) return { ok: false, retryable: false, error: new Error('debug exporter is not started') };
    if (this.streamError) return { ok: false, retryable: false, error: this.streamError };
    const text = renderBatch(batch, this.config.format, this.config.verbosity);
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
    this.stopped = true;
    const file = this.file;
    this.file = undefined;
    if (file && !file.destroyed) {
      await new Promise<void>((resolve) => file.end(() => resolve()));
    }
  }
}
