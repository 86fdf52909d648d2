import type { Attributes, Counter, Meter } from '@opentelemetry/api';

/** The exporter's counters, declared once: created by the writer (on its worker) and, by name, on the main thread. */
export const PARQUET_COUNTERS = {
  filesCompleted: {
    name: 'scope_parquet_files_completed', unit: '{file}', description: 'Parquet files completed and renamed into their partition, by table.',
  },
  rowsWritten: { name: 'scope_parquet_rows_written', unit: '{row}', description: 'Rows in completed Parquet files, by table.' },
  bytesWritten: { name: 'scope_parquet_bytes_written', unit: 'By', description: 'Bytes of completed Parquet files, by table.' },
  tempFilesRemoved: {
    name: 'scope_parquet_temp_files_removed', unit: '{file}',
    description: 'Unfinished temporary files a previous run left behind (it did not shut down cleanly), removed at start.',
  },
  partitionsExpired: { name: 'scope_parquet_partitions_expired', unit: '{partition}', description: 'Hour partitions deleted by retention, by table.' },
  rowsLost: {
    name: 'scope_parquet_rows_lost', unit: '{row}',
    description: 'Rows the exporter had taken and could not write, by table and reason: write_error (a write failed for another reason than space), disk_full (still unwritten at shutdown while the disk refused them), worker_failed (rows the writer thread held, or a batch acknowledged on its way to it, when that thread failed).',
  },
} as const;

/** The exporter's gauges: kept up to date by the writer, observed on the main thread. */
export const PARQUET_GAUGES = {
  writerEventLoopLag: {
    name: 'scope_parquet_writer_event_loop_lag_seconds', unit: 's',
    description: 'How late the writer thread\'s event loop ran at most since the last reading (encoding holds it).',
  },
  rowsBuffered: {
    name: 'scope_parquet_rows_buffered', unit: '{row}',
    description: 'Rows the exporter has taken and not yet in a completed file: waiting in memory or in an unfinished file under _tmp/, by table.',
  },
} as const;

export type ParquetInstruments = Record<keyof typeof PARQUET_COUNTERS, Counter<Attributes>>;

export function createParquetInstruments(meter: Pick<Meter, 'createCounter'>): ParquetInstruments {
  const entries = Object.entries(PARQUET_COUNTERS).map(([key, c]) => [key, meter.createCounter(c.name, { unit: c.unit, description: c.description })]);
  return Object.fromEntries(entries) as ParquetInstruments;
}
