/**
 * OTLP over gRPC, through the OpenTelemetry JS SDK's own gRPC exporters. The
 * SDK's modules (sdk.ts) load when the exporter starts: a config without it
 * never loads them.
 */
import { readFileSync } from 'node:fs';
import { defineExporter } from '../../component/types.js';
import { lazySdkExporter } from '../../otel/sdk_exporter.js';
import { otlpExporterConfigSchema, type OtlpExporterConfig } from './config.js';

export const otlpExporter = defineExporter<OtlpExporterConfig>({
  type: 'otlp',
  kind: 'exporter',
  description: 'Sends spans, events (as log records) and metrics over OTLP/gRPC to Jaeger, Tempo or a collector',
  stability: 'development',
  configSchema: otlpExporterConfigSchema,
  create: (config) => {
    // Read now, so a missing CA file fails the pipeline's creation as before.
    const ca = !config.tls.insecure && config.tls.ca_file ? readFileSync(config.tls.ca_file) : null;
    return lazySdkExporter(async () => (await import('./sdk.js')).grpcExporters(config, ca));
  },
});
