/**
 * OTLP/gRPC: the TraceService, LogsService and MetricsService Export methods
 * on @grpc/grpc-js. Requests are decoded in the handler (not by grpc-js) so an
 * undecodable one is answered INVALID_ARGUMENT, as the spec asks; pushback is
 * RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail, which is what makes
 * OTLP clients retry it.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { ReceiverContext } from '../../component/types.js';
import { parseEndpoint, parseSize } from '../../config/units.js';
import type { OtlpGrpcConfig } from './config.js';
import type { Msg } from './convert.js';
import { decodeProtobuf, ingest, refusedBeforeReading, type DecodedRequest, type Refused } from './ingest.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';

const SERVICES: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};
const REJECTED_FIELD: Record<Signal, string> = { traces: 'rejectedSpans', logs: 'rejectedLogRecords', metrics: 'rejectedDataPoints' };

type Handler = grpc.handleUnaryCall<Buffer, Msg>;

export class OtlpGrpcServer {
  private server?: grpc.Server;
  private boundPort?: number;
  private stopping = false;

  constructor(
    private readonly config: OtlpGrpcConfig,
    private readonly ctx: ReceiverContext,
  ) {}

  async start(): Promise<void> {
    const limit = parseSize(this.config.max_recv_msg_size);
    const server = new grpc.Server({ 'grpc.max_receive_message_length': limit });
    for (const signal of ['traces', 'logs', 'metrics'] as const) {
      const response = otlpTypes().response[signal];
      const definition: grpc.ServiceDefinition = {
        Export: {
          path: SERVICES[signal],
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (m: Msg) => Buffer.from(response.encode(response.fromObject(m)).finish()),
          responseDeserialize: (b: Buffer) => response.decode(b) as unknown as Msg,
        },
      };
      server.addService(definition, { Export: this.handler(signal) as grpc.UntypedHandleCall });
    }
    const { host, port } = parseEndpoint(this.config.endpoint);
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, this.credentials(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.server = server;
    this.ctx.logger.info('OTLP/gRPC listening', { endpoint: `${host}:${this.boundPort}` });
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.config.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(tls.cert_file), private_key: readFileSync(tls.key_file) }], false);
  }

  private handler(signal: Signal): Handler {
    return (call, callback) => {
      const fail = (code: grpc.status, message: string, metadata?: grpc.Metadata): void => callback({ code, details: message, metadata: metadata ?? new grpc.Metadata() } as grpc.ServiceError, null);
      if (this.stopping) return fail(grpc.status.UNAVAILABLE, 'shutting down');
      const auth = this.config.auth;
      if (auth && call.metadata.get('authorization')[0] !== `Bearer ${auth.bearer_token}`) {
        return fail(grpc.status.UNAUTHENTICATED, 'missing or wrong bearer token');
      }
      const refuse = (outcome: Refused): void => (outcome.status === 'pushback'
        ? fail(grpc.status.RESOURCE_EXHAUSTED, outcome.message, this.retryMetadata(outcome.retryAfterMs, outcome.message))
        : fail(grpc.status.UNAVAILABLE, outcome.message));
      // A pipeline that is pushing back answers before the request is decoded.
      const early = refusedBeforeReading(this.ctx);
      if (early) return refuse(early);
      let message: DecodedRequest;
      try {
        message = decodeProtobuf(signal, call.request);
      } catch (error) {
        this.ctx.countRefused(1, 'malformed');
        this.ctx.problems.report('grpc_malformed', 'undecodable OTLP/gRPC request', { signal, error: (error as Error).message });
        return fail(grpc.status.INVALID_ARGUMENT, `request is not a valid ${signal} export request: ${(error as Error).message}`);
      }
      let outcome;
      try {
        outcome = ingest(signal, message, this.ctx);
      } catch (error) {
        return fail(grpc.status.INVALID_ARGUMENT, `cannot read the ${signal} request: ${(error as Error).message}`);
      }
      if (outcome.status !== 'ok') return refuse(outcome);
      callback(null, outcome.rejected > 0 ? { partialSuccess: { [REJECTED_FIELD[signal]]: outcome.rejected, errorMessage: outcome.message } } : {});
    };
  }

  /** grpc-status-details-bin: a google.rpc.Status carrying RetryInfo. */
  private retryMetadata(retryAfterMs: number, message: string): grpc.Metadata {
    const { status, retryInfo } = otlpTypes();
    const delay = retryInfo.encode(retryInfo.fromObject({ retryDelay: { seconds: Math.floor(retryAfterMs / 1000), nanos: (retryAfterMs % 1000) * 1e6 } })).finish();
    const detail = status.encode(status.fromObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      message,
      details: [{ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value: delay }],
    })).finish();
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(detail));
    return metadata;
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
