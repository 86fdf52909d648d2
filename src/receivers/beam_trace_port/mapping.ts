/**
 * Trace messages → ScopeEvents (event types are fixed in DESIGN.md).
 *
 * `{trace, Tracee, Tag, ...}` and `{trace_ts, Tracee, Tag, ..., Timestamp}`,
 * `{seq_trace, Label, Info[, Timestamp]}`, and the scope_beam tracer's
 * `{scope_clock, Node, MonotonicNs, SystemNs}` that lets monotonic trace
 * timestamps become Unix nanoseconds.
 */
import { roleOfModule, spawnIdentity, type ProcessRole } from '../../beam/otp.js';
import { pidText, renderTerm, type RenderOptions, type TermSyntax } from '../../beam/render.js';
import { ErlPid, ErlPort, ErlTuple, type Term } from '../../beam/terms.js';
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { snapshotEvents } from './snapshot.js';
import { exitAttributes, messageAttributes, mfaString, spawnAttributes } from './structure.js';

export type MapOutcome = 'event' | 'clock' | 'excluded' | 'unknown';

/** The trace tag → event type table. */
const TYPES: Record<string, string> = {
  send: 'message.send',
  send_to_non_existing_process: 'message.send_to_dead',
  receive: 'message.receive',
  call: 'function.call',
  return_from: 'function.return',
  exception_from: 'function.exception',
  return_to: 'function.return_to',
  spawn: 'process.spawn',
  spawned: 'process.spawned',
  exit: 'process.exit',
  link: 'process.link',
  unlink: 'process.unlink',
  getting_linked: 'process.getting_linked',
  getting_unlinked: 'process.getting_unlinked',
  register: 'process.register',
  unregister: 'process.unregister',
  in: 'scheduler.in',
  out: 'scheduler.out',
  in_exiting: 'scheduler.in_exiting',
  out_exiting: 'scheduler.out_exiting',
  out_exited: 'scheduler.out_exited',
  gc_minor_start: 'gc.minor_start',
  gc_minor_end: 'gc.minor_end',
  gc_major_start: 'gc.major_start',
  gc_major_end: 'gc.major_end',
  gc_max_heap_size: 'gc.max_heap_size',
  gc_start: 'gc.start',
  gc_end: 'gc.end',
  open: 'port.open',
  closed: 'port.closed',
};

/** How many arguments each tag carries before an optional match-spec `{message, Term}` extra and the timestamp. */
const ARITY: Record<string, number> = {
  send: 2, send_to_non_existing_process: 2, receive: 1, call: 1, return_from: 2, exception_from: 2, return_to: 1,
  spawn: 2, spawned: 2, exit: 1, link: 1, unlink: 1, getting_linked: 1, getting_unlinked: 1, register: 1, unregister: 1,
  in: 1, out: 1, in_exiting: 1, out_exiting: 1, out_exited: 1,
  gc_minor_start: 1, gc_minor_end: 1, gc_major_start: 1, gc_major_end: 1, gc_max_heap_size: 1, gc_start: 1, gc_end: 1,
  open: 2, closed: 1,
};

export interface MapperOptions {
  component: string;
  maxMessageBytes: number;
  /** How terms are written in attributes: Erlang's `~tp` or Elixir's `inspect/2`. */
  termSyntax?: TermSyntax;
  /** Events of processes with these roles (the shell's, the tracer's) are left out. */
  excludeRoles?: readonly ProcessRole[];
  /** Called once when monotonic timestamps arrive before any scope_clock frame. */
  onClockEstimated?(node: string): void;
  /** Wall clock in Unix nanoseconds (injectable for tests). */
  now?: () => bigint;
}

const wallNow = (): bigint => BigInt(Date.now()) * 1_000_000n;

function nodeOf(t: Term): string | undefined {
  return t instanceof ErlPid || t instanceof ErlPort ? t.node : undefined;
}

/** `Module:Function/Arity` from `{M, F, Args | Arity}`. */
function mfaText(t: Term): string | undefined {
  if (!(t instanceof ErlTuple) || t.elements.length !== 3) return undefined;
  const [m, f, a] = t.elements;
  if (typeof m !== 'string' || typeof f !== 'string') return undefined;
  const arity = Array.isArray(a) ? a.length : typeof a === 'number' ? a : undefined;
  if (arity === undefined) return undefined;
  return mfaString(m, f, arity);
}

