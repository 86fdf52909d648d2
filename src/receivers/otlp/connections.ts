/**
 * The connections of one OTLP protocol: admitted under the process's
 * open-file budget, closed when they sit silent or idle past their deadline,
 * and all closed on shutdown. Counted in scope_receiver_refused_connections,
 * scope_receiver_closed_connections and scope_receiver_open_connections.
 *
 * Node's own server timeouts do not cover a socket that connects and never
 * sends a byte (headersTimeout only runs once a request has begun), so every
 * connection here has a deadline from the moment it is accepted.
 */
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { OtlpRuntime } from './ingest.js';

export type Protocol = 'http' | 'grpc';

/**
 * How many connections all otlp receivers of this process may hold open
 * together: the soft open-file limit less a reserve (1/8 of it, at least 128)
 * for everything else the daemon opens (exporters' sockets and files, the
 * metrics server). Staying below it means accept() never fails with EMFILE
 * and a flood of idle sockets cannot starve the exporters. Infinite where
 * the limit cannot be read (not Linux) or is unlimited.
 */
export const FD_BUDGET = ((): number => {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return Infinity;
    const soft = Number(m[1]);
    return Math.max(16, soft - Math.max(128, Math.floor(soft / 8)));
  } catch {
    return Infinity;
  }
})();

/** How much earlier than our deadline Node's own timeout check may close a connection. */
const NODE_TIMEOUT_SLACK_MS = 50;

/** Connections open across every otlp receiver of the process. */
let openInProcess = 0;

export interface Connection {
  readonly socket: Socket;
  /** Epoch ms after which the connection is closed (0: none, e.g. while a request is in flight). */
  deadline: number;
  /** What a close at the deadline is counted as. */
  reason: string;
  /** Checked before closing at the deadline: true clears the deadline for good (e.g. a gRPC socket that has spoken). */
  ready?: () => boolean;
  /** Requests in flight (HTTP). */
  inflight: number;
  /** Requests seen (HTTP). */
  requests: number;
}

const key = (address: string | undefined, port: number | undefined): string => `${address ?? ''}|${port ?? 0}`;

export class Connections {
  private readonly open = new Set<Connection>();
  /** By remote address and port: an HTTPS request's TLS socket finds its TCP connection. */
  private readonly byRemote = new Map<string, Connection>();
  private sweeper?: NodeJS.Timeout;
  private stopping = false;
  private readonly idle: Array<() => void> = [];
  private readonly observe: Parameters<OtlpRuntime['instruments']['openConnections']['addCallback']>[0];

  constructor(
    readonly protocol: Protocol,
    private readonly rt: OtlpRuntime,
    /** The shortest deadline in use, so the sweep runs often enough (¼ of it, 20 ms – 1 s). */
    shortestDeadlineMs: number,
  ) {
    this.sweepEveryMs = Math.min(1000, Math.max(20, Math.floor(shortestDeadlineMs / 4)));
    this.observe = (result) => result.observe(this.open.size, { receiver: rt.ctx.id, protocol });
    rt.instruments.openConnections.addCallback(this.observe);
  }

  private readonly sweepEveryMs: number;

  get size(): number {
    return this.open.size;
  }

