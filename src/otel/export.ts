/** Sending a batch through the SDK's OTLP exporters (shared by the otlp and otlp_http exporters). */
import type { ExportResult as SdkExportResult } from '@opentelemetry/core';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '../component/types.js';
import type { Batch } from '../model/types.js';
import { ResourceCache, toReadableLog, toReadableSpan, toResourceMetrics } from './readable.js';

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
  metrics: PushMetricExporter;
}

type Send = (done: (r: SdkExportResult) => void) => void;

/**
 * Spans go out as spans, events as log records, metric points as metrics (one
 * request per resource). Summary points cannot be sent through the SDK's
 * serializer: they are reported as dropped, never silently lost.
 */
export async function exportBatch(batch: Batch, exporters: SdkExporters): Promise<ExportResult> {
  const resources = new ResourceCache();
  const sends: Send[] = [];
  if (batch.spans.length > 0) sends.push((done) => exporters.spans.export(batch.spans.map((s) => toReadableSpan(s, resources)), done));
  if (batch.events.length > 0) sends.push((done) => exporters.logs.export(batch.events.map((e) => toReadableLog(e, resources)), done));
  const metrics = batch.metrics.length > 0 ? toResourceMetrics(batch.metrics, resources) : { requests: [], unsupported: 0 };
  for (const rm of metrics.requests) sends.push((done) => exporters.metrics.export(rm, done));
  for (const send of sends) {
    const result = await call(send);
    if (result.code !== 0) {
      const error = result.error ?? new Error('OTLP export failed');
      return { ok: false, retryable: retryable(error), error };
    }
  }
  return metrics.unsupported > 0 ? { ok: true, dropped: { count: metrics.unsupported, reason: 'unsupported_signal' } } : { ok: true };
}
