import type { JsonSchema } from '../../model/schemas.js';

export interface TlsServerConfig {
  cert_file: string;
  key_file: string;
}

export interface OtlpHttpConfig {
  tls?: TlsServerConfig;
  endpoint: string;
  max_request_body_size: string | number;
  read_timeout: string;
  auth?: { bearer_token: string };
  cors?: { allowed_origins: string[] };
}

export interface OtlpGrpcConfig {
  tls?: TlsServerConfig;
  endpoint: string;
  max_recv_msg_size: string | number;
  auth?: { bearer_token: string };
}

export interface OtlpConfig {
  protocols: { grpc?: OtlpGrpcConfig; http?: OtlpHttpConfig };
}

const tls = {
  type: 'object', additionalProperties: false, required: ['cert_file', 'key_file'],
  description: 'Serve TLS with this certificate (PEM); without it the protocol is plaintext.',
  properties: {
    cert_file: { type: 'string', minLength: 1, description: 'PEM certificate chain file.' },
    key_file: { type: 'string', minLength: 1, description: 'PEM private key file.' },
  },
};

const auth = {
  type: 'object', additionalProperties: false, required: ['bearer_token'],
  description: 'Require `Authorization: Bearer <token>` (gRPC: the `authorization` metadata); others are refused (401 / UNAUTHENTICATED).',
  properties: { bearer_token: { type: 'string', minLength: 1, description: 'The token clients must send.' } },
};

export const otlpConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['protocols'],
  properties: {
    protocols: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      description: 'The protocols to serve; a protocol listed with no options (`grpc:`) gets its defaults.',
      properties: {
        grpc: {
          type: 'object',
          additionalProperties: false,
          description: 'OTLP/gRPC: the TraceService, LogsService and MetricsService Export methods.',
          properties: {
            endpoint: { type: 'string', format: 'endpoint', default: '127.0.0.1:4317', description: 'host:port to listen on.' },
            max_recv_msg_size: {
              type: ['string', 'integer'], minimum: 1, format: 'size', default: '4MiB',
              description: 'Largest request message; larger ones get RESOURCE_EXHAUSTED from gRPC itself.',
            },
            auth,
            tls,
          },
        },
        http: {
          type: 'object',
          additionalProperties: false,
          description: 'OTLP/HTTP: POST /v1/traces, /v1/logs and /v1/metrics with application/x-protobuf or application/json bodies, optionally gzip-compressed.',
          properties: {
            endpoint: { type: 'string', format: 'endpoint', default: '127.0.0.1:4318', description: 'host:port to listen on.' },
            max_request_body_size: {
              type: ['string', 'integer'], minimum: 1, format: 'size', default: '4MiB',
              description: 'Largest request body, after decompression; larger ones get 413.',
            },
            read_timeout: { type: 'string', format: 'duration', default: '30s', description: 'Time allowed to receive a request.' },
            auth,
            tls,
            cors: {
              type: 'object', additionalProperties: false,
              description: 'CORS for browser clients; off unless configured.',
              properties: {
                allowed_origins: { type: 'array', items: { type: 'string' }, default: [], description: 'Origins allowed to POST (exact, or * for any).' },
              },
            },
          },
        },
      },
    },
  },
};
