import type { JsonSchema } from '../../model/schemas.js';

export interface OtlpExporterConfig {
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeout: string;
  tls: { insecure: boolean };
}

export const otlpExporterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: 'string', format: 'endpoint', default: '127.0.0.1:4317',
      description: 'host:port of an OTLP/gRPC receiver (Jaeger, Tempo, an OpenTelemetry Collector).',
    },
    headers: {
      type: 'object', additionalProperties: { type: 'string' }, default: {},
      description: 'gRPC metadata sent with every request (e.g. authorization).',
    },
    compression: { enum: ['gzip', 'none'], default: 'gzip', description: 'Request compression.' },
    timeout: { type: 'string', format: 'duration', default: '10s', description: 'Deadline of one export request.' },
    tls: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Transport security. Only plaintext is supported in this release: keep it on loopback or a trusted network.',
      properties: { insecure: { const: true, default: true, description: 'Plaintext gRPC (must be true for now).' } },
    },
  },
};
