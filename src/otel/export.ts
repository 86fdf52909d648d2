/** Sending a batch through the SDK's OTLP exporters (shared by the otlp and otlp_http exporters). */
import type { ExportResult as SdkExportResult } from '@opentelemetry/core';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '../component/types.js';
import type { Batch } from '../model/types.js';
import { ResourceCache, toReadableLog, toReadableSpan } from './readable.js';

function call(run: (done: (r: SdkExportResult) => void) => void): Promise<SdkExportResult> {
  return new Promise((resolve) => run(resolve));
}

/** 4xx answers other than 429 will not get better by retrying. */
function retryable(error: Error | undefined): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number' && code >= 400 && code < 500 && code !== 429 && code !== 408) return false;
  return true;
}

export interface SdkExporters {
  spans: SpanExporter;
  logs: LogRecordExporter;
}

/** Spans go out as spans and events as log records; metrics are not sent yet and are reported as dropped. */
export async function exportBatch(batch: Batch, exporters: SdkExporters): Promise<ExportResult> {
  const resources = new ResourceCache();
  for (const [items, send] of [
    [batch.spans, (done: (r: SdkExportResult) => void) => exporters.spans.export(batch.spans.map((s) => toReadableSpan(s, resources)), done)],
    [batch.events, (done: (r: SdkExportResult) => void) => exporters.logs.export(batch.events.map((e) => toReadableLog(e, resources)), done)],
  ] as const) {
    if (items.length === 0) continue;
    const result = await call(send);
    if (result.code !== 0) {
      const error = result.error ?? new Error('OTLP export failed');
      return { ok: false, retryable: retryable(error), error };
    }
  }
  return batch.metrics.length > 0 ? { ok: true, dropped: { count: batch.metrics.length, reason: 'unsupported_signal' } } : { ok: true };
}