/** The role a spawn's `{M, F, Args}` gives the child (the shell's reader funs, dbg, erpc workers…). */
function roleOf(mfa: Term): ProcessRole | undefined {
  const id = spawnIdentity(mfa);
  return id ? roleOfModule(id.callbackModule ?? id.initialCall.module) : undefined;
}

/** Per connection (per node): ids, the node's clock offset, and the mapping itself. */
export class TraceMapper {
  private seq = 0;
  private readonly idPrefix: string;
  /** Unix ns minus monotonic ns, from scope_clock frames (or estimated). */
  private offsetNs: bigint | undefined;
  private offsetEstimated = false;
  private readonly now: () => bigint;
  /** Shared by every event from this node: events are immutable, so one object serves them all. */
  private source: ScopeEvent['source'];
  private sourceNode = 'nonode@nohost';
  /** Until the node is known from a frame, every pid is taken as local. */
  private localNode: string | undefined;
  private renderOptions: RenderOptions;
  private readonly excludeRoles: ReadonlySet<ProcessRole>;
  /** Processes left out (by role), until they exit. */
  private readonly excluded = new Map<string, ProcessRole>();

  constructor(private readonly options: MapperOptions) {
    this.idPrefix = `${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-`;
    this.now = options.now ?? wallNow;
    this.source = { node: this.sourceNode, component: options.component };
    this.renderOptions = { syntax: options.termSyntax ?? 'erlang' };
    this.excludeRoles = new Set(options.excludeRoles ?? []);
  }

  get node(): string {
    return this.sourceNode;
  }

  private setNode(node: string): void {
    if (node === this.localNode) return;
    this.sourceNode = node;
    this.localNode = node;
    this.source = { node, component: this.options.component };
    this.renderOptions = { syntax: this.options.termSyntax ?? 'erlang', localNode: node };
  }

  private id(t: Term): string {
    if (t instanceof ErlPid || t instanceof ErlPort) return pidText(t, this.localNode);
    if (typeof t === 'string') return t; // a registered name, as registered
    return renderTerm(t, 256, this.renderOptions);
  }

  /** Remembers a process to leave out, by the role its identity gives it. */
  private noteRole(pid: string, role: ProcessRole | undefined): void {
    if (role !== undefined && this.excludeRoles.has(role)) this.excluded.set(pid, role);
  }

  /** Processes currently left out (for tests and metrics). */
  get excludedCount(): number {
    return this.excluded.size;
  }

  /** Maps one decoded frame; pushes at most one event. */
  map(term: Term, out: ScopeEvent[]): MapOutcome {
    if (!(term instanceof ErlTuple)) return 'unknown';
    const e = term.elements;
    const head = e[0];
    if (head === 'trace_ts' || head === 'trace') return this.trace(e, head === 'trace_ts', out);
    if (head === 'seq_trace') return this.seqTrace(e, out);
    if (head === 'scope_clock' && e.length === 4) return this.clock(e);
    if (head === 'scope_snapshot' && e.length === 4) return this.snapshot(e, out);
    return 'unknown';
  }

  private clock(e: Term[]): MapOutcome {
    const [, node, mono, sys] = e;
    if (typeof node !== 'string' || node === '' || (typeof mono !== 'number' && typeof mono !== 'bigint') || (typeof sys !== 'number' && typeof sys !== 'bigint')) {
      return 'unknown';
    }
    this.offsetNs = BigInt(sys) - BigInt(mono);
    this.offsetEstimated = false;
    this.setNode(node);
    return 'clock';
  }

  /** Unix nanoseconds from any of the three timestamp forms, or arrival time (also for a corrupt one before 1970). */
  time(ts: Term | undefined): bigint {
    const t = this.convert(ts);
    return t >= 0n ? t : this.now();
  }

