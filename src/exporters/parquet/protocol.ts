/** Messages between the parquet exporter's proxy (main thread) and its worker. */
import type { Attributes } from '@opentelemetry/api';
import type { ComponentStatus, ExportResult, QueueReceipt } from '../../component/types.js';
import type { TableName } from '../../archive/tables.js';
import type { LogFields, LogLevel } from '../../util/logger.js';
import type { Batch } from '../../model/types.js';
import type { ColumnChunk } from './chunks.js';

export type ToWorker =
  | { op: 'start'; id: number }
  | { op: 'export'; id: number; batch: Batch; receipt?: QueueReceipt }
  /**
   * A batch as column chunks (their buffers transferred); `invalid` items were
   * dropped while building them. `ahead`: the proxy acknowledged it already,
   * so the writer takes it even when it refuses (proxy.ts).
   */
  | { op: 'chunks'; id: number; chunks: ColumnChunk[]; invalid: number; receipt?: QueueReceipt; ahead: boolean }
  | { op: 'track'; id: number; queue: string }
  | { op: 'shutdown'; id: number };

/** An ExportResult whose error travels as its message. */
export type WireResult =
  | { ok: true; dropped?: { count: number; reason: string } }
  | { ok: false; retryable: boolean; error: string; retryAfterMs?: number };

export type FromWorker =
  | { op: 'done'; id: number; result?: WireResult; error?: string; through?: number }
  | { op: 'committed'; through: number }
  | { op: 'log'; level: LogLevel; message: string; fields?: LogFields }
  | { op: 'count'; name: string; value: number; attributes?: Attributes }
  | { op: 'status'; status: ComponentStatus }
  /** The rows held, by table; `taken`: the id of the last chunks message taken, whose rows are among them. */
  | { op: 'buffered'; rows: Record<TableName, number>; taken: number }
  /** The writer thread's longest event-loop delay since its last report (every second, and at shutdown). */
  | { op: 'stall'; maxMs: number };

export function toWire(result: ExportResult): WireResult {
  if (result.ok) return result.dropped ? { ok: true, dropped: result.dropped } : { ok: true };
  return {
    ok: false, retryable: result.retryable, error: result.error.message,
    ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
  };
}

export function fromWire(result: WireResult): ExportResult {
  if (result.ok) return result.dropped ? { ok: true, dropped: result.dropped } : { ok: true };
  return {
    ok: false, retryable: result.retryable, error: new Error(result.error),
    ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
  };
}
