/** OTLP over HTTP (protobuf or JSON), through the OpenTelemetry JS SDK's own HTTP exporters. */
import { readFileSync } from 'node:fs';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPLogExporter as JsonLogs } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogs } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as JsonMetrics } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetrics } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraces } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraces } from '@opentelemetry/exporter-trace-otlp-proto';
import { defineExporter } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { exportBatch } from '../../otel/export.js';
import { otlpHttpExporterConfigSchema, type OtlpHttpExporterConfig } from './config.js';

export const otlpHttpExporter = defineExporter<OtlpHttpExporterConfig>({
  type: 'otlp_http',
  kind: 'exporter',
  description: 'Sends spans, events (as log records) and metrics over OTLP/HTTP, protobuf or JSON',
  stability: 'development',
  configSchema: otlpHttpExporterConfigSchema,
  create: (config) => {
    const base = config.endpoint.replace(/\/+$/, '');
    const common = {
      headers: config.headers,
      compression: config.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
      timeoutMillis: parseDuration(config.timeout),
      ...(config.tls.ca_file ? { httpAgentOptions: { ca: readFileSync(config.tls.ca_file), keepAlive: true } } : {}),
    };
    const json = config.encoding === 'json';
    const exporters = {
      spans: json ? new JsonTraces({ ...common, url: `${base}/v1/traces` }) : new ProtoTraces({ ...common, url: `${base}/v1/traces` }),
      logs: json ? new JsonLogs({ ...common, url: `${base}/v1/logs` }) : new ProtoLogs({ ...common, url: `${base}/v1/logs` }),
      metrics: json ? new JsonMetrics({ ...common, url: `${base}/v1/metrics` }) : new ProtoMetrics({ ...common, url: `${base}/v1/metrics` }),
      delivered: new WeakMap(),
    };
    let stopped: Promise<void> | undefined;
    return {
      export: (batch) => exportBatch(batch, exporters),
      shutdown: () => (stopped ??= Promise.all([exporters.spans.shutdown(), exporters.logs.shutdown(), exporters.metrics.shutdown()]).then(() => undefined)),
    };
  },
});
