/**
 * Client of BEAM IP trace ports: one TCP connection per node, frames decoded
 * and mapped, reconnection with capped backoff and jitter.
 *
 * The socket is read as fast as the node writes: chunks wait, up to
 * `read_ahead` bytes, to be decoded in slices of the event loop, so a burst
 * the pipeline cannot follow at once is taken whole (a chunk is a few µs to
 * read and a few ms to decode, map and pass through the pipeline). When the
 * read-ahead is full, or the pipeline pushes back with none, the socket stops
 * being read: the node's trace driver then queues and, when its queue is
 * full, drops and counts (Op 1 frames), so the node itself is never slowed
 * down by us.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { decodeTerm, EtfError, etfLimits, type EtfLimits } from '../../beam/etf.js';
import type { Receiver, ReceiverContext } from '../../component/types.js';
import { parseDuration, parseEndpoint, parseSize } from '../../config/units.js';
import type { ScopeEvent } from '../../model/types.js';
import type { BeamTracePortConfig } from './config.js';
import { FrameError, FrameReader, OP_DROP, OP_TERM } from './framing.js';
import { TraceMapper } from './mapping.js';
import { createTracePortInstruments, type TracePortInstruments } from './metrics.js';

/** A slice of decoding read-ahead chunks: the event loop runs between slices. */
const DRAIN_SLICE_MS = 5;

class TracePortConnection {
  private socket?: Socket;
  private readonly reader: FrameReader;
  private mapper: TraceMapper;
  private pending: ScopeEvent[] = [];
  private stopped = false;
  private backoffMs: number;
  private retryTimer?: NodeJS.Timeout;
  private waitingForPipeline = false;
  private connected = false;
  /** A compressed term inflates to at most a frame's size; terms per frame as the decoder's default. */
  private readonly limits: Readonly<EtfLimits>;
  /** Chunks read and not yet decoded, oldest first, and their bytes (read_ahead). */
  private ahead: Buffer[] = [];
  /** Read by the receiver's gauge. */
  aheadBytes = 0;
  private readonly maxAhead: number;
  private drainTimer?: NodeJS.Immediate;
  /** The socket is paused because the read-ahead is full. */
  private full = false;
  /**
   * Whether batches go into a disk sending queue: unknown until the first
   * batch is taken (and read-ahead waits for it), then as that batch said.
   * Behind one, the socket is read on only once what it gave is on disk.
   */
  private durable: boolean | undefined;
  /** A reconnect waits for the read-ahead of the connection before. */
  private reopenWhenDrained = false;

  constructor(
    private readonly endpoint: string,
    private readonly config: BeamTracePortConfig,
    private readonly ctx: ReceiverContext,
    private readonly instruments: TracePortInstruments,
  ) {
    const maxFrameBytes = parseSize(config.max_frame_bytes);
    this.reader = new FrameReader(maxFrameBytes);
    this.limits = etfLimits({ maxUncompressedBytes: maxFrameBytes });
    this.mapper = this.newMapper();
    this.backoffMs = parseDuration(config.reconnect.initial_interval);
    this.maxAhead = parseSize(config.read_ahead);
  }

  private newMapper(): TraceMapper {
    return new TraceMapper({
      component: this.ctx.id,
      maxMessageBytes: this.config.max_message_bytes,
      termSyntax: this.config.term_syntax,
      excludeRoles: this.config.exclude_processes,
      onClockEstimated: (node) => this.ctx.logger.warn(
        'monotonic trace timestamps without scope_clock frames: Unix time estimated from arrival (start tracing with ScopeBeam.Tracer, or use the timestamp flag)',
        { endpoint: this.endpoint, node },
      ),
    });
  }

