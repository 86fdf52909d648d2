import type { JsonSchema } from '../../model/schemas.js';

export interface OtlpHttpExporterConfig {
  endpoint: string;
  encoding: 'proto' | 'json';
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeout: string;
  tls: { ca_file?: string };
}

export const otlpHttpExporterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:4318',
      description: 'Base URL of an OTLP/HTTP receiver; /v1/traces and /v1/logs are appended.',
    },
    encoding: { enum: ['proto', 'json'], default: 'proto', description: 'application/x-protobuf or application/json bodies.' },
    headers: {
      type: 'object', additionalProperties: { type: 'string' }, default: {},
      description: 'HTTP headers sent with every request (e.g. authorization).',
    },
    compression: { enum: ['gzip', 'none'], default: 'gzip', description: 'Request compression.' },
    timeout: { type: 'string', format: 'duration', default: '10s', description: 'Deadline of one export request.' },
    tls: {
      type: 'object', additionalProperties: false, default: {},
      description: 'For https:// endpoints.',
      properties: { ca_file: { type: 'string', minLength: 1, description: 'PEM file of the CA that signed the server certificate (default: the system roots).' } },
    },
  },
};
