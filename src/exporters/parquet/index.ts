/** A partitioned, crash-safe Parquet archive of every span, event and metric point. */
import { defineExporter } from '../../component/types.js';
import { ParquetWorkerExporter } from './proxy.js';
import { parquetExporterConfigSchema, type ParquetExporterConfig } from './config.js';

export const parquetExporter = defineExporter<ParquetExporterConfig>({
  type: 'parquet',
  kind: 'exporter',
  description: 'Writes spans, events and metrics to a Hive-partitioned Parquet archive that DuckDB, pandas, Spark and Trino read',
  stability: 'alpha',
  configSchema: parquetExporterConfigSchema,
  create: (config, ctx) => new ParquetWorkerExporter(config, ctx),
});
