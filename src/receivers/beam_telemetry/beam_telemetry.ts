/**
 * A TCP (or TLS) server for scope_beam forwarders: many BEAM nodes at once,
 * each connection framed like the IP trace port (`<<0, Size:32,
 * term_to_binary>>`) and decoded by the same ETF decoder. A connection starts
 * with a hello (protocol version, optional token); then telemetry events. A
 * malformed term is counted and skipped; a broken frame makes the stream
 * unusable and closes it. While the pipeline pushes back the socket is not
 * read, so the forwarder's bounded queue fills and drops (counted on its
 * side) instead of the application waiting.
 *
 * Before its hello a connection is a stranger, and is treated as one: only a
 * first frame of at most `max_hello_bytes` is read (and decoded within that
 * size), under `hello_timeout`, and strangers count against their own small
 * cap (`max_pending_hellos`, the oldest closed when a new one arrives), never
 * against `max_connections`. After it: frames up to `max_frame_bytes`, which
 * also bounds what a compressed term inflates to; `idle_timeout` for
 * forwarders that go silent (they send `scope_keepalive` when idle); and one
 * bound on the incomplete frames held across all connections.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { decodeTerm, EtfError, etfLimits, type EtfLimits, type Term } from '../../beam/etf.js';
import { encodeTerm, type SimpleTerm } from '../../beam/encode.js';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import { batchSize, emptyBatch, type Batch } from '../../model/types.js';
import { listen } from '../../util/net.js';
import { FrameError, FrameReader, OP_TERM } from '../beam_trace_port/framing.js';
import type { BeamTelemetryConfig } from './config.js';
import { PROTOCOL_VERSION, readHello, TelemetryMapper, type AttributeDropReason } from './mapping.js';
import { createBeamTelemetryInstruments, type BeamTelemetryInstruments } from './metrics.js';

/** The forwarder's keepalive term: sent when it has written nothing for a while, so idle_timeout only closes the dead. */
export const KEEPALIVE = 'scope_keepalive';

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

/** What every connection of one receiver shares: its limits, counters and the two sets it belongs to. */
interface Shared {
  readonly config: BeamTelemetryConfig;
  readonly ctx: ReceiverContext;
  readonly instruments: BeamTelemetryInstruments;
  readonly helloLimits: Readonly<EtfLimits>;
  readonly frameLimits: Readonly<EtfLimits>;
  readonly maxHelloBytes: number;
  readonly maxFrameBytes: number;
  readonly maxBufferedBytes: number;
  readonly maxAttributeBytes: number;
  readonly helloTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Bytes of incomplete frames held by all connections. */
  buffered: number;
  /** Moves a connection that said hello from the strangers to the forwarders; false when max_connections are there. */
  admit(c: ForwarderConnection): boolean;
  /** Forgets a connection (idempotent). */
  release(c: ForwarderConnection): void;
}

/** The process's soft open-file limit (Linux: /proc/self/limits), or undefined where it cannot be read or is unlimited. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A hello says what a node is in a few hundred bytes: a term of more than this many terms is no hello. */
const HELLO_MAX_TERMS = 512;
const HELLO_MAX_DEPTH = 16;
/** How long a refused connection may take to read its refusal before it is cut. */
const LINGER_MS = 2000;

class ForwarderConnection {
  private readonly reader: FrameReader;
  private mapper?: TelemetryMapper;
  private pending: Batch = emptyBatch();
  private node = '';
  private state: 'hello' | 'open' | 'closed' = 'hello';
  private waitingForPipeline = false;
  private readonly limit: RateLimit;
  private readonly remote: string;
  private timer?: NodeJS.Timeout;
  private lastData = performance.now();
  private bytesIn = 0;
  /** Bytes this connection counts in shared.buffered. */
  private held = 0;

  /** The socket data comes on: the TCP socket, or with TLS the TLS socket once its handshake is done. */
  private socket?: Socket;

