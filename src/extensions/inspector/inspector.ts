/**
 * The inspector extension: keeps the live window (window.ts) of what every
 * pipeline's processors passed on, and serves it to `inspect --daemon` over
 * HTTP as JSON lines, so a crash seconds old can be explained before any
 * Parquet file rolled. Loopback by default, optional bearer token, a
 * connection cap and deadlines on every request.
 *
 *   GET /v1/window?since=<unix ns>   application/x-ndjson, oldest first
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Attributes, Counter } from '@opentelemetry/api';
import type { Extension, ExtensionContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import type { Batch } from '../../model/types.js';
import { listen } from '../../util/net.js';
import type { InspectorConfig } from './config.js';
import { LiveWindow } from './window.js';

const CHUNK = 64 * 1024;

export class InspectorExtension implements Extension {
  private readonly window: LiveWindow;
  private server?: Server;
  private readonly refused: Counter<Attributes>;
  private readonly token?: Buffer;

  constructor(private readonly config: InspectorConfig, private readonly ctx: ExtensionContext) {
    const evicted = ctx.meter.createCounter('scope_inspector_evicted_items', { unit: '{item}', description: 'Items the live window let go, by reason (age, max_size).' });
    this.refused = ctx.meter.createCounter('scope_inspector_refused_requests', { unit: '{request}', description: 'Requests the live window refused, by reason (unauthorized, not_found, bad_request, too_many_connections).' });
    this.window = new LiveWindow(parseDuration(config.window), parseSize(config.max_size), (count, reason) => evicted.add(count, { extension: ctx.id, reason }));
    ctx.meter.createObservableGauge('scope_inspector_window_items', { unit: '{item}', description: 'Items in the live window.' })
      .addCallback((r) => r.observe(this.window.size, { extension: ctx.id }));
    ctx.meter.createObservableGauge('scope_inspector_window_bytes', { unit: 'By', description: 'Bytes the live window holds.' })
      .addCallback((r) => r.observe(this.window.bytes, { extension: ctx.id }));
    if (config.auth) this.token = Buffer.from(`Bearer ${config.auth.bearer_token}`);
  }

  /** What a pipeline's processors passed on (the service calls it for every pipeline). */
  observe(batch: Batch): void {
    this.window.add(batch, Date.now());
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.maxConnections = this.config.max_connections;
    server.headersTimeout = 5_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    // A socket that connects and says nothing is closed after this long.
    server.setTimeout(10_000, (socket) => socket.destroy());
    server.on('drop', () => this.refused.add(1, { extension: this.ctx.id, reason: 'too_many_connections' }));
    server.on('error', (error) => this.ctx.logger.error('inspector server error', { error: error.message }));
    const { host, port } = parseEndpoint(this.config.endpoint);
    const address = await listen(server, port, host, `extensions.${this.ctx.id}.endpoint`);
    this.server = server;
    this.ctx.logger.info('inspector live window listening', { endpoint: `http://${address.address}:${address.port}`, window: this.config.window });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refuse = (status: number, reason: string, message: string): void => {
      this.refused.add(1, { extension: this.ctx.id, reason });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: message }));
    };
    if (this.token) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) return refuse(401, 'unauthorized', 'missing or wrong bearer token');
    }
    const url = new URL(req.url ?? '/', 'http://inspector');
    if (req.method !== 'GET' || url.pathname !== '/v1/window') return refuse(404, 'not_found', 'GET /v1/window?since=<unix ns> is what this serves');
    const since = url.searchParams.get('since') ?? '0';
    if (!/^-?\d{1,20}$/.test(since)) return refuse(400, 'bad_request', 'since must be Unix nanoseconds');
    this.window.evict(Date.now());
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let chunk = '';
    for (const line of this.window.lines(BigInt(since))) {
      chunk += `${line}\n`;
      if (chunk.length >= CHUNK) {
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
        chunk = '';
        if (res.destroyed) return;
      }
    }
    res.end(chunk);
  }

  async shutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
