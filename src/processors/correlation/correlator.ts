/**
 * The correlation state machine: BEAM trace and telemetry events in, spans and
 * process.crash events out.
 *
 * Per process (node + pid) it keeps a stack of open spans (traced calls and
 * telemetry spans, innermost last) and the span of the message it is handling.
 * A process's active context is the top of that stack, else its handling
 * span, else the context it was spawned in. A `message.send` remembers the
 * sender's active context; the matching `message.receive` (same receiver,
 * same rendered message, first in order) opens the receiver's handling span as
 * a child of it — so work crosses processes within one trace. gen_server
 * replies go to an alias; the call's tag maps them back to the caller.
 *
 * Every map is bounded and every eviction counted (see config.ts).
 */
import { randomFillSync } from 'node:crypto';
import type { Attributes, AttributeValue, ScopeEvent, Span, SpanKind } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import { functionName, parseMfa } from './names.js';
import { exceptionOf, isEntryPoint, readTelemetry, shapeOf, singleDurationNs } from './telemetry.js';
import { exitSignal, firstElement, genCall, genCast, isPid, requestLabel } from '../../beam/rendered_text.js';

export interface CorrelatorOptions {
  component: string;
  callTimeoutMs: number;
  crashWindowMs: number;
  /** A handling span with no activity for this long (wall clock) is closed at its last activity. */
  idleMs: number;
  crashContextMessages: number;
  maxTrackedProcesses: number;
  maxPendingMessages: number;
  maxSpansPerTrace: number;
  maxStackDepth: number;
  serviceName?: string;
  onEvict(reason: string, count: number): void;
  onSpan(origin: 'function' | 'message' | 'telemetry'): void;
  onCrash(rootCause: boolean): void;
}

interface Ctx {
  traceId: string;
  spanId: string;
}

interface OpenSpan {
  span: Span;
  origin: 'function' | 'message' | 'telemetry';
  /** Kept within max_spans_per_trace: emitted when closed. */
  emit: boolean;
  mfa?: string;
  prefix?: string;
  context?: string;
  /** Attributes of the telemetry events seen so far (start, router_dispatch, stop). */
  telemetry?: Attributes;
  /** For a handling span: the message handled, its sender and the sender's span at the send. */
  message?: string;
  /** Opened from a seq_trace receive (exact), not from matching. */
  bySeqTrace?: boolean;
  from?: string;
  fromCtx?: Ctx;
  openedAtMs: number;
}

interface Received {
  message: string;
  from?: string;
  traceId?: string;
  spanId?: string;
  time: bigint;
}

interface Proc {
  key: string;
  node: string;
  pid: string;
  service: string;
  /** Shared by this process's spans (resources are read-only downstream; mutating processors get copies). */
  resource: Attributes;
  stack: OpenSpan[];
  /** Calls beyond max_stack_depth not turned into spans: their returns are skipped. */
  overflow: number;
  handling?: OpenSpan;
  handlingActivity: bigint;
  handlingActivityMs: number;
  spawnedIn?: Ctx;
  recent: Received[];
  links: Set<string>;
  name?: string;
  initialCall?: string;
  /** A trapped `{'EXIT', Pid, _}` just received (a supervisor about to restart Pid). */
  exitSignal?: { crashed: string; time: bigint };
  /** Processes sent to while handling the current message: what comes back from them is a reply, not new work. */
  askedDuringHandling: Set<string>;
}

interface Pending {
  message: string;
  receiver: string;
  from: string;
  fromPid: string;
  ctx?: Ctx;
  matched: boolean;
}

interface Crash {
  key: string;
  node: string;
  pid: string;
  time: bigint;
  reason: string;
  root: string;
  rootPid: string;
  causedBy?: string;
  /** The cause was found by an identical exit reason, not by a traced link. */
  causeInferred: boolean;
  diedNext: string[];
  restarts: Attributes[];
  lastMessages: Received[];
  stack: string[];
  name?: string;
  initialCall?: string;
  ctx?: Ctx;
  exitEventId: string;
  /** The message being handled when it crashed (else the last one received). */
  poison?: { message: string; from?: string; ctx?: Ctx };
  emitAtMs: number;
  emitted: boolean;
}

export interface Output {
  spans: Span[];
  events: ScopeEvent[];
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Ids from a pool of random bytes: one crypto call per 4 KiB rather than per span, hex by table. */
class Ids {
  private pool = Buffer.alloc(4096);
  private offset = this.pool.length;