  constructor(
    /** The TCP connection: its lifetime is the connection's, with or without TLS. */
    private readonly raw: Socket,
    private readonly shared: Shared,
    private readonly tls: boolean,
  ) {
    const { config } = shared;
    this.reader = new FrameReader(shared.maxHelloBytes);
    this.limit = new RateLimit(config.rate_limit.events_per_second);
    this.remote = `${raw.remoteAddress}:${raw.remotePort}`;
    raw.setNoDelay(true);
    raw.on('error', (error: NodeJS.ErrnoException) => {
      if (this.state === 'open') this.shared.ctx.logger.warn('forwarder connection failed', { remote: this.remote, node: this.node, error: error.code ?? error.message });
      else this.shared.ctx.logger.debug('connection failed before its hello', { remote: this.remote, error: error.code ?? error.message });
    });
    raw.on('close', () => {
      // Gone before its TLS handshake was done: a failed or abandoned handshake.
      if (this.tls && this.state === 'hello' && !this.socket) this.tlsFailed('closed before the TLS handshake completed');
      const wasOpen = this.state === 'open';
      this.flush();
      this.forget();
      if (wasOpen) this.shared.ctx.logger.info('BEAM node disconnected', { remote: this.remote, node: this.node });
    });
    if (!tls) this.attach(raw);
    this.arm(shared.helloTimeoutMs);
  }