  private convert(ts: Term | undefined): bigint {
    if (ts === undefined) return this.now();
    if (ts instanceof ErlTuple) {
      const t = ts.elements;
      if (t.length === 3 && typeof t[0] === 'number' && typeof t[1] === 'number' && typeof t[2] === 'number') {
        // {MegaSecs, Secs, MicroSecs}: microseconds fit a double exactly.
        return BigInt((t[0] * 1_000_000 + t[1]) * 1_000_000 + t[2]) * 1000n;
      }
      if (t.length === 2) return this.monotonic(t[0]); // strict_monotonic_timestamp: {Monotonic, Unique}
      return this.now();
    }
    return this.monotonic(ts);
  }

  private monotonic(mono: Term): bigint {
    if (typeof mono !== 'number' && typeof mono !== 'bigint') return this.now();
    const m = BigInt(mono);
    if (this.offsetNs === undefined) {
      // No scope_clock frame yet: estimate from arrival (exact order, wall clock off by the transit delay).
      this.offsetNs = this.now() - m;
      this.offsetEstimated = true;
      this.options.onClockEstimated?.(this.node);
    }
    return m + this.offsetNs;
  }

  get clockEstimated(): boolean {
    return this.offsetEstimated;
  }

  private event(type: string, tracee: Term, time: bigint, attributes: Attributes): ScopeEvent {
    return {
      id: this.idPrefix + (++this.seq).toString(36),
      type,
      schemaVersion: 1,
      time,
      source: this.source,
      pid: this.id(tracee),
      attributes,
    };
  }

  /** One closure for the helpers that render, not one per event. */
  private readonly renderBound = (t: Term): string => this.render(t);

  private render(t: Term): string {
    return renderTerm(t, this.options.maxMessageBytes, this.renderOptions);
  }

  /** `{scope_snapshot, Node, SystemNs, [#{pid => …}]}` from ScopeBeam.Tracer: processes alive before the attach. */
  private snapshot(e: Term[], out: ScopeEvent[]): MapOutcome {
    const [, node, time, entries] = e;
    if (typeof node !== 'string' || node === '' || (typeof time !== 'number' && typeof time !== 'bigint') || !Array.isArray(entries)) return 'unknown';
    this.setNode(node);
    const made = snapshotEvents(entries, BigInt(time), {
      render: (t) => this.render(t), id: (t) => this.id(t), localNode: node,
      event: (tracee, at, attributes) => this.event('process.snapshot', tracee, at, attributes),
    });
    let kept = 0;
    for (const { event, role } of made) {
      this.noteRole(event.pid as string, role);
      if (this.excluded.has(event.pid as string)) continue;
      out.push(event);
      kept++;
    }
    return kept > 0 ? 'event' : 'excluded';
  }

