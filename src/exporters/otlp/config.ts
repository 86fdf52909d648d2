import type { JsonSchema } from '../../model/schemas.js';

export interface OtlpExporterConfig {
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeout: string;
  tls: { insecure: boolean; ca_file?: string };
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
      description: 'Transport security.',
      properties: {
        insecure: { type: 'boolean', default: true, description: 'Plaintext gRPC. Set false for TLS.' },
        ca_file: { type: 'string', minLength: 1, description: 'With TLS: PEM file of the CA that signed the server certificate (default: the system roots).' },
      },
    },
  },
};