  /** Reads from `socket` from now on (the TCP socket, or the TLS socket after its handshake). */
  attach(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    if (socket !== this.raw) {
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (this.state === 'open') this.shared.ctx.logger.warn('forwarder connection failed', { remote: this.remote, node: this.node, error: error.code ?? error.message });
      });
      socket.on('close', () => this.raw.destroy());
    }
  }

  private get closed(): boolean {
    return this.state === 'closed';
  }

  /** Closes at once (shutdown). */
  close(): void {
    this.forget();
    this.socket?.destroy();
    this.raw.destroy();
  }

  /** Closes a connection that broke a limit: counted by reason, reported once with context. */
  drop(reason: string, message: string, fields: Record<string, unknown> = {}, refusal?: string): void {
    if (this.state === 'closed') return;
    const context = { remote: this.remote, ...(this.node ? { node: this.node } : {}), ...fields };
    this.shared.ctx.countRefused(1, reason);
    this.shared.ctx.problems.report(reason, message, context);
    this.forget();
    const socket = this.socket;
    if (refusal !== undefined && socket && !socket.destroyed) {
      socket.end(frame({ tuple: [{ atom: 'scope_refused' }, refusal] }));
      socket.destroySoon();
      setTimeout(() => {
        socket.destroy();
        this.raw.destroy();
      }, LINGER_MS).unref();
    } else {
      socket?.destroy();
      this.raw.destroy();
    }
  }

  private forget(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.shared.buffered -= this.held;
    this.held = 0;
    this.reader.reset();
    this.shared.release(this);
  }

  tlsFailed(error: string): void {
    this.drop('tls_handshake', 'TLS handshake with a connecting forwarder failed: closed', { error });
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = ms > 0 ? setTimeout(() => this.onTimer(), ms) : undefined;
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.state === 'hello') {
      this.drop('hello_timeout', 'closed a connection that sent no hello within hello_timeout', {
        hello_timeout: this.shared.config.hello_timeout, bytes: this.bytesIn, tls: this.tls, tls_handshake_done: this.socket !== undefined,
      });
      return;
    }
    if (this.state !== 'open') return;
    const idle = this.shared.idleTimeoutMs;
    // Not reading is our doing (the pipeline pushes back), not the forwarder's silence.
    if (this.waitingForPipeline) this.lastData = performance.now();
    const quiet = performance.now() - this.lastData;
    if (quiet >= idle) {
      this.drop('idle_timeout', 'closed a forwarder that sent nothing (not even a keepalive) within idle_timeout', {
        idle_timeout: this.shared.config.idle_timeout,
      });
      return;
    }
    this.arm(idle - quiet);
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastData = performance.now();
    this.bytesIn += chunk.length;
    this.reader.feed(chunk);
    try {
      for (;;) {
        const op = this.reader.next();
        if (op < 0) break;
        if (op !== OP_TERM) throw new FrameError(`frame op ${op} is not part of the forwarder protocol`, 'unknown_op');
        if (this.state === 'hello') this.hello(this.reader.payload, this.reader.start, this.reader.end);
        else this.term(this.reader.payload, this.reader.start, this.reader.end);
        if (this.closed) return;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      if (this.state === 'hello' && error.reason === 'too_large') {
        this.drop('hello_too_large', 'a connection\'s first frame is over max_hello_bytes: closed before reading it', {
          max_hello_bytes: this.shared.maxHelloBytes, error: error.message,
        }, `the hello is over ${this.shared.maxHelloBytes} bytes`);
      } else {
        this.drop('bad_frame', 'not a scope_beam stream: closing the connection', { error: error.message });
      }
      return;
    }
    if (!this.account()) return;
    this.flush();
  }

  /** Counts this connection's incomplete frame in the receiver's total; false (and closed) when that goes over max_buffered_bytes. */
  private account(): boolean {
    const now = this.reader.buffered;
    const shared = this.shared;
    shared.buffered += now - this.held;
    this.held = now;
    if (shared.buffered <= shared.maxBufferedBytes) return true;
    this.drop('buffer_limit', 'incomplete frames across all connections are over max_buffered_bytes: closed the connection whose frame went over', {
      connection_bytes: now, total_bytes: shared.buffered, max_buffered_bytes: shared.maxBufferedBytes,
    });
    return false;
  }

  private decode(buf: Buffer, start: number, end: number, limits: Readonly<EtfLimits>): Term | EtfError {
    try {
      return decodeTerm(buf, limits, start, end);
    } catch (error) {
      if (!(error instanceof EtfError)) throw error;
      return error;
    }
  }

  private term(buf: Buffer, start: number, end: number): void {
    const term = this.decode(buf, start, end, this.shared.frameLimits);
    const { ctx } = this.shared;
    if (term instanceof EtfError) {
      // term_limit: a term bomb (inflating or decoding past the limits), refused before it was built; malformed: not ETF.
      ctx.countRefused(1, term.reason);
      ctx.problems.report(term.reason, term.reason === 'term_limit' ? 'a term from a forwarder over the decoder\'s limits skipped' : 'undecodable term from a forwarder skipped', {
        remote: this.remote, node: this.node, error: term.message, bytes: end - start,
      });
      return;
    }
    if (term === KEEPALIVE) return;
    const item = (this.mapper as TelemetryMapper).read(term);
    if (!item) {
      ctx.countRefused(1, 'malformed');
      ctx.problems.report('unknown_term', 'a forwarder sent a term that is none of the protocol\'s (telemetry, scope_metrics, scope_state_change, scope_keepalive); skipped', { remote: this.remote, node: this.node });
      return;
    }
    const count = 'event' in item ? 1 : item.metrics.length;
    if (!this.limit.take()) {
      ctx.countRefused(count, 'rate_limited');
      ctx.problems.report('rate_limited', 'a BEAM node sends more items than rate_limit allows; dropping the excess', {
        remote: this.remote, node: this.node, events_per_second: this.shared.config.rate_limit.events_per_second,
      });
      return;
    }
    if ('event' in item) this.pending.events.push(item.event);
    else for (const m of item.metrics) this.pending.metrics.push(m);
  }

  private hello(buf: Buffer, start: number, end: number): void {
    const { config, ctx } = this.shared;
    const term = this.decode(buf, start, end, this.shared.helloLimits);
    if (term instanceof EtfError) {
      this.drop(term.reason, 'a connection\'s first frame is not a readable hello: closed', { error: term.message, bytes: end - start },
        'the first term must be {scope_hello, #{...}}');
      return;
    }
    const hello = readHello(term, config.auth?.token);
    if ('refused' in hello) {
      this.drop('hello_refused', 'refused a forwarder', { reason: hello.refused }, hello.refused);
      return;
    }
    if (!this.shared.admit(this)) {
      this.drop('too_many_connections', 'refused a forwarder: max_connections reached', {
        node: hello.node, max_connections: config.max_connections,
      }, `too many connections: this receiver holds max_connections (${config.max_connections})`);
      return;
    }
    const source = { node: hello.node, component: ctx.id, ...(hello.app ? { app: hello.app } : {}) };
    const instruments = this.shared.instruments;
    const receiver = ctx.id;
    this.mapper = new TelemetryMapper(hello, source, config.max_value_bytes, config.term_syntax, {
      maxAttributes: config.max_attributes,
      maxAttributeBytes: this.shared.maxAttributeBytes,
      onDropped: (count: number, reason: AttributeDropReason) => {
        instruments.droppedAttributes.add(count, { receiver, reason });
        ctx.problems.report(`attributes_${reason}`, `attributes of a forwarded item over ${reason} dropped (the item is kept, with scope.attributes.dropped)`, {
          remote: this.remote, node: hello.node, dropped: count, max_attributes: config.max_attributes, max_attribute_bytes: this.shared.maxAttributeBytes,
        });
      },
    });
    this.node = hello.node;
    this.state = 'open';
    this.reader.maxFrameBytes = this.shared.maxFrameBytes;
    this.arm(this.shared.idleTimeoutMs);
    (this.socket as Socket).write(frame({ tuple: [{ atom: 'scope_welcome' }, PROTOCOL_VERSION] }));
    ctx.logger.info('BEAM node connected', {
      remote: this.remote, node: hello.node, app: hello.app, otp_release: hello.otpRelease, elixir_version: hello.elixirVersion,
      tls: this.tls,
    });
  }

  /** Hands on what was decoded; stops reading the socket while the pipeline pushes back. */
  private flush(): void {
    if (batchSize(this.pending) === 0 || this.waitingForPipeline) return;
    const batch = this.pending;
    this.pending = emptyBatch();
    const { consumer } = this.shared.ctx;
    const result = consumer.consume(batch);
    if (result.status === 'refused' && result.retryable) {
      this.pending = batch; // nothing was read meanwhile: the socket is paused from here on
      const retryAfterMs = result.retryAfterMs;
      this.pauseUntil(retryAfterMs !== undefined ? new Promise((r) => setTimeout(r, retryAfterMs)) : consumer.whenReady());
    } else if (result.status === 'accepted' && result.durable) {
      // A disk queue behind: the socket is read on once what it gave is on disk (the forwarder buffers meanwhile).
      this.pauseUntil(result.durable);
    } else if (!consumer.ready()) {
      this.pauseUntil(consumer.whenReady());
    }
  }

  private pauseUntil(wait: Promise<unknown>): void {
    this.waitingForPipeline = true;
    const socket = this.socket as Socket;
    socket.pause();
    void wait.then(() => {
      this.waitingForPipeline = false;
      this.lastData = performance.now();
      if (socket.destroyed) return;
      this.flush();
      if (!this.waitingForPipeline) socket.resume();
    });
  }
}

