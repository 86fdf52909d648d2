/** The otlp_http exporter's heavy half: the SDK's HTTP exporters, imported by index.ts only when one starts. */
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPLogExporter as JsonLogs } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogs } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as JsonMetrics } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetrics } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraces } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraces } from '@opentelemetry/exporter-trace-otlp-proto';
import { parseDuration } from '../../config/units.js';
import type { SdkExporters } from '../../otel/export.js';
import type { OtlpHttpExporterConfig } from './config.js';

/** `ca`: the contents of tls.ca_file, read when the exporter was created. */
export function httpExporters(config: OtlpHttpExporterConfig, ca: Buffer | undefined): SdkExporters {
  const base = config.endpoint.replace(/\/+$/, '');
  const common = {
    headers: config.headers,
    compression: config.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    timeoutMillis: parseDuration(config.timeout),
    ...(ca ? { httpAgentOptions: { ca, keepAlive: true } } : {}),
  };
  const json = config.encoding === 'json';
  return {
    spans: json ? new JsonTraces({ ...common, url: `${base}/v1/traces` }) : new ProtoTraces({ ...common, url: `${base}/v1/traces` }),
    logs: json ? new JsonLogs({ ...common, url: `${base}/v1/logs` }) : new ProtoLogs({ ...common, url: `${base}/v1/logs` }),
    metrics: json ? new JsonMetrics({ ...common, url: `${base}/v1/metrics` }) : new ProtoMetrics({ ...common, url: `${base}/v1/metrics` }),
    delivered: new WeakMap(),
  };
}
