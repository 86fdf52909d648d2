/**
 * OTLP over HTTP (protobuf or JSON), through the OpenTelemetry JS SDK's own
 * HTTP exporters. The SDK's modules (sdk.ts) load when the exporter starts: a
 * config without it never loads them.
 */
import { readFileSync } from 'node:fs';
import { defineExporter } from '../../component/types.js';
import { lazySdkExporter } from '../../otel/sdk_exporter.js';
import { otlpHttpExporterConfigSchema, type OtlpHttpExporterConfig } from './config.js';

export const otlpHttpExporter = defineExporter<OtlpHttpExporterConfig>({
  type: 'otlp_http',
  kind: 'exporter',
  description: 'Sends spans, events (as log records) and metrics over OTLP/HTTP, protobuf or JSON',
  stability: 'development',
  configSchema: otlpHttpExporterConfigSchema,
  create: (config) => {
    // Read now, so a missing CA file fails the pipeline's creation as before.
    const ca = config.tls.ca_file ? readFileSync(config.tls.ca_file) : undefined;
    return lazySdkExporter(async () => (await import('./sdk.js')).httpExporters(config, ca));
  },
});