  private trace(e: Term[], hasTs: boolean, out: ScopeEvent[]): MapOutcome {
    const tag = e[2];
    if (typeof tag !== 'string') return 'unknown';
    // Own keys only: a trace tag named constructor or __proto__ is no event type.
    const type = Object.hasOwn(TYPES, tag) ? TYPES[tag] : undefined;
    const arity = Object.hasOwn(ARITY, tag) ? ARITY[tag] : undefined;
    if (type === undefined || arity === undefined) return 'unknown';
    const argsEnd = hasTs ? e.length - 1 : e.length;
    const argc = argsEnd - 3;
    if (argc < arity || argc > arity + 1) return 'unknown';
    const tracee = e[1];
    const node = nodeOf(tracee);
    if (node !== undefined && node !== this.localNode) this.setNode(node);
    const time = this.time(hasTs ? e[e.length - 1] : undefined);
    const a1 = e[3];
    const a2 = e[4];
    if (this.excluded.size > 0 || this.excludeRoles.size > 0) {
      const self = this.id(tracee);
      if (tag === 'spawn' && a2 !== undefined) this.noteRole(this.id(a1), roleOf(a2));
      if (this.excluded.has(self)) {
        if (tag === 'exit') this.excluded.delete(self);
        return 'excluded';
      }
    }
    const attributes: Attributes = {};
    switch (tag) {
      case 'send':
      case 'send_to_non_existing_process':
        attributes['beam.message'] = this.render(a1);
        attributes['beam.peer_pid'] = this.id(a2);
        messageAttributes(a1, attributes, this.renderBound, this.localNode);
        break;
      case 'receive':
        attributes['beam.message'] = this.render(a1);
        messageAttributes(a1, attributes, this.renderBound, this.localNode);
        break;
      case 'call': {
        attributes['beam.mfa'] = mfaText(a1) ?? this.render(a1);
        const args = a1 instanceof ErlTuple ? a1.elements[2] : undefined;
        if (Array.isArray(args)) attributes['beam.args'] = this.render(args);
        break;
      }
      case 'return_to':
        attributes['beam.mfa'] = mfaText(a1) ?? this.render(a1);
        break;
      case 'return_from':
        attributes['beam.mfa'] = mfaText(a1) ?? this.render(a1);
        attributes['beam.return'] = this.render(a2);
        break;
      case 'exception_from':
        attributes['beam.mfa'] = mfaText(a1) ?? this.render(a1);
        if (a2 instanceof ErlTuple && a2.elements.length === 2) {
          attributes['beam.exception.class'] = this.render(a2.elements[0]);
          attributes['beam.reason'] = this.render(a2.elements[1]);
        } else {
          attributes['beam.reason'] = this.render(a2);
        }
        break;
      case 'spawn':
      case 'spawned':
        attributes['beam.peer_pid'] = this.id(a1);
        attributes['beam.mfa'] = mfaText(a2) ?? this.render(a2);
        spawnAttributes(a2, attributes, this.localNode);
        break;
      case 'exit':
      case 'closed':
        exitAttributes(a1, attributes, this.renderBound);
        break;
      case 'link':
      case 'unlink':
      case 'getting_linked':
      case 'getting_unlinked':
        attributes['beam.peer_pid'] = this.id(a1);
        break;
      case 'register':
      case 'unregister':
        attributes['beam.registered_name'] = this.id(a1);
        break;
      case 'open':
        attributes['beam.peer_pid'] = this.id(a1);
        attributes['beam.driver'] = this.render(a2);
        break;
      default:
        if (tag.startsWith('gc_')) {
          if (Array.isArray(a1)) {
            for (const item of a1) {
              if (item instanceof ErlTuple && item.elements.length === 2 && typeof item.elements[0] === 'string') {
                const v = item.elements[1];
                attributes[`beam.gc.${item.elements[0]}`] = typeof v === 'number' ? v : this.render(v);
              }
            }
          }
        } else if (a1 !== 0) {
          attributes['beam.mfa'] = mfaText(a1) ?? this.render(a1); // in/out: {M,F,Arity} or 0
        }
    }
    if (argc === arity + 1) attributes['beam.trace_message'] = this.render(e[3 + arity]); // match spec {message, Term}
    out.push(this.event(type, tracee, time, attributes));
    return 'event';
  }

  /** `{seq_trace, Label, {send|'receive', Serial, From, To, Msg} | {print, Serial, From, _, Info}[, Ts]}` */
  private seqTrace(e: Term[], out: ScopeEvent[]): MapOutcome {
    if (e.length !== 3 && e.length !== 4) return 'unknown';
    const info = e[2];
    if (!(info instanceof ErlTuple) || info.elements.length !== 5) return 'unknown';
    const [kind, serial, from, to, payload] = info.elements;
    if (kind !== 'send' && kind !== 'receive' && kind !== 'print') return 'unknown';
    const actor = kind === 'receive' ? to : from;
    const node = nodeOf(actor);
    if (node !== undefined && node !== this.localNode) this.setNode(node);
    if (this.excluded.has(this.id(actor))) return 'excluded';
    const attributes: Attributes = {
      'beam.seq_trace.label': this.render(e[1]),
      'beam.seq_trace.serial': this.render(serial),
      'beam.message': this.render(payload),
    };
    if (kind !== 'print') {
      attributes['beam.peer_pid'] = this.id(kind === 'send' ? to : from);
      messageAttributes(payload, attributes, this.renderBound, this.localNode);
    }
    out.push(this.event(`seq_trace.${kind}`, actor, this.time(e[3]), attributes));
    return 'event';
  }

  /** A `trace.dropped` event for an Op 1 frame. */
  dropped(count: number, out: ScopeEvent[]): void {
    out.push({
      id: this.idPrefix + (++this.seq).toString(36),
      type: 'trace.dropped',
      schemaVersion: 1,
      time: this.now(),
      source: this.source,
      attributes: { 'beam.dropped_count': count },
    });
  }
}