  start(): void {
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    // The last connection's chunks are decoded first: the frame reader and the mapper are per connection.
    if (this.ahead.length > 0) {
      this.reopenWhenDrained = true;
      return;
    }
    this.full = false;
    const { host, port } = parseEndpoint(this.endpoint);
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    this.reader.reset();
    this.mapper = this.newMapper();
    socket.on('connect', () => {
      this.connected = true;
      this.backoffMs = parseDuration(this.config.reconnect.initial_interval);
      this.instruments.reconnects.add(1, { receiver: this.ctx.id, endpoint: this.endpoint });
      this.ctx.logger.info('connected to trace port', { endpoint: this.endpoint });
      this.ctx.reportStatus({ healthy: true });
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.connected) {
        this.ctx.problems.report('connect_failed', 'no BEAM trace port reachable yet; retrying (start one with ScopeBeam.Tracer.start/1 or dbg:trace_port(ip, …))', {
          endpoint: this.endpoint, error: error.code ?? error.message,
        });
      }
      else this.ctx.logger.warn('trace port connection failed', { endpoint: this.endpoint, error: error.code ?? error.message });
    });
    socket.on('close', () => {
      if (this.connected) this.ctx.logger.info('trace port connection closed', { endpoint: this.endpoint, node: this.mapper.node });
      this.connected = false;
      this.flush();
      if (this.socket === socket) this.socket = undefined;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const max = parseDuration(this.config.reconnect.max_interval);
    const wait = this.backoffMs * (0.8 + Math.random() * 0.4); // ±20% jitter so several receivers do not reconnect in step
    this.backoffMs = Math.min(max, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, wait);
  }

  /** Reading ahead: the batches are known to go to memory queues only, and read_ahead is not 0. */
  private get readingAhead(): boolean {
    return this.durable === false && this.maxAhead > 0;
  }

  private onData(chunk: Buffer): void {
    if (!this.readingAhead && this.ahead.length === 0) {
      this.decode(chunk);
      return;
    }
    this.ahead.push(chunk);
    this.aheadBytes += chunk.length;
    if (this.aheadBytes >= this.maxAhead && !this.full) {
      this.full = true;
      this.socket?.pause();
    }
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainTimer || this.waitingForPipeline || this.ahead.length === 0) return;
    this.drainTimer = setImmediate(() => this.drain());
  }

  /** Decodes read-ahead chunks for one slice of the event loop, then lets it run (reads, timers, exporters) and goes on. */
  private drain(): void {
    this.drainTimer = undefined;
    this.decodeAhead(() => !this.waitingForPipeline && !this.stopped);
    // Half empty again: read on (hysteresis, so a full read-ahead is not paused and resumed per chunk).
    if (this.full && this.aheadBytes <= this.maxAhead / 2 && !this.stopped) {
      this.full = false;
      this.socket?.resume();
    }
    if (this.ahead.length === 0 && this.reopenWhenDrained) {
      this.reopenWhenDrained = false;
      this.open();
    }
    this.scheduleDrain();
  }

  /** Decodes read-ahead chunks, oldest first, while `go()` and for at most one slice (DRAIN_SLICE_MS). */
  private decodeAhead(go: () => boolean): void {
    const until = performance.now() + DRAIN_SLICE_MS;
    while (this.ahead.length > 0 && go()) {
      const chunk = this.ahead.shift() as Buffer;
      this.aheadBytes -= chunk.length;
      this.decode(chunk);
      if (performance.now() > until) break;
    }
  }