export class BeamTelemetryReceiver implements Receiver {
  private server?: Server;
  /** Connections before their hello, oldest first. */
  private readonly strangers = new Set<ForwarderConnection>();
  private readonly connections = new Set<ForwarderConnection>();
  private readonly shared: Shared;
  /** With TLS: the TLS server the TCP connections are handed to (it verifies client certificates). */
  private tlsServer?: TlsServer;
  /** With TLS: connections whose handshake is under way, by remote address:port. */
  private readonly handshaking = new Map<string, ForwarderConnection>();
  private stopping = false;

  constructor(
    private readonly config: BeamTelemetryConfig,
    private readonly ctx: ReceiverContext,
  ) {
    const maxHelloBytes = parseSize(config.max_hello_bytes);
    const maxFrameBytes = parseSize(config.max_frame_bytes);
    this.shared = {
      config,
      ctx,
      instruments: createBeamTelemetryInstruments(ctx.meter),
      helloLimits: etfLimits({ maxUncompressedBytes: maxHelloBytes, maxTerms: HELLO_MAX_TERMS, maxDepth: HELLO_MAX_DEPTH }),
      frameLimits: etfLimits({ maxUncompressedBytes: maxFrameBytes }),
      maxHelloBytes,
      maxFrameBytes,
      maxBufferedBytes: parseSize(config.max_buffered_bytes),
      maxAttributeBytes: parseSize(config.max_attribute_bytes),
      helloTimeoutMs: parseDuration(config.hello_timeout),
      idleTimeoutMs: parseDuration(config.idle_timeout),
      buffered: 0,
      admit: (c) => {
        if (this.connections.size >= this.config.max_connections) return false;
        this.strangers.delete(c);
        this.connections.add(c);
        return true;
      },
      release: (c) => {
        this.strangers.delete(c);
        this.connections.delete(c);
      },
    };
  }

