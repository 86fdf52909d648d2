import type { JsonSchema } from '../../model/schemas.js';
import { parseDuration } from '../../config/units.js';
import { DEFAULT_MAX_ATTRIBUTES, MAX_DEPTH } from './limits.js';

export interface TlsServerConfig {
  cert_file: string;
  key_file: string;
  client_ca_file?: string;
}

export interface OtlpHttpConfig {
  tls?: TlsServerConfig;
  endpoint: string;
  max_request_body_size: string | number;
  read_timeout: string;
  read_header_timeout: string;
  idle_timeout: string;
  max_connections: number;
  auth?: { bearer_token: string };
  cors?: { allowed_origins: string[] };
}

export interface GrpcKeepaliveConfig {
  server_parameters: {
    max_connection_idle: string;
    max_connection_age: string;
    max_connection_age_grace: string;
    time: string;
    timeout: string;
  };
}

export interface OtlpGrpcConfig {
  tls?: TlsServerConfig;
  endpoint: string;
  max_recv_msg_size: string | number;
  max_connections: number;
  handshake_timeout: string;
  keepalive: GrpcKeepaliveConfig;
  auth?: { bearer_token: string };
}

export interface OtlpConfig {
  protocols: { grpc?: OtlpGrpcConfig; http?: OtlpHttpConfig };
  max_attributes_per_item: number;
  max_attribute_value_size: string | number;
  shutdown_grace: string;
}

const tls = {
  type: 'object', additionalProperties: false, required: ['cert_file', 'key_file'],
  description: 'Serve TLS with this certificate (PEM); without it the protocol is plaintext.',
  properties: {
    cert_file: { type: 'string', minLength: 1, description: 'PEM certificate chain file.' },
    key_file: { type: 'string', minLength: 1, description: 'PEM private key file.' },
    client_ca_file: {
      type: 'string', minLength: 1,
      description: 'PEM file of the CA certificates that sign client certificates (mutual TLS, as the Collector\'s tls.client_ca_file): a client must present a certificate one of them signed, or its connection is refused in the handshake (counted as tls_handshake). Without it no client certificate is asked for.',
    },
  },
};

const auth = {
  type: 'object', additionalProperties: false, required: ['bearer_token'],
  description: 'Require `Authorization: Bearer <token>` (gRPC: the `authorization` metadata); others are refused (401 / UNAUTHENTICATED).',
  properties: { bearer_token: { type: 'string', minLength: 1, description: 'The token clients must send.' } },
};

const maxConnections = {
  type: 'integer', minimum: 1, default: 1000,
  description: 'Connections open at once on this protocol; one more is closed as it is accepted (counted as max_connections). Whatever this says, the receiver also closes new connections while the process is within 1/8 (at least 128) of its open-file limit (`ulimit -n`; fd_limit), so a flood of sockets can never make accept fail or starve the exporters of file descriptors.',
};

const duration = (def: string, description: string) => ({ type: 'string', format: 'duration', default: def, description });

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
            max_connections: maxConnections,
            handshake_timeout: duration('10s', 'A new connection must send its first bytes within this (and, with tls, complete the TLS handshake), or it is closed (handshake_timeout); 0: no limit.'),
            keepalive: {
              type: 'object', additionalProperties: false, default: {},
              description: 'Connection lifetimes and keepalive pings, as the Collector\'s keepalive.server_parameters (grpc-js channel options grpc.max_connection_idle_ms, grpc.max_connection_age_ms, grpc.max_connection_age_grace_ms, grpc.keepalive_time_ms, grpc.keepalive_timeout_ms).',
              properties: {
                server_parameters: {
                  type: 'object', additionalProperties: false, default: {},
                  description: 'Server-side keepalive parameters.',
                  properties: {
                    max_connection_idle: duration('60s', 'A connection with no call for this long is closed with a GOAWAY (clients reconnect when they next send); 0 keeps idle connections open.'),
                    max_connection_age: duration('0', 'A connection older than this (±10 %) is closed with a GOAWAY, so long-lived clients spread over restarted or added instances; 0 never.'),
                    max_connection_age_grace: duration('0', 'After max_connection_age, time left to calls in flight before the connection is closed; 0 waits for them.'),
                    time: duration('2h', 'A connection idle this long is pinged; one that does not answer within timeout is closed (frees sockets of clients that vanished).'),
                    timeout: duration('20s', 'How long a keepalive ping may go unanswered.'),
                  },
                },
              },
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
            read_timeout: duration('30s', 'Time allowed to receive a whole request, headers and body (Node\'s server.requestTimeout); a slower one gets 408 and its connection is closed. 0: no limit.'),
            read_header_timeout: duration('10s', 'Time allowed for a request\'s headers to arrive (Node\'s server.headersTimeout), counted from the connection\'s opening for its first request: a connection that sends nothing is closed after this (header_timeout). At most read_timeout; 0: no limit.'),
            idle_timeout: duration('30s', 'A keep-alive connection with no request in flight is closed after this (counted as idle_timeout), announced to clients in `Keep-Alive: timeout=`; 0: no limit. Between the SDKs\' 5 s span and 60 s metric export intervals, so neither reuses a connection just as it closes.'),
            max_connections: maxConnections,
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
    max_attributes_per_item: {
      type: 'integer', minimum: 1, default: DEFAULT_MAX_ATTRIBUTES,
      description: `Attributes kept per span, span event, link, log record, data point and resource (the OpenTelemetry SDKs' default attribute count limit); the rest are dropped, counted in scope_receiver_truncated_attributes, and the item carries how many in otel.dropped_attributes_count. Values nested deeper than ${MAX_DEPTH} arrays or kvlists refuse the whole request (400 / INVALID_ARGUMENT).`,
    },
    max_attribute_value_size: {
      type: ['string', 'integer'], minimum: 1, format: 'size', default: '64KiB',
      description: 'Largest string (UTF-8 bytes, cut on a character boundary) or bytes value of an attribute, at any nesting depth; longer ones are cut and counted in scope_receiver_truncated_attributes. Log bodies are not cut.',
    },
    shutdown_grace: duration('1s', 'On shutdown the receiver stops listening and closes idle connections at once; requests in flight get this long to finish before their connections are closed too. Keep it well below service.shutdown_timeout, which the exporters need for draining.'),
  },
};

/** Cross-field rules the schema cannot say. */
export function validateOtlpConfig(config: OtlpConfig): string[] {
  const problems: string[] = [];
  const http = config.protocols.http;
  if (http) {
    const read = parseDuration(http.read_timeout);
    if (read > 0 && parseDuration(http.read_header_timeout) > read) {
      problems.push('protocols.http.read_header_timeout: must not be longer than read_timeout');
    }
  }
  return problems;
}