  /** Frames of a chunk read from the socket, decoded, mapped and handed on. */
  private decode(chunk: Buffer): void {
    const reader = this.reader;
    reader.feed(chunk);
    let frames = 0;
    try {
      for (;;) {
        const op = reader.next();
        if (op < 0) break;
        if (op === OP_DROP) {
          this.instruments.droppedMessages.add(reader.size, { receiver: this.ctx.id, node: this.mapper.node });
          this.mapper.dropped(reader.size, this.pending);
        } else if (op === OP_TERM) {
          frames++;
          this.frame(reader.payload, reader.start, reader.end);
        }
        if (this.pending.length >= this.config.max_batch_items) this.flush();
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.ctx.countRefused(1, 'bad_frame');
      this.ctx.problems.report('bad_frame', 'not a trace port stream: closing and reconnecting', { endpoint: this.endpoint, error: error.message });
      // The rest of what was read of this stream is no trace port's either.
      this.ahead = [];
      this.aheadBytes = 0;
      this.socket?.destroy();
    }
    if (frames > 0) this.instruments.frames.add(frames, { receiver: this.ctx.id });
    this.flush();
  }

  private frame(buf: Buffer, start: number, end: number): void {
    let term;
    try {
      term = decodeTerm(buf, this.limits, start, end);
    } catch (error) {
      if (!(error instanceof EtfError)) throw error;
      // malformed, or term_limit: a frame that would inflate or decode past the limits (a term bomb), refused before it is built.
      this.ctx.countRefused(1, error.reason);
      this.ctx.problems.report(error.reason, error.reason === 'term_limit' ? 'trace frame over the decoder\'s limits skipped' : 'undecodable trace frame skipped', {
        endpoint: this.endpoint, node: this.mapper.node, error: error.message, bytes: end - start,
      });
      return;
    }
    const outcome = this.mapper.map(term, this.pending);
    if (outcome === 'excluded') {
      this.instruments.excluded.add(1, { receiver: this.ctx.id });
    } else if (outcome === 'unknown') {
      this.ctx.countRefused(1, 'unknown_message');
      this.ctx.problems.report('unknown_message', 'unrecognised trace message skipped', { endpoint: this.endpoint, term: buf.subarray(start, Math.min(end, start + 64)).toString('hex') });
    }
  }

  /** Hands on what was decoded; pauses the socket while the pipeline pushes back. */
  private flush(): void {
    if (this.pending.length === 0 || this.waitingForPipeline) return;
    const events = this.pending;
    this.pending = [];
    const result = this.ctx.consumer.consume({ events, spans: [], metrics: [] });
    if (result.status === 'accepted') this.durable ??= result.durable !== undefined;
    if (result.status === 'refused' && result.retryable && !this.stopped) {
      this.pending = events.concat(this.pending);
      const retryAfterMs = result.retryAfterMs;
      this.pauseUntil(retryAfterMs !== undefined ? new Promise((r) => setTimeout(r, retryAfterMs)) : this.ctx.consumer.whenReady());
    } else if (result.status === 'accepted' && result.durable) {
      // A disk queue behind: the socket is read on once what it gave is on disk, so a kill loses nothing read
      // (the driver queues meanwhile, and says what it had to drop).
      this.pauseUntil(result.durable);
    } else if (!this.ctx.consumer.ready()) {
      this.pauseUntil(this.ctx.consumer.whenReady());
    }
  }

  /** Stops handing on until `wait`: reading ahead, the socket is read on until the read-ahead is full; otherwise it pauses. */
  private pauseUntil(wait: Promise<unknown>): void {
    if (this.waitingForPipeline) return;
    this.waitingForPipeline = true;
    if (!this.readingAhead) this.socket?.pause();
    const resume = (): void => {
      this.waitingForPipeline = false;
      if (this.stopped) return;
      this.flush();
      if (this.waitingForPipeline) return;
      if (!this.full) this.socket?.resume();
      this.scheduleDrain();
    };
    void wait.then(resume);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
    this.waitingForPipeline = false;
    if (this.drainTimer) clearImmediate(this.drainTimer);
    this.drainTimer = undefined;
    // What was read is handed on: decoded in slices, so the event loop (the exporters' shutdown) runs between them.
    while (this.ahead.length > 0) {
      this.decodeAhead(() => true);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.flush();
  }
}

export class BeamTracePortReceiver implements Receiver {
  private readonly connections: TracePortConnection[];

  constructor(config: BeamTracePortConfig, ctx: ReceiverContext) {
    const endpoints = Array.isArray(config.endpoint) ? config.endpoint : [config.endpoint];
    const instruments = createTracePortInstruments(ctx.meter);
    this.connections = endpoints.map((e) => new TracePortConnection(e, config, ctx, instruments));
    ctx.meter.createObservableGauge('scope_beam_trace_read_ahead_bytes', {
      unit: 'By', description: 'Bytes read from trace ports and not yet decoded (read_ahead): how far decoding is behind the node.',
    }).addCallback((r) => r.observe(this.connections.reduce((n, c) => n + c.aheadBytes, 0), { receiver: ctx.id }));
  }

  async start(): Promise<void> {
    for (const c of this.connections) c.start();
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.stop()));
  }
}
