/**
 * The OTLP receiver, HTTP protocol (OTLP/HTTP spec): protobuf and JSON bodies,
 * gzip, partial success, 429 + Retry-After when the pipeline pushes back,
 * 400 for bodies that cannot be taken (undecodable, nested too deep, a value
 * out of range), 413 past the size limit. Connections are capped, timed out
 * when silent or idle, and all closed within shutdown_grace on shutdown.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Meter } from '@opentelemetry/api';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import type { OtlpConfig, OtlpHttpConfig } from './config.js';
import { listen } from '../../util/net.js';
import { Connections } from './connections.js';
import type { Msg } from './convert.js';
import { OtlpGrpcServer } from './grpc.js';
import { notDurable, receive, refusedBeforeReading, type IngestOutcome, type OtlpRuntime, type Refused } from './ingest.js';
import { createOtlpInstruments, type OtlpInstruments } from './metrics.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';

const PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/logs': 'logs', '/v1/metrics': 'metrics' };
const REJECTED_FIELD: Record<Signal, string> = { traces: 'rejectedSpans', logs: 'rejectedLogRecords', metrics: 'rejectedDataPoints' };

class HttpError extends Error {
  /** `counted`: already counted and logged (receive() does that for the requests it refuses). */
  constructor(readonly status: number, message: string, readonly counted = false) {
    super(message);
  }
}

function readBody(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    stream.on('data', (chunk: Buffer) => {
      if (over) return; // discard the rest: the answer (413) is already on its way
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, `request body over max_request_body_size (${limit} bytes)`));
      } else {
        chunks.push(chunk);
      }
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', (error: Error) => reject(error instanceof HttpError ? error : new HttpError(400, `cannot read body: ${error.message}`)));
  });
}

/** One set of instruments per meter, however many otlp receivers share it. */
const instrumentsByMeter = new WeakMap<Meter, OtlpInstruments>();

function instrumentsFor(meter: Meter): OtlpInstruments {
  let instruments = instrumentsByMeter.get(meter);
  if (!instruments) {
    instruments = createOtlpInstruments(meter);
    instrumentsByMeter.set(meter, instruments);
  }
  return instruments;
}

export class OtlpReceiver implements Receiver {
  private server?: Server;
  private connections?: Connections;
  private readonly http?: OtlpHttpConfig;
  private readonly grpc?: OtlpGrpcServer;
  private readonly rt: OtlpRuntime;
  private readonly graceMs: number;
  private idleMs = 0;
  private stopping = false;

  constructor(
    config: OtlpConfig,
    private readonly ctx: ReceiverContext,
  ) {
    this.rt = {
      ctx,
      limits: { maxAttributes: config.max_attributes_per_item, maxValueBytes: parseSize(config.max_attribute_value_size) },
      instruments: instrumentsFor(ctx.meter),
    };
    this.graceMs = parseDuration(config.shutdown_grace);
    this.http = config.protocols.http;
    if (config.protocols.grpc) this.grpc = new OtlpGrpcServer(config.protocols.grpc, this.rt);
  }