  async start(): Promise<void> {
    const tls = this.config.tls;
    if (tls) {
      const clientCa = tls.client_ca_file !== undefined;
      const tlsServer = createTlsServer({
        cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file), ...(clientCa ? { ca: readFileSync(tls.client_ca_file as string) } : {}),
        requestCert: clientCa, rejectUnauthorized: clientCa, handshakeTimeout: this.shared.helloTimeoutMs,
      });
      tlsServer.on('secureConnection', (socket: TLSSocket) => {
        const key = `${socket.remoteAddress}:${socket.remotePort}`;
        const c = this.handshaking.get(key);
        this.handshaking.delete(key);
        if (c) c.attach(socket);
        else socket.destroy();
      });
      tlsServer.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
        const c = this.handshaking.get(`${socket.remoteAddress}:${socket.remotePort}`);
        // Without the address (the socket already gone), the TCP socket's close counts it.
        c?.tlsFailed(error.code ?? error.message);
      });
      this.tlsServer = tlsServer;
    }
    const server = createServer((socket) => this.accept(socket));
    // Out of file descriptors, libuv takes and closes what it cannot accept, uncounted: so this server
    // stops short of the process's open-file limit, leaving an eighth of it (at least 128) to the rest of
    // the pipeline (as the otlp receiver does), and what it refuses there Node closes at once and reports
    // ('drop'): counted as fd_limit.
    const fileLimit = openFileLimit();
    if (fileLimit !== undefined) {
      const sockets = Math.max(16, fileLimit - Math.max(128, Math.floor(fileLimit / 8)));
      server.maxConnections = sockets;
      server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
        this.ctx.countRefused(1, 'fd_limit');
        this.ctx.problems.report('fd_limit', 'refused a connection: the process is close to its open-file limit (raise ulimit -n)', {
          remote: `${data?.remoteAddress}:${data?.remotePort}`, open_file_limit: fileLimit, max_sockets: sockets,
          connections: this.connections.size, pending_hellos: this.strangers.size,
        });
      });
      if (this.config.max_connections + this.config.max_pending_hellos > sockets) {
        this.ctx.logger.warn('max_connections + max_pending_hellos is above what this process\'s open-file limit leaves for sockets: connections beyond it are refused', {
          max_connections: this.config.max_connections, max_pending_hellos: this.config.max_pending_hellos, open_file_limit: fileLimit, max_sockets: sockets,
        });
      }
    }
    const { host, port } = parseEndpoint(this.config.endpoint);
    await listen(server, port, host, `receivers.${this.ctx.id}.endpoint`);
    // After listening, the errors left are accept() failing (EMFILE when the rest of the process took the
    // descriptors, ENFILE, ENOBUFS): the connection is lost, we count it and go on listening.
    server.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'EMFILE' || error.code === 'ENFILE' ? 'emfile' : 'accept_failed';
      this.ctx.countRefused(1, reason);
      this.ctx.problems.report(reason, 'could not accept a connection (out of file descriptors? raise ulimit -n)', {
        endpoint: this.config.endpoint, error: error.code ?? error.message, connections: this.connections.size, pending_hellos: this.strangers.size,
      });
    });
    this.server = server;
    this.ctx.logger.info('beam_telemetry listening', { endpoint: this.config.endpoint, tls: tls !== undefined, client_certificates: tls?.client_ca_file !== undefined });
  }

  private accept(raw: Socket): void {
    if (this.stopping) {
      raw.destroy();
      return;
    }
    if (this.strangers.size >= this.config.max_pending_hellos) {
      // The oldest stranger has had the longest to say hello: it makes room, so a real forwarder arriving now always gets its turn.
      const oldest = this.strangers.values().next().value as ForwarderConnection;
      oldest.drop('too_many_connections', 'closed the oldest connection still without a hello: max_pending_hellos reached', {
        max_pending_hellos: this.config.max_pending_hellos,
      });
    }
    const c = new ForwarderConnection(raw, this.shared, this.tlsServer !== undefined);
    this.strangers.add(c);
    if (this.tlsServer) {
      const key = `${raw.remoteAddress}:${raw.remotePort}`;
      this.handshaking.set(key, c);
      raw.once('close', () => {
        if (this.handshaking.get(key) === c) this.handshaking.delete(key);
      });
      this.tlsServer.emit('connection', raw);
    }
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    this.server = undefined;
    for (const c of [...this.strangers, ...this.connections]) c.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
