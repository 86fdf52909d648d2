/** The otlp exporter's heavy half: the SDK's gRPC exporters, imported by index.ts only when one starts. */
import { credentials, Metadata } from '@grpc/grpc-js';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { parseDuration } from '../../config/units.js';
import type { SdkExporters } from '../../otel/export.js';
import type { OtlpExporterConfig } from './config.js';

/** `ca`: the contents of tls.ca_file, read when the exporter was created. */
export function grpcExporters(config: OtlpExporterConfig, ca: Buffer | null): SdkExporters {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(config.headers)) metadata.set(k, v);
  const tls = !config.tls.insecure;
  const options = {
    url: `${tls ? 'https' : 'http'}://${config.endpoint}`,
    metadata,
    ...(tls ? { credentials: credentials.createSsl(ca) } : {}),
    compression: config.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    timeoutMillis: parseDuration(config.timeout),
  };
  return { spans: new OTLPTraceExporter(options), logs: new OTLPLogExporter(options), metrics: new OTLPMetricExporter(options), delivered: new WeakMap() };
}