  async start(): Promise<void> {
    otlpTypes(); // load the definitions now: a broken install fails start, not the first request
    await this.grpc?.start();
    const http = this.http;
    if (!http) return;
    const { host, port } = parseEndpoint(http.endpoint);
    const headerMs = Math.ceil(parseDuration(http.read_header_timeout));
    const readMs = Math.ceil(parseDuration(http.read_timeout));
    this.idleMs = Math.ceil(parseDuration(http.idle_timeout));
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res, http);
    const options: ServerOptions = {
      requestTimeout: readMs,
      // Our connection sweep enforces read_header_timeout (and counts it); Node's own check, which can run
      // ahead of it on its own clock and closes uncounted, is only a backstop a second later.
      headersTimeout: readMs > 0 ? Math.min(headerMs + 1000, readMs) : headerMs + 1000,
      // Node checks those two this often (its default, 30 s, would let a 10 s limit run to 40 s).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(Math.min(headerMs, readMs || headerMs) / 4))),
    };
    const server: Server = http.tls
      ? createTlsServer({
        ...options,
        cert: readFileSync(http.tls.cert_file),
        key: readFileSync(http.tls.key_file),
        ...(http.tls.client_ca_file ? { ca: readFileSync(http.tls.client_ca_file), requestCert: true, rejectUnauthorized: true } : {}),
        handshakeTimeout: headerMs,
      }, handler)
      : createServer(options, handler);
    // Idle keep-alive connections are closed by the connection sweep (counted), which also announces the timeout in Keep-Alive.
    server.keepAliveTimeout = 0;
    server.maxConnections = http.max_connections;
    const connections = new Connections('http', this.rt, Math.min(headerMs, this.idleMs || headerMs));
    server.on('connection', (socket: Socket) => void connections.accept(socket, headerMs, 'header_timeout'));
    if (http.tls) {
      server.on('tlsClientError', (error: Error, socket: TLSSocket) => connections.refused('tls_handshake', socket.remoteAddress, error.message));
    }
    const address = await listen(server, port, host, `receivers.${this.ctx.id}.protocols.http.endpoint`);
    connections.watch(server);
    this.server = server;
    this.connections = connections;
    this.ctx.logger.info('OTLP/HTTP listening', { endpoint: `${host}:${address.port}`, ...(http.tls?.client_ca_file ? { client_certificates: 'required' } : {}) });
  }

  /**
   * Stops listening, closes idle connections at once and the busy ones after
   * shutdown_grace, both protocols together: never longer than the grace (and a few ms).
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all([this.grpc?.shutdown(this.graceMs), this.shutdownHttp()]);
  }

  private async shutdownHttp(): Promise<void> {
    const server = this.server;
    const connections = this.connections;
    this.server = undefined;
    if (!server || !connections) return;
    server.close(); // no new connections
    for (const conn of connections.stop()) if (conn.inflight === 0) conn.socket.destroy();
    // Responses to requests in flight carry `connection: close`; whatever is still open after the grace is closed.
    await connections.drained(this.graceMs);
    connections.release('shutdown');
  }

  private cors(req: IncomingMessage, res: ServerResponse, http: OtlpHttpConfig): boolean {
    const origin = req.headers.origin;
    const allowed = http.cors?.allowed_origins ?? [];
    if (!origin || allowed.length === 0) return false;
    if (!allowed.includes('*') && !allowed.includes(origin)) return false;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    res.setHeader('access-control-allow-headers', 'content-type, content-encoding, authorization');
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, http: OtlpHttpConfig): Promise<void> {
    const conn = this.connections?.find(req.socket);
    if (conn) {
      conn.inflight++;
      conn.requests++;
      this.connections?.deadline(conn, 0, 'idle_timeout');
      res.once('close', () => {
        conn.inflight--;
        if (conn.inflight === 0 && !this.stopping) this.connections?.deadline(conn, this.idleMs, 'idle_timeout');
      });
    }
    const json = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
    try {
      const corsOk = this.cors(req, res, http);
      if (req.method === 'OPTIONS' && corsOk) {
        this.connectionHeaders(res);
        res.writeHead(204).end();
        return;
      }
      const signal = PATHS[(req.url ?? '').split('?')[0]];
      if (!signal) throw new HttpError(404, 'unknown path: use /v1/traces, /v1/logs or /v1/metrics');
      if (req.method !== 'POST') throw new HttpError(405, 'only POST is allowed');
      if (http.auth && req.headers.authorization !== `Bearer ${http.auth.bearer_token}`) throw new HttpError(401, 'missing or wrong bearer token');
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/x-protobuf' && type !== 'application/json') {
        throw new HttpError(415, `unsupported content type "${type}": use application/x-protobuf or application/json`);
      }
      if (this.stopping) throw new HttpError(503, 'shutting down');
      const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'gzip' && encoding !== 'identity') throw new HttpError(415, `unsupported content encoding "${encoding}"`);
      // A pipeline that is pushing back answers before the body is read and decoded.
      const early = refusedBeforeReading(this.ctx);
      if (early) this.throwRefusal(res, early);
      const limit = parseSize(http.max_request_body_size);
      let body: Buffer;
      if (encoding === 'gzip') {
        const gunzip = createGunzip();
        req.on('error', (e) => gunzip.destroy(e));
        try {
          body = await readBody(req.pipe(gunzip), limit);
        } catch (error) {
          // Stop inflating (a zip bomb must not cost more CPU); the request itself is drained below.
          req.unpipe(gunzip);
          gunzip.destroy();
          throw error instanceof HttpError ? error : new HttpError(400, `bad gzip body: ${(error as Error).message}`);
        }
      } else {
        body = await readBody(req, limit);
      }
      const outcome = receive(signal, json ? { json: this.parseJson(body) } : { protobuf: body }, this.rt, { protocol: 'http', remote: req.socket.remoteAddress });
      if (outcome.status === 'invalid') throw new HttpError(400, outcome.message, true);
      if (outcome.status !== 'ok') this.throwRefusal(res, outcome);
      // A disk sending queue: answered once the data is on disk.
      const failed = await notDurable(outcome);
      if (failed) throw new HttpError(503, failed);
      this.respond(res, 200, signal, json, outcome.rejected > 0 ? { rejected: outcome.rejected, message: outcome.message } : undefined);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      const counted = error instanceof HttpError && error.counted;
      if (status >= 500 && status !== 503) this.ctx.logger.error('OTLP/HTTP request failed', { error: message });
      else if ((status === 400 || status === 413) && !counted) {
        this.ctx.problems.report(`http_${status}`, 'bad OTLP/HTTP request', { status, error: message, remote: req.socket.remoteAddress });
        this.ctx.countRefused(1, status === 413 ? 'too_large' : 'malformed');
      }
      req.resume();
      this.respondError(res, status, message, json);
    }
  }

  /** 429 with Retry-After for push-back; 503 while the pipeline is stopping (both retryable for OTLP clients). */
  private throwRefusal(res: ServerResponse, outcome: Refused | Exclude<IngestOutcome, { status: 'ok' | 'invalid' }>): never {
    if (outcome.status === 'pushback') {
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))));
      throw new HttpError(429, outcome.message);
    }
    throw new HttpError(503, outcome.message);
  }

  /** An OTLP/JSON body. JSON.parse does not recurse, so any nesting parses; convert counts the depth. */
  private parseJson(body: Buffer): Msg {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
    } catch (error) {
      throw new HttpError(400, `body is not JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'body must be a JSON object');
    return parsed as Msg;
  }

  /** Keep-alive announces idle_timeout; once stopping, every answer closes its connection. */
  private connectionHeaders(res: ServerResponse): void {
    if (this.stopping) {
      res.removeHeader('keep-alive');
      res.setHeader('connection', 'close');
    } else if (this.idleMs >= 1000) {
      res.setHeader('keep-alive', `timeout=${Math.floor(this.idleMs / 1000)}`);
    }
  }

  private respond(res: ServerResponse, status: number, signal: Signal, json: boolean, partial?: { rejected: number; message: string }): void {
    this.connectionHeaders(res);
    const body: Msg = partial ? { partialSuccess: { [REJECTED_FIELD[signal]]: partial.rejected, errorMessage: partial.message } } : {};
    if (json) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else {
      const type = otlpTypes().response[signal];
      res.writeHead(status, { 'content-type': 'application/x-protobuf' }).end(type.encode(type.fromObject(body)).finish());
    }
  }

  private respondError(res: ServerResponse, status: number, message: string, json: boolean): void {
    if (res.headersSent || res.destroyed) return;
    this.connectionHeaders(res);
    // After a 413 the rest of the body is not worth reading on this connection.
    if (status === 413) res.setHeader('connection', 'close');
    // google.rpc.Status: code from the gRPC code table the OTLP/HTTP spec maps to.
    const code = status === 429 ? 8 : status === 401 ? 16 : status === 503 ? 14 : status >= 500 ? 13 : 3;
    if (json) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message }));
    } else {
      const type = otlpTypes().status;
      res.writeHead(status, { 'content-type': 'application/x-protobuf' }).end(type.encode(type.fromObject({ code, message })).finish());
    }
  }
}