  /** Counts and handles what a listening server reports: connections over maxConnections, and accept errors (never fatal). */
  watch(server: Server): void {
    server.on('drop', (data?: { remoteAddress?: string }) => this.refused('max_connections', data?.remoteAddress));
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EMFILE' || error.code === 'ENFILE') this.refused('emfile', undefined, error.message);
      else this.rt.ctx.problems.report(`${this.protocol}_server_error`, 'OTLP server error (still serving)', { protocol: this.protocol, error: error.message });
    });
  }

  /** A connection refused as it was accepted: counted by reason and logged (the first, then summaries). */
  refused(reason: string, remote?: string, detail?: string): void {
    this.rt.instruments.refusedConnections.add(1, { receiver: this.rt.ctx.id, protocol: this.protocol, reason });
    this.rt.ctx.problems.report(`${this.protocol}_connection_${reason}`, 'OTLP connection refused', {
      protocol: this.protocol, reason, ...(remote ? { remote } : {}), ...(detail ? { error: detail } : {}),
      open: this.open.size, open_in_process: openInProcess, ...(Number.isFinite(FD_BUDGET) ? { fd_budget: FD_BUDGET } : {}),
    });
  }

  /**
   * A new TCP connection. Returns null (and closes it) while stopping or when
   * the process is at its open-file budget; else tracks it with a deadline of
   * `firstMs` (0: none), counted as `reason` if it passes.
   */
  accept(socket: Socket, firstMs: number, reason: string, ready?: () => boolean): Connection | null {
    if (this.stopping) {
      socket.destroy();
      return null;
    }
    if (openInProcess >= FD_BUDGET) {
      socket.destroy();
      this.refused('fd_limit', socket.remoteAddress);
      return null;
    }
    openInProcess++;
    const conn: Connection = { socket, deadline: firstMs > 0 ? Date.now() + firstMs : 0, reason, inflight: 0, requests: 0, ...(ready ? { ready } : {}) };
    const remote = key(socket.remoteAddress, socket.remotePort);
    this.open.add(conn);
    this.byRemote.set(remote, conn);
    socket.on('error', () => undefined); // a reset peer is not an error of the receiver; the owner sees 'close'
    socket.once('close', () => {
      // Node's own headersTimeout may close it first (a 408) — at its deadline, give or take Node's check interval:
      // counted as the sweep would have counted it.
      if (conn.deadline > 0 && Date.now() >= conn.deadline - NODE_TIMEOUT_SLACK_MS) {
        this.rt.instruments.closedConnections.add(1, { receiver: this.rt.ctx.id, protocol: this.protocol, reason: conn.reason });
      }
      openInProcess--;
      this.open.delete(conn);
      if (this.byRemote.get(remote) === conn) this.byRemote.delete(remote);
      if (this.open.size === 0) for (const resolve of this.idle.splice(0)) resolve();
    });
    this.sweeper ??= setInterval(() => this.sweep(), this.sweepEveryMs).unref();
    return conn;
  }

  /** The tracked connection under a socket (the TCP socket itself, or a TLS socket over it). */
  find(socket: Socket): Connection | undefined {
    return this.byRemote.get(key(socket.remoteAddress, socket.remotePort));
  }

  /** Sets (ms > 0) or clears (0) a connection's deadline. */
  deadline(conn: Connection, ms: number, reason: string): void {
    conn.deadline = ms > 0 ? Date.now() + ms : 0;
    conn.reason = reason;
  }

  private sweep(): void {
    const now = Date.now();
    for (const conn of this.open) {
      if (conn.deadline === 0 || now < conn.deadline) continue;
      if (conn.ready?.()) {
        conn.deadline = 0;
        conn.ready = undefined;
        continue;
      }
      this.close(conn, conn.reason);
    }
  }

  /** Closes a connection now, counting why. */
  close(conn: Connection, reason: string): void {
    conn.deadline = 0;
    if (conn.socket.destroyed) return;
    this.rt.instruments.closedConnections.add(1, { receiver: this.rt.ctx.id, protocol: this.protocol, reason });
    conn.socket.destroy();
  }

  /** From now on every new connection is closed at once; returns the connections still open. */
  stop(): Connection[] {
    this.stopping = true;
    return [...this.open];
  }

  /** Resolves when no connection is open, or after `ms`, whichever comes first. */
  async drained(ms: number): Promise<void> {
    if (this.open.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idle.push(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }

  /** After shutdown: closes what is left (counted as `reason`) and stops the sweep and the gauge. */
  release(reason: string): void {
    for (const conn of [...this.open]) this.close(conn, reason);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.rt.instruments.openConnections.removeCallback(this.observe);
  }
}