  private hex(bytes: number): string {
    if (this.offset + bytes > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const pool = this.pool;
    let out = '';
    for (let i = this.offset, end = this.offset + bytes; i < end; i++) out += HEX[pool[i]];
    this.offset += bytes;
    return out;
  }

  trace(): string {
    return this.hex(16);
  }

  span(): string {
    return this.hex(8);
  }
}

const NORMAL_EXITS = new Set(['normal', 'shutdown']);
const SCOPE = { name: 'scope-pipeline/correlation' };
/** A trace receive and a seq_trace receive of the same message are this close in time. */
const SAME_RECEIVE_NS = 1_000_000n;
/** Answers of OTP's own servers to requests a process makes while handling a message. */
const REPLY_HEADS = new Set(['io_reply', 'code_server', 'file_reply', 'global_name_server']);

/** Exits that are no crash: `normal`, `shutdown`, `{shutdown,_}`. */
export function isAbnormal(reason: string): boolean {
  return !NORMAL_EXITS.has(reason) && !reason.startsWith('{shutdown,');
}

const text = (v: AttributeValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export class Correlator {
  private readonly ids = new Ids();
  private readonly procs: BoundedMap<string, Proc>;
  private readonly inboxes: BoundedMap<string, Pending[]>;
  private pendingOrder: Pending[] = [];
  private pendingHead = 0;
  private pendingCount = 0;
  /** gen_server call tag → the caller's key (replies are sent to an alias, not to the pid). */
  private readonly callTags: BoundedMap<string, string>;
  /** seq_trace sends by node, label and serial: the sender's context at the send. */
  private readonly seqSends: BoundedMap<string, { fromPid: string; ctx?: Ctx }>;
  private readonly names: BoundedMap<string, string>;
  private readonly byContext: BoundedMap<string, OpenSpan>;
  private readonly traceSpans: BoundedMap<string, number>;
  private readonly crashes: BoundedMap<string, Crash>;
  private unsent: Crash[] = [];
  private recentCrashes: Crash[] = [];
  private out: Output = { spans: [], events: [] };
  private nowMs = 0;
  private crashSeq = 0;
  private sendsRecorded = 0;
  private sendsMatched = 0;

  constructor(private readonly options: CorrelatorOptions) {
    const evict = (reason: string) => () => options.onEvict(reason, 1);
    this.procs = new BoundedMap(options.maxTrackedProcesses, (_k, proc) => {
      options.onEvict('max_tracked_processes', 1);
      this.closeAll(proc, proc.handlingActivity, { 'scope.span.unfinished': true });
    });
    this.inboxes = new BoundedMap(options.maxTrackedProcesses, (_k, inbox) => {
      const live = inbox.filter((p) => !p.matched);
      for (const p of live) p.matched = true;
      this.pendingCount -= live.length;
      if (live.length > 0) options.onEvict('max_pending_messages', live.length);
    });
    this.callTags = new BoundedMap(options.maxPendingMessages, evict('call_tags'));
    this.seqSends = new BoundedMap(options.maxPendingMessages, evict('seq_trace_sends'));
    this.names = new BoundedMap(options.maxTrackedProcesses, () => undefined);
    this.byContext = new BoundedMap(options.maxPendingMessages, evict('telemetry_contexts'));
    this.traceSpans = new BoundedMap(options.maxPendingMessages, () => undefined);
    this.crashes = new BoundedMap(10_000, () => undefined);
  }

  /** Correlates a batch's events; returns the spans and events made (closed spans, due crashes). */
  process(events: readonly ScopeEvent[], nowMs: number): Output {
    this.nowMs = nowMs;
    for (const e of events) this.event(e);
    this.emitDueCrashes();
    return this.take();
  }

  /** Timeouts by the wall clock: unfinished calls, idle handling spans, crashes whose window has passed. */
  sweep(nowMs: number): Output {
    this.nowMs = nowMs;
    for (const proc of this.procs.values()) {
      if (proc.handling && proc.stack.length === 0 && nowMs - proc.handlingActivityMs >= this.options.idleMs) {
        this.close(proc.handling, proc.handlingActivity);
        proc.handling = undefined;
      }
      for (let i = proc.stack.length - 1; i >= 0; i--) {
        const open = proc.stack[i];
        if (open.origin === 'function' && nowMs - open.openedAtMs >= this.options.callTimeoutMs) {
          proc.stack.splice(i, 1);
          open.span.attributes['scope.span.unfinished'] = true;
          this.close(open, proc.handlingActivity > open.span.startTimeUnixNano ? proc.handlingActivity : open.span.startTimeUnixNano);
        }
      }
    }
    this.emitDueCrashes();
    return this.take();
  }

  /** Closes everything (the stream ended): open spans as unfinished, crashes at once. */
  flush(): Output {
    for (const proc of this.procs.values()) this.closeAll(proc, proc.handlingActivity, { 'scope.span.unfinished': true });
    this.procs.clear();
    this.nowMs = Number.MAX_SAFE_INTEGER;
    this.emitDueCrashes();
    return this.take();
  }

  /** Sizes of the bounded state and the send accounting, for tests and soak runs. */
  stats(): Record<string, number> {
    return {
      processes: this.procs.size, inboxes: this.inboxes.size, pending: this.pendingCount, pendingOrder: this.pendingOrder.length - this.pendingHead,
      callTags: this.callTags.size, telemetryContexts: this.byContext.size, traces: this.traceSpans.size, crashes: this.crashes.size,
      unsentCrashes: this.unsent.length, sendsRecorded: this.sendsRecorded, sendsMatched: this.sendsMatched,
    };
  }

  private take(): Output {
    const out = this.out;
    this.out = { spans: [], events: [] };
    return out;
  }

  // --- per event --------------------------------------------------------------

  private event(e: ScopeEvent): void {
    if (e.pid === undefined) return;
    const t = e.type;
    if (t.startsWith('telemetry.')) return this.telemetry(e);
    switch (t) {
      case 'function.call': return this.call(e);
      case 'function.return': return this.returned(e, false);
      case 'function.exception': return this.returned(e, true);
      case 'function.return_to': return this.returnTo(e);
      case 'message.send': return this.send(e);
      case 'message.receive': return this.receive(e);
      case 'seq_trace.send': return this.seqSend(e);
      case 'seq_trace.receive': return this.seqReceive(e);
      case 'process.spawn': return this.spawn(e.source.node, e.pid, text(e.attributes['beam.peer_pid']), e);
      case 'process.spawned': return this.spawn(e.source.node, text(e.attributes['beam.peer_pid']), e.pid, e);
      case 'process.link':
      case 'process.getting_linked': return this.link(e, true);
      case 'process.unlink':
      case 'process.getting_unlinked': return this.link(e, false);
      case 'process.register': {
        const name = text(e.attributes['beam.registered_name']);
        if (name) {
          this.proc(e, e.pid).name = name;
          this.names.set(`${e.source.node}|${name}`, `${e.source.node}|${e.pid}`);
        }
        return;
      }
      case 'process.exit': return this.exit(e);
      default:
    }
  }

  private proc(e: ScopeEvent, pid: string, node = e.source.node): Proc {
    const key = `${node}|${pid}`;
    let proc = this.procs.get(key);
    if (!proc) {
      proc = {
        key, node, pid, stack: [], overflow: 0, recent: [], links: new Set(), askedDuringHandling: new Set(), handlingActivity: e.time, handlingActivityMs: this.nowMs,
        service: '', resource: {},
      };
      this.setService(proc, this.options.serviceName ?? e.source.app ?? node.split('@')[0] ?? node);
      this.procs.set(key, proc);
    } else {
      this.procs.touch(key, proc); // least recently active is evicted first
      if (e.source.app && !this.options.serviceName && proc.service !== e.source.app) this.setService(proc, e.source.app);
    }
    return proc;
  }

  private setService(proc: Proc, service: string): void {
    proc.service = service;
    proc.resource = { 'service.name': service, 'beam.node': proc.node };
  }

  private active(proc: Proc): Ctx | undefined {
    const top = proc.stack[proc.stack.length - 1] ?? proc.handling;
    return top ? { traceId: top.span.traceId, spanId: top.span.spanId } : proc.spawnedIn;
  }

  private touch(proc: Proc, time: bigint): void {
    if (time > proc.handlingActivity) proc.handlingActivity = time;
    proc.handlingActivityMs = this.nowMs;
  }

  private open(proc: Proc, name: string, kind: SpanKind, start: bigint, parent: Ctx | undefined, origin: OpenSpan['origin'], attributes: Attributes): OpenSpan {
    const traceId = parent?.traceId ?? this.ids.trace();
    const count = this.traceSpans.get(traceId) ?? 0;
    const emit = count < this.options.maxSpansPerTrace;
    if (emit) this.traceSpans.set(traceId, count + 1);
    else this.options.onEvict('max_spans_per_trace', 1);
    attributes['beam.pid'] = proc.pid;
    attributes['beam.node'] = proc.node;
    const span: Span = {
      traceId,
      spanId: this.ids.span(),
      name,
      spanKind: kind,
      startTimeUnixNano: start,
      endTimeUnixNano: start,
      attributes,
      events: [],
      links: [],
      status: { code: 'unset' },
      resource: proc.resource,
      scope: SCOPE,
    };
    if (parent) span.parentSpanId = parent.spanId;
    return { span, origin, emit, openedAtMs: this.nowMs };
  }

  private close(open: OpenSpan, end: bigint): void {
    open.span.endTimeUnixNano = end > open.span.startTimeUnixNano ? end : open.span.startTimeUnixNano;
    if (!open.emit) return;
    this.out.spans.push(open.span);
    this.options.onSpan(open.origin);
  }

  // --- function calls -----------------------------------------------------------

  private call(e: ScopeEvent): void {
    const proc = this.proc(e, e.pid as string);
    this.touch(proc, e.time);
    if (proc.stack.length >= this.options.maxStackDepth) {
      proc.overflow++;
      this.options.onEvict('max_stack_depth', 1);
      return;
    }
    const mfaText = text(e.attributes['beam.mfa']) ?? 'unknown';
    const mfa = parseMfa(mfaText);
    const attributes: Attributes = mfa
      ? { 'code.namespace': mfa.module, 'code.function': mfa.function, 'beam.mfa': functionName(mfa) }
      : { 'beam.mfa': mfaText };
    // The first traced callback of an unnamed process names its handling span after the module (`cart handle_call add`).
    if (mfa && proc.stack.length === 0 && proc.handling && !proc.name && !proc.initialCall && /^handle_(call|cast|info)$/.test(mfa.function)
        && proc.handling.span.name.startsWith('process ')) {
      proc.initialCall = mfa.module;
      proc.handling.span.name = `${mfa.module}${proc.handling.span.name.slice('process'.length)}`;
    }
    const open = this.open(proc, mfa ? functionName(mfa) : mfaText, 'internal', e.time, this.active(proc), 'function', attributes);
    open.mfa = mfaText;
    proc.stack.push(open);
  }

  private topFunction(proc: Proc, mfa: string): number {
    for (let i = proc.stack.length - 1; i >= 0; i--) {
      const s = proc.stack[i];
      if (s.origin === 'function' && s.mfa === mfa) return i;
    }
    return -1;
  }

  /** Closes the function frames above index `i` (calls that had no return of their own). */
  private closeAbove(proc: Proc, i: number, end: bigint): void {
    for (let j = proc.stack.length - 1; j > i; j--) {
      const s = proc.stack[j];
      if (s.origin !== 'function') continue;
      proc.stack.splice(j, 1);
      s.span.attributes['scope.span.inferred_end'] = true;
      this.close(s, end);
    }
  }

  private returned(e: ScopeEvent, exception: boolean): void {
    const proc = this.proc(e, e.pid as string);
    this.touch(proc, e.time);
    if (proc.overflow > 0) {
      proc.overflow--;
      return;
    }
    const i = this.topFunction(proc, text(e.attributes['beam.mfa']) ?? '');
    if (i < 0) return; // called before tracing began
    this.closeAbove(proc, i, e.time);
    const open = proc.stack[i];
    proc.stack.splice(i, 1);
    if (exception) {
      const type = text(e.attributes['beam.exception.class']) ?? 'error';
      const message = text(e.attributes['beam.reason']) ?? '';
      open.span.status = { code: 'error', message };
      open.span.events.push({ name: 'exception', timeUnixNano: e.time, attributes: { 'exception.type': type, 'exception.message': message } });
      open.span.attributes['exception.type'] = type;
      open.span.attributes['exception.message'] = message;
    }
    this.close(open, e.time);
  }

  private returnTo(e: ScopeEvent): void {
    const proc = this.proc(e, e.pid as string);
    this.touch(proc, e.time);
    const i = this.topFunction(proc, text(e.attributes['beam.mfa']) ?? '');
    if (i >= 0) this.closeAbove(proc, i, e.time);
  }

  // --- messages -------------------------------------------------------------------

  private resolve(node: string, to: string, message: string): string | undefined {
    if (isPid(to)) return `${node}|${to}`;
    if (to.startsWith('#Ref<')) {
      // A reply to a gen_server call goes to the caller's alias: its tag names the caller.
      const tag = firstElement(message);
      return tag ? this.callTags.get(tag) : undefined;
    }
    return this.names.get(`${node}|${to}`);
  }

  private send(e: ScopeEvent): void {
    const sender = this.proc(e, e.pid as string);
    this.touch(sender, e.time);
    const message = text(e.attributes['beam.message']) ?? '';
    const call = genCall(message);
    if (call) this.callTags.set(call.tag, `${sender.node}|${call.caller}`);
    const to = text(e.attributes['beam.peer_pid']) ?? '';
    // A request carries its sender's pid (a gen_server call, {io_request, Self, ...}): its answer is no new work.
    // A reply carries none, so the peer's next message is a request of its own.
    if (call || message.includes(sender.pid)) sender.askedDuringHandling.add(to);
    const receiver = this.resolve(sender.node, to, message);
    if (!receiver) return;
    const ctx = this.active(sender);
    const pending: Pending = { message, receiver, from: sender.key, fromPid: sender.pid, matched: false, ...(ctx ? { ctx } : {}) };
    const inbox = this.inboxes.get(receiver);
    if (inbox) inbox.push(pending);
    else this.inboxes.set(receiver, [pending]);
    this.pendingOrder.push(pending);
    this.pendingCount++;
    this.sendsRecorded++;
    this.evictPending();
  }

  private evictPending(): void {
    while (this.pendingCount > this.options.maxPendingMessages && this.pendingHead < this.pendingOrder.length) {
      const oldest = this.pendingOrder[this.pendingHead++];
      if (oldest.matched) continue;
      oldest.matched = true;
      this.pendingCount--;
      const inbox = this.inboxes.get(oldest.receiver);
      if (inbox) {
        const i = inbox.indexOf(oldest);
        if (i >= 0) inbox.splice(i, 1);
        if (inbox.length === 0) this.inboxes.delete(oldest.receiver);
      }
      this.options.onEvict('max_pending_messages', 1);
    }
    // Compact the order queue when matched entries make up most of it, so it stays within about twice the bound.
    if (this.pendingOrder.length - this.pendingHead > 2 * this.options.maxPendingMessages + 1024) {
      this.pendingOrder = this.pendingOrder.slice(this.pendingHead).filter((p) => !p.matched);
      this.pendingHead = 0;
    }
  }

  private match(receiver: string, message: string): Pending | undefined {
    const inbox = this.inboxes.get(receiver);
    if (!inbox) return undefined;
    const i = inbox.findIndex((p) => p.message === message);
    if (i < 0) return undefined;
    const [pending] = inbox.splice(i, 1);
    if (inbox.length === 0) this.inboxes.delete(receiver);
    pending.matched = true;
    this.pendingCount--;
    this.sendsMatched++;
    return pending;
  }

  private receive(e: ScopeEvent): void {
    const proc = this.proc(e, e.pid as string);
    const message = text(e.attributes['beam.message']) ?? '';
    const matched = this.match(proc.key, message);
    const received: Received = { message, time: e.time };
    if (matched) {
      received.from = matched.fromPid;
      if (matched.ctx) {
        received.traceId = matched.ctx.traceId;
        received.spanId = matched.ctx.spanId;
      }
    }
    proc.recent.push(received);
    if (proc.recent.length > this.options.crashContextMessages) proc.recent.shift();
    const exited = exitSignal(message);
    if (exited) proc.exitSignal = { crashed: `${proc.node}|${exited}`, time: e.time };

    // Inside an open call or telemetry span, a receive is part of that work (a reply, a selective receive);
    // so is a reply to what the process asked while handling its current message. And a message seq_trace
    // already reported (exactly) is not handled twice.
    const seen = proc.handling?.bySeqTrace === true && proc.handling.message === message && proc.handling.span.startTimeUnixNano + SAME_RECEIVE_NS >= e.time;
    if (proc.stack.length === 0 && !seen && !(proc.handling && this.isReply(proc, message, matched))) {
      if (proc.handling) this.close(proc.handling, proc.handlingActivity);
      proc.handling = this.handlingSpan(proc, message, matched, e.time);
      proc.askedDuringHandling.clear();
    }
    this.touch(proc, e.time);
    proc.handlingActivity = e.time > proc.handlingActivity ? e.time : proc.handlingActivity;
  }

  /** A seq_trace send: its `{Previous, Current}` serial names exactly the receive it leads to. */
  private seqSend(e: ScopeEvent): void {
    const sender = this.proc(e, e.pid as string);
    this.touch(sender, e.time);
    const ctx = this.active(sender);
    const key = `${sender.node}|${text(e.attributes['beam.seq_trace.label']) ?? ''}|${text(e.attributes['beam.seq_trace.serial']) ?? ''}`;
    this.seqSends.set(key, { fromPid: sender.pid, ...(ctx ? { ctx } : {}) });
  }

  private seqReceive(e: ScopeEvent): void {
    const proc = this.proc(e, e.pid as string);
    const key = `${proc.node}|${text(e.attributes['beam.seq_trace.label']) ?? ''}|${text(e.attributes['beam.seq_trace.serial']) ?? ''}`;
    const sent = this.seqSends.get(key);
    if (!sent) return;
    this.seqSends.delete(key);
    const message = text(e.attributes['beam.message']) ?? '';
    this.touch(proc, e.time);
    const h = proc.handling;
    if (h && h.message === message && h.span.startTimeUnixNano + SAME_RECEIVE_NS >= e.time) {
      // The trace's own receive came first and was matched by content: note the exact serial.
      h.span.attributes['beam.seq_trace.serial'] = text(e.attributes['beam.seq_trace.serial']) ?? '';
      return;
    }
    if (proc.stack.length > 0) return;
    if (h) this.close(h, proc.handlingActivity);
    const exact: Pending = { message, receiver: proc.key, from: '', fromPid: sent.fromPid, matched: true, ...(sent.ctx ? { ctx: sent.ctx } : {}) };
    proc.handling = this.handlingSpan(proc, message, exact, e.time);
    proc.handling.bySeqTrace = true;
    proc.handling.span.attributes['beam.seq_trace.serial'] = text(e.attributes['beam.seq_trace.serial']) ?? '';
    proc.askedDuringHandling.clear();
  }

  /** A gen_server reply to this process's own call, a code/io server's answer, or a message from a process it asked. */
  private isReply(proc: Proc, message: string, matched: Pending | undefined): boolean {
    const head = firstElement(message);
    if (head !== null) {
      if (this.callTags.get(head) === proc.key) return true;
      if (REPLY_HEADS.has(head)) return true;
      // {Ref, Answer}: the answer to a request tagged with a reference (a call, an async process_info).
      if (head.startsWith('#Ref<') || head.startsWith('[alias|#Ref<')) return true;
      if (proc.askedDuringHandling.has(head)) return true; // {Name, Reply} from a registered server asked by name
    }
    return matched !== undefined && proc.askedDuringHandling.has(matched.fromPid);
  }

  private handlingSpan(proc: Proc, message: string, matched: Pending | undefined, time: bigint): OpenSpan {
    const call = genCall(message);
    const cast = call ? null : genCast(message);
    const callback = call ? 'handle_call' : cast !== null ? 'handle_cast' : 'handle_info';
    const label = requestLabel(call?.request ?? cast ?? message);
    const owner = proc.name ?? proc.initialCall ?? 'process';
    const attributes: Attributes = { 'beam.message': message, 'messaging.operation.type': 'receive' };
    if (matched) attributes['beam.peer_pid'] = matched.fromPid;
    else attributes['scope.untraced_sender'] = true;
    const open = this.open(proc, `${owner} ${callback}${label ? ` ${label}` : ''}`, call ? 'server' : 'consumer', time, matched?.ctx, 'message', attributes);
    open.message = message;
    if (matched) open.from = matched.fromPid;
    if (matched?.ctx) open.fromCtx = matched.ctx;
    return open;
  }

  // --- processes ------------------------------------------------------------------

  private spawn(node: string, parentPid: string | undefined, childPid: string | undefined, e: ScopeEvent): void {
    if (!parentPid || !childPid) return;
    const parent = this.proc(e, parentPid, node);
    const child = this.proc(e, childPid, node);
    if (child.spawnedIn === undefined) {
      const ctx = this.active(parent);
      if (ctx) child.spawnedIn = ctx;
    }
    const mfa = text(e.attributes['beam.mfa']);
    if (mfa && !child.initialCall) {
      const parsed = parseMfa(mfa);
      child.initialCall = parsed ? functionName(parsed) : mfa;
    }
    if (e.type !== 'process.spawn') return;
    this.touch(parent, e.time);
    // A supervisor that just got a trapped EXIT and now spawns: a restart.
    const signal = parent.exitSignal;
    if (signal && Number(e.time - signal.time) <= this.options.crashWindowMs * 1e6) {
      const crash = this.crashes.get(signal.crashed);
      if (crash) crash.restarts.push({ supervisor: parent.pid, new_pid: childPid, ...(child.initialCall ? { mfa: child.initialCall } : {}) });
      parent.exitSignal = undefined;
    }
  }

  private link(e: ScopeEvent, on: boolean): void {
    const peer = text(e.attributes['beam.peer_pid']);
    if (!peer || !isPid(peer)) return;
    const a = this.proc(e, e.pid as string);
    const b = this.proc(e, peer);
    if (on) {
      a.links.add(b.key);
      b.links.add(a.key);
    } else {
      a.links.delete(b.key);
      b.links.delete(a.key);
    }
  }

  private closeAll(proc: Proc, end: bigint, attributes: Attributes): void {
    for (let i = proc.stack.length - 1; i >= 0; i--) {
      const open = proc.stack[i];
      Object.assign(open.span.attributes, attributes);
      this.close(open, end);
    }
    proc.stack = [];
    if (proc.handling) {
      this.close(proc.handling, end);
      proc.handling = undefined;
    }
  }

  private exit(e: ScopeEvent): void {
    const proc = this.proc(e, e.pid as string);
    // No reason, no evidence of a crash.
    const reason = text(e.attributes['beam.reason']);
    if (reason !== undefined && isAbnormal(reason)) this.crash(proc, reason, e);
    this.closeAll(proc, e.time, { 'scope.span.unfinished': true });
    this.procs.delete(proc.key);
    // Messages sent to it that it never received: they will not be, now.
    const inbox = this.inboxes.get(proc.key);
    if (inbox) {
      for (const p of inbox) p.matched = true;
      this.pendingCount -= inbox.length;
      this.options.onEvict('receiver_exited', inbox.length);
      this.inboxes.delete(proc.key);
    }
    if (proc.name) this.names.delete(`${proc.node}|${proc.name}`);
  }

  private crash(proc: Proc, reason: string, e: ScopeEvent): void {
    // Died of a linked process's crash? Exit signals carry the same reason.
    const window = BigInt(this.options.crashWindowMs) * 1_000_000n;
    let cause: Crash | undefined;
    let inferred = false;
    for (const linked of proc.links) {
      const c = this.crashes.get(linked);
      if (c && c.reason === reason && e.time - c.time <= window && (!cause || c.time < cause.time)) cause = c;
    }
    // Links made before tracing began are invisible. An exit with the very same distinctive reason (a
    // stacktrace, not `killed`) on the same node just after another crash is taken as its propagation.
    if (!cause && reason !== 'killed' && reason.length >= 24) {
      for (const c of this.recentCrashes) {
        if (c.node === proc.node && c.key !== proc.key && c.reason === reason && e.time >= c.time && e.time - c.time <= window && (!cause || c.time < cause.time)) cause = c;
      }
      inferred = cause !== undefined;
    }
    const innermost = proc.stack[proc.stack.length - 1] ?? proc.handling;
    const stack = [...proc.stack].reverse().map((s) => s.span.name);
    const lastMessages = [...proc.recent];
    const record: Crash = {
      key: proc.key, node: proc.node, pid: proc.pid, time: e.time, reason,
      root: cause ? cause.root : proc.key, rootPid: cause ? cause.rootPid : proc.pid,
      ...(cause ? { causedBy: cause.pid } : {}),
      causeInferred: inferred,
      diedNext: [], restarts: [], lastMessages, stack,
      ...(proc.name ? { name: proc.name } : {}),
      ...(proc.initialCall ? { initialCall: proc.initialCall } : {}),
      exitEventId: e.id, emitAtMs: this.nowMs + this.options.crashWindowMs, emitted: false,
    };
    if (cause) cause.diedNext.push(proc.pid);
    const last = lastMessages[lastMessages.length - 1];
    const h = proc.handling;
    if (h?.message !== undefined) {
      record.poison = { message: h.message, ...(h.from ? { from: h.from } : {}), ...(h.fromCtx ? { ctx: h.fromCtx } : {}) };
    } else if (last) {
      record.poison = {
        message: last.message, ...(last.from ? { from: last.from } : {}),
        ...(last.traceId && last.spanId ? { ctx: { traceId: last.traceId, spanId: last.spanId } } : {}),
      };
    }

    // The ERROR span event, on the innermost open span (or a span of its own when none is open).
    const target = innermost ?? this.open(proc, `${proc.name ?? proc.initialCall ?? 'process'} crash`, 'internal', e.time, proc.spawnedIn, 'message', {});
    record.ctx = { traceId: target.span.traceId, spanId: target.span.spanId };
    target.span.status = { code: 'error', message: reason };
    target.span.events.push({
      name: 'exception',
      timeUnixNano: e.time,
      attributes: {
        'exception.type': 'exit',
        'exception.message': reason,
        'scope.crash.last_messages': lastMessages.map((m) => m.message),
        'scope.crash.last_senders': lastMessages.map((m) => m.from ?? ''),
        'scope.crash.stack': stack,
        ...(proc.handling?.message !== undefined ? { 'scope.crash.poison_message': proc.handling.message } : {}),
        ...(cause ? { 'scope.crash.caused_by': cause.pid } : {}),
      },
    });
    if (!innermost) this.close(target, e.time);
    this.crashes.set(proc.key, record);
    this.recentCrashes.push(record);
    if (this.recentCrashes.length > 64) this.recentCrashes.shift();
    this.unsent.push(record);
    // A crash storm: do not hold more than 10 000 crashes back for their window.
    if (this.unsent.length > 10_000) this.unsent[0].emitAtMs = this.nowMs;
  }

  private emitDueCrashes(): void {
    if (this.unsent.length === 0) return;
    const due = this.unsent.filter((c) => c.emitAtMs <= this.nowMs);
    if (due.length === 0) return;
    this.unsent = this.unsent.filter((c) => c.emitAtMs > this.nowMs);
    for (const c of due) {
      c.emitted = true;
      const rootCause = c.root === c.key;
      const attributes: Attributes = {
        'beam.reason': c.reason,
        'scope.crash.root_cause': rootCause,
        'scope.crash.root_pid': c.rootPid,
        'scope.crash.died_next': c.diedNext,
        'scope.crash.restarts': c.restarts,
        'scope.crash.stack': c.stack,
        'scope.crash.last_messages': c.lastMessages.map((m) => ({
          message: m.message, from: m.from ?? null, trace_id: m.traceId ?? null, span_id: m.spanId ?? null, time: m.time.toString(),
        })),
      };
      if (c.poison) {
        attributes['scope.crash.poison_message'] = c.poison.message;
        if (c.poison.from) attributes['scope.crash.poison_sender'] = c.poison.from;
        if (c.poison.ctx) {
          attributes['scope.crash.poison_sender_trace_id'] = c.poison.ctx.traceId;
          attributes['scope.crash.poison_sender_span_id'] = c.poison.ctx.spanId;
        }
      }
      if (c.causedBy) {
        attributes['scope.crash.caused_by'] = c.causedBy;
        attributes['scope.crash.cause_inferred'] = c.causeInferred;
      }
      if (c.name) attributes['beam.registered_name'] = c.name;
      if (c.initialCall) attributes['beam.mfa'] = c.initialCall;
      this.out.events.push({
        id: `${c.exitEventId}-crash-${(this.crashSeq++).toString(36)}`,
        type: 'process.crash',
        schemaVersion: 1,
        time: c.time,
        source: { node: c.node, component: this.options.component },
        pid: c.pid,
        ...(c.ctx ? { traceId: c.ctx.traceId, spanId: c.ctx.spanId } : {}),
        causationId: c.exitEventId,
        attributes,
      });
      this.options.onCrash(rootCause);
    }
  }

  // --- telemetry -------------------------------------------------------------------

  private telemetry(e: ScopeEvent): void {
    const info = readTelemetry(e);
    if (!info) return;
    const proc = this.proc(e, e.pid as string);
    this.touch(proc, e.time);
    const { measurements: _m, ...attrs } = e.attributes;

    if (info.prefix === 'phoenix.router_dispatch') return this.routerDispatch(proc, info.phase, attrs, e.time);

    if (info.phase === 'start') {
      const parent = this.active(proc);
      const shape = shapeOf(info.prefix, attrs);
      const open = this.open(proc, shape.name, !parent && isEntryPoint(info.prefix) ? 'server' : shape.kind, e.time, parent, 'telemetry', {});
      open.prefix = info.prefix;
      open.telemetry = { ...attrs };
      if (info.context) {
        open.context = info.context;
        this.byContext.set(info.context, open);
      }
      proc.stack.push(open);
      return;
    }
    if (info.phase === 'single') {
      const shape = shapeOf(info.prefix, attrs);
      const start = e.time - singleDurationNs(e);
      const open = this.open(proc, shape.name, shape.kind, start, this.active(proc), 'telemetry', shape.attributes);
      if (shape.error) open.span.status = { code: 'error', message: shape.error };
      this.close(open, e.time);
      return;
    }
    // stop / exception
    let open = info.context ? this.byContext.get(info.context) : undefined;
    if (!open) {
      for (let i = proc.stack.length - 1; i >= 0 && !open; i--) if (proc.stack[i].prefix === info.prefix) open = proc.stack[i];
    }
    if (open) {
      this.removeFromStack(open);
      if (open.context) this.byContext.delete(open.context);
    } else {
      // A stop without its start (the forwarder attached mid-request): the duration gives the start.
      const m = e.attributes.measurements as Attributes | undefined;
      const duration = typeof m?.duration_ns === 'number' ? BigInt(Math.round(m.duration_ns)) : 0n;
      open = this.open(proc, info.prefix, 'internal', e.time - duration, this.active(proc), 'telemetry', {});
      open.prefix = info.prefix;
    }
    const merged = { ...(open.telemetry ?? {}), ...attrs };
    const shape = shapeOf(info.prefix, merged);
    open.span.name = shape.name;
    if (open.span.spanKind !== 'server') open.span.spanKind = shape.kind;
    Object.assign(open.span.attributes, shape.attributes);
    if (info.phase === 'exception') this.markException(open, attrs, e.time);
    else if (shape.error && open.span.status.code !== 'error') open.span.status = { code: 'error', message: shape.error };
    this.close(open, e.time);
  }

  private removeFromStack(open: OpenSpan): void {
    const key = `${open.span.attributes['beam.node'] as string}|${open.span.attributes['beam.pid'] as string}`;
    const proc = this.procs.get(key);
    if (!proc) return;
    const i = proc.stack.indexOf(open);
    if (i >= 0) proc.stack.splice(i, 1);
  }

  private markException(open: OpenSpan, attrs: Attributes, time: bigint): void {
    const ex = exceptionOf(attrs);
    open.span.status = { code: 'error', message: ex.message };
    open.span.events.push({
      name: 'exception', timeUnixNano: time,
      attributes: { 'exception.type': ex.type, 'exception.message': ex.message, ...(ex.stacktrace ? { 'exception.stacktrace': ex.stacktrace } : {}) },
    });
  }

  /** Phoenix's router_dispatch adds the route to the endpoint span (as opentelemetry_phoenix does) rather than a span of its own. */
  private routerDispatch(proc: Proc, phase: string, attrs: Attributes, time: bigint): void {
    let endpoint: OpenSpan | undefined;
    for (let i = proc.stack.length - 1; i >= 0 && !endpoint; i--) if (proc.stack[i].prefix === 'phoenix.endpoint') endpoint = proc.stack[i];
    if (!endpoint) return;
    endpoint.telemetry = { ...(endpoint.telemetry ?? {}), route: attrs.route ?? null, plug: attrs.plug ?? null, plug_opts: attrs.plug_opts ?? null };
    const shape = shapeOf('phoenix.endpoint', endpoint.telemetry);
    endpoint.span.name = shape.name;
    if (phase === 'exception') this.markException(endpoint, attrs, time);
  }
}
