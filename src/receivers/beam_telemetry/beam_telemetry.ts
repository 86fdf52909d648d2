/**
 * A TCP server for scope_beam forwarders: many BEAM nodes at once, each
 * connection framed like the IP trace port (`<<0, Size:32, term_to_binary>>`)
 * and decoded by the same ETF decoder. A connection starts with a hello
 * (protocol version, optional token); then telemetry events. A malformed term
 * is counted and skipped; a broken frame makes the stream unusable and closes
 * it. While the pipeline pushes back the socket is not read, so the
 * forwarder's bounded queue fills and drops (counted on its side) instead of
 * the application waiting.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeTerm, EtfError } from '../../beam/etf.js';
import { encodeTerm, type SimpleTerm } from '../../beam/encode.js';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseEndpoint, parseSize } from '../../config/units.js';
import { batchSize, emptyBatch, type Batch } from '../../model/types.js';
import { listen } from '../../util/net.js';
import { FrameError, FrameReader, OP_TERM } from '../beam_trace_port/framing.js';
import type { BeamTelemetryConfig } from './config.js';
import { PROTOCOL_VERSION, readHello, TelemetryMapper } from './mapping.js';

function frame(term: SimpleTerm): Buffer {
  const body = encodeTerm(term);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** A token bucket: `rate` events a second, bursts of one second's worth. */
class RateLimit {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

class ForwarderConnection {
  private readonly reader: FrameReader;
  private mapper?: TelemetryMapper;
  private pending: Batch = emptyBatch();
  private node = '';
  private waitingForPipeline = false;
  private readonly limit: RateLimit;
  private readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly config: BeamTelemetryConfig,
    private readonly ctx: ReceiverContext,
    private readonly onClose: (c: ForwarderConnection) => void,
  ) {
    this.reader = new FrameReader(parseSize(config.max_frame_bytes));
    this.limit = new RateLimit(config.rate_limit.events_per_second);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.ctx.logger.warn('forwarder connection failed', { remote: this.remote, error: error.code ?? error.message }));
    socket.on('close', () => {
      this.flush();
      if (this.mapper) this.ctx.logger.info('BEAM node disconnected', { remote: this.remote });
      this.onClose(this);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.reader.feed(chunk);
    try {
      for (;;) {
        const op = this.reader.next();
        if (op < 0) break;
        if (op === OP_TERM) this.term(this.reader.payload, this.reader.start, this.reader.end);
        if (this.socket.destroyed) return;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.ctx.countRefused(1, 'bad_frame');
      this.ctx.problems.report('bad_frame', 'not a scope_beam stream: closing the connection', { remote: this.remote, error: error.message });
      this.socket.destroy();
      return;
    }
    this.flush();
  }

  private term(buf: Buffer, start: number, end: number): void {
    let term;
    try {
      term = decodeTerm(buf, undefined, start, end);
    } catch (error) {
      if (!(error instanceof EtfError)) throw error;
      this.ctx.countRefused(1, 'malformed');
      this.ctx.problems.report('malformed', 'undecodable term from a forwarder skipped', { remote: this.remote, error: error.message, bytes: end - start });
      return;
    }
    if (!this.mapper) return this.hello(term);
    const item = this.mapper.read(term);
    if (!item) {
      this.ctx.countRefused(1, 'malformed');
      this.ctx.problems.report('unknown_term', 'a forwarder sent a term that is none of the protocol\'s (telemetry, scope_metrics, scope_state_change); skipped', { remote: this.remote });
      return;
    }
    const count = 'event' in item ? 1 : item.metrics.length;
    if (!this.limit.take()) {
      this.ctx.countRefused(count, 'rate_limited');
      this.ctx.problems.report('rate_limited', 'a BEAM node sends more items than rate_limit allows; dropping the excess', {
        remote: this.remote, node: this.node, events_per_second: this.config.rate_limit.events_per_second,
      });
      return;
    }
    if ('event' in item) this.pending.events.push(item.event);
    else for (const m of item.metrics) this.pending.metrics.push(m);
  }

  private hello(term: Parameters<typeof readHello>[0]): void {
    const hello = readHello(term, this.config.auth?.token);
    if ('refused' in hello) {
      this.ctx.countRefused(1, 'hello_refused');
      this.ctx.problems.report('hello_refused', 'refused a forwarder', { remote: this.remote, reason: hello.refused });
      this.socket.end(frame({ tuple: [{ atom: 'scope_refused' }, hello.refused] }));
      this.socket.destroySoon();
      return;
    }
    const source = { node: hello.node, component: this.ctx.id, ...(hello.app ? { app: hello.app } : {}) };
    this.mapper = new TelemetryMapper(hello, source, this.config.max_value_bytes, this.config.term_syntax);
    this.node = hello.node;
    this.socket.write(frame({ tuple: [{ atom: 'scope_welcome' }, PROTOCOL_VERSION] }));
    this.ctx.logger.info('BEAM node connected', {
      remote: this.remote, node: hello.node, app: hello.app, otp_release: hello.otpRelease, elixir_version: hello.elixirVersion,
    });
  }

  /** Hands on what was decoded; stops reading the socket while the pipeline pushes back. */
  private flush(): void {
    if (batchSize(this.pending) === 0 || this.waitingForPipeline) return;
    const batch = this.pending;
    this.pending = emptyBatch();
    const result = this.ctx.consumer.consume(batch);
    if (result.status === 'refused' && result.retryable) {
      this.pending = batch; // nothing was read meanwhile: the socket is paused from here on
      this.pauseUntilReady(result.retryAfterMs);
    } else if (!this.ctx.consumer.ready()) {
      this.pauseUntilReady();
    }
  }

  private pauseUntilReady(retryAfterMs?: number): void {
    this.waitingForPipeline = true;
    this.socket.pause();
    const wait = retryAfterMs !== undefined ? new Promise((r) => setTimeout(r, retryAfterMs)) : this.ctx.consumer.whenReady();
    void wait.then(() => {
      this.waitingForPipeline = false;
      if (this.socket.destroyed) return;
      this.flush();
      if (!this.waitingForPipeline) this.socket.resume();
    });
  }
}

export class BeamTelemetryReceiver implements Receiver {
  private server?: Server;
  private readonly connections = new Set<ForwarderConnection>();

  constructor(
    private readonly config: BeamTelemetryConfig,
    private readonly ctx: ReceiverContext,
  ) {}

  async start(): Promise<void> {
    const server = createServer((socket) => {
      if (this.connections.size >= this.config.max_connections) {
        this.ctx.countRefused(1, 'too_many_connections');
        this.ctx.problems.report('too_many_connections', 'refused a forwarder: max_connections reached', { max_connections: this.config.max_connections });
        socket.destroy();
        return;
      }
      this.connections.add(new ForwarderConnection(socket, this.config, this.ctx, (c) => this.connections.delete(c)));
    });
    const { host, port } = parseEndpoint(this.config.endpoint);
    await listen(server, port, host);
    this.server = server;
    this.ctx.logger.info('beam_telemetry listening', { endpoint: this.config.endpoint });
  }

  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.connections) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
