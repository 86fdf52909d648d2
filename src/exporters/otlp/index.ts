/** OTLP over gRPC, through the OpenTelemetry JS SDK's own gRPC exporters. */
import { readFileSync } from 'node:fs';
import { credentials, Metadata } from '@grpc/grpc-js';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { defineExporter } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { exportBatch } from '../../otel/export.js';
import { otlpExporterConfigSchema, type OtlpExporterConfig } from './config.js';

export const otlpExporter = defineExporter<OtlpExporterConfig>({
  type: 'otlp',
  kind: 'exporter',
  description: 'Sends spans, events (as log records) and metrics over OTLP/gRPC to Jaeger, Tempo or a collector',
  stability: 'development',
  configSchema: otlpExporterConfigSchema,
  create: (config) => {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(config.headers)) metadata.set(k, v);
    const tls = !config.tls.insecure;
    const options = {
      url: `${tls ? 'https' : 'http'}://${config.endpoint}`,
      metadata,
      ...(tls ? { credentials: credentials.createSsl(config.tls.ca_file ? readFileSync(config.tls.ca_file) : null) } : {}),
      compression: config.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
      timeoutMillis: parseDuration(config.timeout),
    };
    const exporters = {
      spans: new OTLPTraceExporter(options), logs: new OTLPLogExporter(options), metrics: new OTLPMetricExporter(options), delivered: new WeakMap(),
    };
    let stopped: Promise<void> | undefined;
    return {
      export: (batch) => exportBatch(batch, exporters),
      shutdown: () => (stopped ??= Promise.all([exporters.spans.shutdown(), exporters.logs.shutdown(), exporters.metrics.shutdown()]).then(() => undefined)),
    };
  },
});
