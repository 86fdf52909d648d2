/**
 * OTLP/gRPC: the TraceService, LogsService and MetricsService Export methods
 * on @grpc/grpc-js. Requests are decoded in the handler (not by grpc-js) so an
 * undecodable one is answered INVALID_ARGUMENT, as the spec asks; pushback is
 * RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail, which is what makes
 * OTLP clients retry it.
 *
 * The receiver owns the listening socket (a net.Server) and hands each
 * accepted connection to grpc-js through a connection injector: that is where
 * max_connections, the open-file budget, accept errors (EMFILE), the
 * handshake timeout, TLS (with client certificates) and closing everything on
 * shutdown are enforced, none of which grpc-js's own listener offers.
 */
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ReceiverContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import { listen } from '../../util/net.js';
import type { OtlpGrpcConfig } from './config.js';
import { Connections, type Connection } from './connections.js';
import type { Msg } from './convert.js';
import { notDurable, receive, refusedBeforeReading, type OtlpRuntime, type Refused } from './ingest.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';

const SERVICES: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};
const REJECTED_FIELD: Record<Signal, string> = { traces: 'rejectedSpans', logs: 'rejectedLogRecords', metrics: 'rejectedDataPoints' };

type Handler = grpc.handleUnaryCall<Buffer, Msg>;

const ms = (duration: string): number => Math.ceil(parseDuration(duration));

export class OtlpGrpcServer {
  private server?: grpc.Server;
  private listener?: NetServer;
  private connections?: Connections;
  /** Connections not handed to grpc-js yet (silent, or in their TLS handshake). */
  private readonly pending = new Set<Connection>();
  private stopping = false;
  private readonly ctx: ReceiverContext;

  constructor(
    private readonly config: OtlpGrpcConfig,
    private readonly rt: OtlpRuntime,
  ) {
    this.ctx = rt.ctx;
  }

  private options(): grpc.ServerOptions {
    const keepalive = this.config.keepalive.server_parameters;
    const options: grpc.ServerOptions = {
      'grpc.max_receive_message_length': parseSize(this.config.max_recv_msg_size),
      'grpc.keepalive_time_ms': ms(keepalive.time),
      'grpc.keepalive_timeout_ms': ms(keepalive.timeout),
    };
    // 0 leaves grpc-js's default: no limit.
    if (ms(keepalive.max_connection_idle) > 0) options['grpc.max_connection_idle_ms'] = ms(keepalive.max_connection_idle);
    if (ms(keepalive.max_connection_age) > 0) options['grpc.max_connection_age_ms'] = ms(keepalive.max_connection_age);
    if (ms(keepalive.max_connection_age_grace) > 0) options['grpc.max_connection_age_grace_ms'] = ms(keepalive.max_connection_age_grace);
    return options;
  }

  async start(): Promise<void> {
    const server = new grpc.Server(this.options());
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
    // TLS is terminated here (below), so grpc-js gets plaintext HTTP/2 over the TLS socket.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const handshakeMs = ms(this.config.handshake_timeout);
    const connections = new Connections('grpc', this.rt, handshakeMs);
    const tls = this.tlsServer(handshakeMs, connections, (socket) => injector.injectConnection(socket));
    const listener = createNetServer((socket: Socket) => {
      // Until a connection has said something it is the receiver's: a session grpc-js has taken over
      // can no longer be closed through its socket. tls.Server's own handshakeTimeout closes a silent
      // or stalled TLS handshake (counted as tls_handshake); a plaintext connection must have sent
      // its first bytes (the HTTP/2 preface) by handshake_timeout.
      const conn = connections.accept(socket, tls ? 0 : handshakeMs, 'handshake_timeout');
      if (!conn) return;
      this.pending.add(conn);
      socket.once('close', () => this.pending.delete(conn));
      if (tls) {
        tls.emit('connection', socket);
        return;
      }
      socket.once('readable', () => {
        this.pending.delete(conn);
        connections.deadline(conn, 0, 'handshake_timeout');
        if (this.stopping) socket.destroy();
        else injector.injectConnection(socket); // node's HTTP/2 session reads what is already buffered
      });
    });
    listener.maxConnections = this.config.max_connections;
    const { host, port } = parseEndpoint(this.config.endpoint);
    const address = await listen(listener, port, host, `receivers.${this.ctx.id}.protocols.grpc.endpoint`);
    connections.watch(listener);
    this.server = server;
    this.listener = listener;
    this.connections = connections;
    this.ctx.logger.info('OTLP/gRPC listening', { endpoint: `${host}:${address.port}`, ...(this.config.tls?.client_ca_file ? { client_certificates: 'required' } : {}) });
  }

  /** A tls.Server that never listens: accepted sockets are handed to it, and it hands back secured ones. */
  private tlsServer(handshakeMs: number, connections: Connections, secured: (socket: TLSSocket) => void): TlsServer | undefined {
    const tls = this.config.tls;
    if (!tls) return undefined;
    const server = createTlsServer({
      cert: readFileSync(tls.cert_file),
      key: readFileSync(tls.key_file),
      ...(tls.client_ca_file ? { ca: readFileSync(tls.client_ca_file), requestCert: true, rejectUnauthorized: true } : {}),
      ALPNProtocols: ['h2'],
      handshakeTimeout: handshakeMs,
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const conn = connections.find(socket);
      if (conn) this.pending.delete(conn);
      if (this.stopping) {
        socket.destroy();
        return;
      }
      secured(socket);
    });
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => connections.refused('tls_handshake', socket.remoteAddress, error.message));
    return server;
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
      const outcome = receive(signal, { protobuf: call.request }, this.rt, { protocol: 'grpc', remote: call.getPeer() });
      // Permanent: OTLP clients do not retry INVALID_ARGUMENT.
      if (outcome.status === 'invalid') return fail(grpc.status.INVALID_ARGUMENT, outcome.message);
      if (outcome.status !== 'ok') return refuse(outcome);
      const answer = (): void => callback(null, outcome.rejected > 0 ? { partialSuccess: { [REJECTED_FIELD[signal]]: outcome.rejected, errorMessage: outcome.message } } : {});
      if (!outcome.durable) return answer();
      // A disk sending queue: answered once the data is on disk.
      void notDurable(outcome).then((failed) => (failed ? fail(grpc.status.UNAVAILABLE, failed) : answer()));
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

  /**
   * Stops listening; idle sessions get a GOAWAY and close at once, calls in
   * flight have `graceMs` to finish, then everything still open is closed.
   */
  async shutdown(graceMs = 1000): Promise<void> {
    this.stopping = true;
    const { server, listener, connections } = this;
    this.server = undefined;
    this.listener = undefined;
    this.connections = undefined;
    if (!server || !listener || !connections) return;
    listener.close();
    connections.stop();
    for (const conn of this.pending) conn.socket.destroy();
    this.pending.clear();
    server.tryShutdown(() => undefined);
    await connections.drained(graceMs);
    server.forceShutdown();
    connections.release('shutdown');
  }
}
