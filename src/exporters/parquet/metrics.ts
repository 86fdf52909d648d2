import type { Attributes, Counter, Meter } from '@opentelemetry/api';

export interface ParquetInstruments {
  filesCompleted: Counter<Attributes>;
  rowsWritten: Counter<Attributes>;
  bytesWritten: Counter<Attributes>;
  tempFilesRemoved: Counter<Attributes>;
  partitionsExpired: Counter<Attributes>;
  rowsLost: Counter<Attributes>;
}

export function createParquetInstruments(meter: Meter): ParquetInstruments {
  return {
    filesCompleted: meter.createCounter('scope_parquet_files_completed', {
      unit: '{file}', description: 'Parquet files completed and renamed into their partition, by table.',
    }),
    rowsWritten: meter.createCounter('scope_parquet_rows_written', {
      unit: '{row}', description: 'Rows in completed Parquet files, by table.',
    }),
    bytesWritten: meter.createCounter('scope_parquet_bytes_written', {
      unit: 'By', description: 'Bytes of completed Parquet files, by table.',
    }),
    tempFilesRemoved: meter.createCounter('scope_parquet_temp_files_removed', {
      unit: '{file}', description: 'Unfinished temporary files a previous run left behind (it did not shut down cleanly), removed at start.',
    }),
    partitionsExpired: meter.createCounter('scope_parquet_partitions_expired', {
      unit: '{partition}', description: 'Hour partitions deleted by retention, by table.',
    }),
    rowsLost: meter.createCounter('scope_parquet_rows_lost', {
      unit: '{row}', description: 'Rows given up after a failed write (reason write_error), by table.',
    }),
  };
}
