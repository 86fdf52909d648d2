/** Messages between the parquet exporter's proxy (main thread) and its worker. */
import type { Attributes } from '@opentelemetry/api';
import type { ExportResult } from '../../component/types.js';
import type { LogFields, LogLevel } from '../../util/logger.js';
import type { Batch } from '../../model/types.js';

export type ToWorker =
  | { op: 'start'; id: number }
  | { op: 'export'; id: number; batch: Batch }
  | { op: 'shutdown'; id: number };

/** An ExportResult whose error travels as its message. */
export type WireResult = { ok: true } | { ok: false; retryable: boolean; error: string };

export type FromWorker =
  | { op: 'done'; id: number; result?: WireResult; error?: string }
  | { op: 'log'; level: LogLevel; message: string; fields?: LogFields }
  | { op: 'count'; name: string; value: number; attributes?: Attributes };

export function toWire(result: ExportResult): WireResult {
  return result.ok ? { ok: true } : { ok: false, retryable: result.retryable, error: result.error.message };
}
