/**
 * The OTLP receiver, HTTP protocol (OTLP/HTTP spec): protobuf and JSON bodies,
 * gzip, partial success, 429 + Retry-After when the pipeline pushes back,
 * 400 for undecodable bodies, 413 past the size limit.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import type { OtlpConfig, OtlpHttpConfig } from './config.js';
import { listen } from '../../util/net.js';
import type { Msg } from './convert.js';
import { OtlpGrpcServer } from './grpc.js';
import { decodeProtobuf, ingest, refusedBeforeReading, type DecodedRequest, type IngestOutcome, type Refused } from './ingest.js';
import { otlpTypes, type Signal } from '../../otel/proto.js';

const PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/logs': 'logs', '/v1/metrics': 'metrics' };
const REJECTED_FIELD: Record<Signal, string> = { traces: 'rejectedSpans', logs: 'rejectedLogRecords', metrics: 'rejectedDataPoints' };

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
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

export class OtlpReceiver implements Receiver {
  private server?: Server;
  private readonly http?: OtlpHttpConfig;
  private readonly grpc?: OtlpGrpcServer;
  private stopping = false;

  constructor(
    config: OtlpConfig,
    private readonly ctx: ReceiverContext,
  ) {
    this.http = config.protocols.http;
    if (config.protocols.grpc) this.grpc = new OtlpGrpcServer(config.protocols.grpc, ctx);
  }

  async start(): Promise<void> {
    otlpTypes(); // load the definitions now: a broken install fails start, not the first request
    await this.grpc?.start();
    const http = this.http;
    if (!http) return;
    const { host, port } = parseEndpoint(http.endpoint);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res, http);
    const server: Server = http.tls
      ? createTlsServer({ cert: readFileSync(http.tls.cert_file), key: readFileSync(http.tls.key_file) }, handler)
      : createServer(handler);
    server.requestTimeout = parseDuration(http.read_timeout);
    const address = await listen(server, port, host);
    this.server = server;
    this.ctx.logger.info('OTLP/HTTP listening', { endpoint: `${host}:${address.port}` });
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    await this.grpc?.shutdown();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
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
    const json = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
    try {
      const corsOk = this.cors(req, res, http);
      if (req.method === 'OPTIONS' && corsOk) {
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
      const message = this.decode(signal, body, json);
      let outcome: IngestOutcome;
      try {
        outcome = ingest(signal, message, this.ctx);
      } catch (error) {
        throw new HttpError(400, `cannot read the ${signal} request: ${(error as Error).message}`);
      }
      if (outcome.status !== 'ok') this.throwRefusal(res, outcome);
      this.respond(res, 200, signal, json, outcome.rejected > 0 ? { rejected: outcome.rejected, message: outcome.message } : undefined);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      if (status >= 500 && status !== 503) this.ctx.logger.error('OTLP/HTTP request failed', { error: message });
      else if (status === 400 || status === 413) this.ctx.problems.report(`http_${status}`, 'bad OTLP/HTTP request', { status, error: message, remote: req.socket.remoteAddress });
      if (status === 400 || status === 413) this.ctx.countRefused(1, status === 413 ? 'too_large' : 'malformed');
      req.resume();
      this.respondError(res, status, message, json);
    }
  }

  /** 429 with Retry-After for push-back, 503 for a refusal that retrying will not fix. */
  private throwRefusal(res: ServerResponse, outcome: Refused): never {
    if (outcome.status === 'pushback') {
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))));
      throw new HttpError(429, outcome.message);
    }
    throw new HttpError(503, outcome.message);
  }

  private decode(signal: Signal, body: Buffer, json: boolean): DecodedRequest {
    if (json) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.length > 0 ? body.toString('utf8') : '{}');
      } catch (error) {
        throw new HttpError(400, `body is not JSON: ${(error as Error).message}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'body must be a JSON object');
      return { message: parsed as Msg };
    }
    try {
      return decodeProtobuf(signal, body);
    } catch (error) {
      throw new HttpError(400, `body is not a valid ${otlpTypes().request[signal].name}: ${(error as Error).message}`);
    }
  }

  private respond(res: ServerResponse, status: number, signal: Signal, json: boolean, partial?: { rejected: number; message: string }): void {
    const body: Msg = partial ? { partialSuccess: { [REJECTED_FIELD[signal]]: partial.rejected, errorMessage: partial.message } } : {};
    if (json) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else {
      const type = otlpTypes().response[signal];
      res.writeHead(status, { 'content-type': 'application/x-protobuf' }).end(type.encode(type.fromObject(body)).finish());
    }
  }

  private respondError(res: ServerResponse, status: number, message: string, json: boolean): void {
    if (res.headersSent) return;
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
