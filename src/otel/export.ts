/** Sending a batch through the SDK's OTLP exporters (shared by the otlp and otlp_http exporters). */
import type { ExportResult as SdkExportResult } from '@opentelemetry/core';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '../component/types.js';
import type { Batch } from '../model/types.js';
import { otlpTypes } from './proto.js';
import { ResourceCache, toReadableLog, toReadableSpan, toResourceMetrics } from './readable.js';

function call(run: (done: (r: SdkExportResult) => void) => void): Promise<SdkExportResult> {
  return new Promise((resolve) => run(resolve));
}

/** gRPC codes the OTLP spec calls retryable (RESOURCE_EXHAUSTED only with RetryInfo). */
const RETRYABLE_GRPC = new Set([1, 4, 10, 11, 14, 15]);
const RESOURCE_EXHAUSTED = 8;

interface GrpcLikeError {
  code: number;
  metadata: { get(key: string): Array<string | Buffer> };
}

function isGrpcError(error: unknown): error is GrpcLikeError {
  const e = error as Partial<GrpcLikeError> | undefined;
  return typeof e?.code === 'number' && typeof e.metadata?.get === 'function';
}

/** The delay of a google.rpc.RetryInfo detail in grpc-status-details-bin, if any. */
function retryInfoMs(error: GrpcLikeError): number | undefined {
  const raw = error.metadata.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Uint8Array)) return undefined;
  try {
    const { status, retryInfo } = otlpTypes();
    const decoded = status.toObject(status.decode(raw), { longs: Number }) as { details?: Array<{ typeUrl?: string; value?: Uint8Array }> };
    const detail = decoded.details?.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo');
    if (!detail?.value) return undefined;
    const info = retryInfo.toObject(retryInfo.decode(detail.value), { longs: Number }) as { retryDelay?: { seconds?: number; nanos?: number } };
    return (info.retryDelay?.seconds ?? 0) * 1000 + Math.round((info.retryDelay?.nanos ?? 0) / 1e6);
  } catch {
    return undefined;
  }
}

/**
 * Whether a failed export may succeed later, per the OTLP spec: gRPC by status
 * code (RESOURCE_EXHAUSTED only with RetryInfo, whose delay is honoured), HTTP
 * by status (4xx other than 408/429 will not get better). Network errors retry.
 */
export function classifyFailure(error: unknown): { retryable: boolean; retryAfterMs?: number } {
  if (isGrpcError(error)) {
    if (error.code === RESOURCE_EXHAUSTED) {
      const delay = retryInfoMs(error);
      return delay === undefined ? { retryable: false } : { retryable: true, retryAfterMs: delay };
    }
    return { retryable: RETRYABLE_GRPC.has(error.code) };
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number' && code >= 400 && code < 500 && code !== 429 && code !== 408) return { retryable: false };
  return { retryable: true };
}

export interface SdkExporters {
  spans: SpanExporter;
  logs: LogRecordExporter;
  metrics: PushMetricExporter;
  /**
   * Per exporter instance: how many of a batch's requests already went through.
   * A retried batch resumes there, so a part that was delivered (spans) is not
   * sent again because a later part (logs) failed.
   */
  delivered: WeakMap<Batch, number>;
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
  for (let i = exporters.delivered.get(batch) ?? 0; i < sends.length; i++) {
    const result = await call(sends[i]);
    if (result.code !== 0) {
      exporters.delivered.set(batch, i);
      const error = result.error ?? new Error('OTLP export failed');
      return { ok: false, error, ...classifyFailure(error) };
    }
  }
  exporters.delivered.delete(batch);
  return metrics.unsupported > 0 ? { ok: true, dropped: { count: metrics.unsupported, reason: 'unsupported_signal' } } : { ok: true };
}
