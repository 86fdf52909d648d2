/**
 * Messages across processes. A `message.send` remembers the sender's active
 * context; the matching `message.receive` (same receiver, same message, first
 * in order) opens the receiver's handling span as its child, so work crosses
 * processes within one trace. gen_server replies go to an alias: the call's
 * tag leads them back to the caller. seq_trace serials match exactly.
 *
 * What is not new work: a reply to what the process asked while handling its
 * current message, and a `receive … after` that timed out (the atom `timeout`
 * with no such message pending) — never a handled message, never a parent.
 * Where outside work enters — data from a port or socket, a timer — a new
 * trace starts.
 */
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import { moduleLabel } from './identity.js';
import { activeCtx, type SpanBook } from './spans.js';

/** Replies of code_server and io servers, in either term syntax (`{code_server,…}`, `{:io_reply, …}`). */
const RUNTIME_REPLY = /^\{:?(?:code_server|io_reply),/;
import { callbackArgument, callbackRequest } from './mailbox.js';
import { procKey, text, type Ctx, type OpenSpan, type Proc, type QueuedWork, type Received } from './state.js';

export interface MessageOptions {
  maxPendingMessages: number;
  maxTrackedProcesses: number;
  crashContextMessages: number;
  onEvict(reason: string, count: number): void;
}

interface Pending {
  message: string;
  receiver: string;
  fromPid: string;
  ctx?: Ctx;
  matched: boolean;
}

/** A trace receive and a seq_trace receive of the same message are this close in time. */
const SAME_RECEIVE_NS = 1_000_000n;
/** Answers of OTP's own servers to requests a process makes while handling a message. */
const REPLY_LABELS = new Set(['code_server', 'file_reply', 'global_name_server']);
/** Outside work entering the node: these start a trace of their own. */
const ROOT_KINDS = new Set(['port', 'timer']);
const LOCAL_PID = /^<0\.\d+\.\d+>$/;
/** Messages waiting for their callback, per process; past it the oldest is taken as handled with none. */
const MAX_QUEUED = 64;

export class Messages {
  private readonly inboxes: BoundedMap<string, Pending[]>;
  private pendingOrder: Pending[] = [];
  private pendingHead = 0;
  private pendingCount = 0;
  /** gen_server call tag → the caller's key (replies are sent to an alias, not to the pid). */
  private readonly callTags: BoundedMap<string, string>;
  /** seq_trace sends by node, label and serial: the sender's context at the send. */
  private readonly seqSends: BoundedMap<string, { fromPid: string; ctx?: Ctx }>;
  private readonly names: BoundedMap<string, string>;
  /** Sends to a name registered before the attach (no register event seen), by node and message: the receive names it. */
  private readonly toNames: BoundedMap<string, Array<{ name: string; pending: Pending }>>;
  /** Callback modules, by node, whose gen_server callbacks were seen called: traced (mailbox.ts). Few: no bound needed beyond the code loaded. */
  private readonly tracedCallbacks = new Map<string, Set<string>>();
  sendsRecorded = 0;
  sendsMatched = 0;

  constructor(
    private readonly spans: SpanBook,
    private readonly options: MessageOptions,
  ) {
    const evict = (reason: string) => () => options.onEvict(reason, 1);
    this.inboxes = new BoundedMap(options.maxTrackedProcesses, (_k, inbox) => {
      const live = inbox.filter((p) => !p.matched);
      for (const p of live) p.matched = true;
      this.pendingCount -= live.length;
      if (live.length > 0) options.onEvict('max_pending_messages', live.length);
    });
    this.callTags = new BoundedMap(options.maxPendingMessages, evict('call_tags'));
    this.seqSends = new BoundedMap(options.maxPendingMessages, evict('seq_trace_sends'));
    this.names = new BoundedMap(options.maxTrackedProcesses, () => undefined);
    this.toNames = new BoundedMap(options.maxPendingMessages, (_k, list) => options.onEvict('unresolved_names', list.length));
  }

  stats(): Record<string, number> {
    return {
      inboxes: this.inboxes.size, pending: this.pendingCount, pendingOrder: this.pendingOrder.length - this.pendingHead,
      callTags: this.callTags.size, sendsRecorded: this.sendsRecorded, sendsMatched: this.sendsMatched,
    };
  }

  register(proc: Proc, name: string): void {
    this.names.set(procKey(proc.node, name), proc.key);
  }

  /** The process is gone: messages sent to it that it never received will not be, now. */
  forget(proc: Proc): void {
    const inbox = this.inboxes.get(proc.key);
    if (inbox) {
      for (const p of inbox) p.matched = true;
      this.pendingCount -= inbox.length;
      this.options.onEvict('receiver_exited', inbox.length);
      this.inboxes.delete(proc.key);
    }
    if (proc.name) this.names.delete(procKey(proc.node, proc.name));
  }

  send(sender: Proc, e: ScopeEvent): void {
    const message = text(e.attributes['beam.message']) ?? '';
    const kind = text(e.attributes['beam.message.kind']);
    const to = text(e.attributes['beam.peer_pid']) ?? '';
    if (kind === 'call') {
      const tag = text(e.attributes['beam.call.tag']);
      const from = text(e.attributes['beam.call.from']) ?? sender.pid;
      if (tag) this.callTags.set(tag, procKey(sender.node, from));
    }
    // A request carries its sender's pid (a gen_server call, {io_request, Self, ...}): its answer is no new work.
    // A reply carries none, so the peer's next message is a request of its own.
    if (kind === 'call' || message.includes(sender.pid)) sender.askedDuringHandling.add(to);
    const receiver = this.resolve(sender.node, to, e);
    const ctx = activeCtx(sender);
    if (!receiver) {
      if (to !== '' && !to.startsWith('<') && !to.startsWith('#')) {
        const key = `${sender.node}|${message}`;
        const item = { name: to, pending: { message, receiver: '', fromPid: sender.pid, matched: false, ...(ctx ? { ctx } : {}) } };
        const list = this.toNames.get(key);
        if (list) list.push(item);
        else this.toNames.set(key, [item]);
      }
      return;
    }
    const pending: Pending = { message, receiver, fromPid: sender.pid, matched: false, ...(ctx ? { ctx } : {}) };
    const inbox = this.inboxes.get(receiver);
    if (inbox) inbox.push(pending);
    else this.inboxes.set(receiver, [pending]);
    this.pendingOrder.push(pending);
    this.pendingCount++;
    this.sendsRecorded++;
    this.evictPending();
  }

  /**
   * A receive: the message taken (for crash context), or undefined for a `receive … after` that timed out.
   * Opens a handling span when the message is new work.
   */
  receive(proc: Proc, e: ScopeEvent): Received | undefined {
    const message = text(e.attributes['beam.message']) ?? '';
    const kind = text(e.attributes['beam.message.kind']) ?? 'info';
    if (kind === 'timeout' && !this.isPending(proc.key, message)) {
      // Not a message: the process's next work has no sender. Its handling so far ends here.
      if (proc.handling && proc.stack.length === 0) {
        this.spans.close(proc.handling, proc.handlingActivity);
        proc.handling = undefined;
        this.flushQueued(proc);
      }
      return undefined;
    }
    const matched = this.match(proc.key, message) ?? this.matchByName(proc, message);
    const answer = this.isReply(proc, e, kind, matched);
    const received: Received = { message, kind, time: e.time, ...(answer ? { answer } : {}) };
    if (matched) {
      received.from = matched.fromPid;
      if (matched.ctx) {
        received.traceId = matched.ctx.traceId;
        received.spanId = matched.ctx.spanId;
      }
    }
    // The runtime's own replies (a module loaded on first use, an io request answered) are not the process's
    // story: a process writing its crash report loads a dozen modules, which would push its poison out.
    if (!RUNTIME_REPLY.test(message)) {
      proc.recent.push(received);
      if (proc.recent.length > this.options.crashContextMessages) proc.recent.shift();
    }

    // Inside an open call or telemetry span, a receive is part of that work (a reply, a selective receive);
    // so is a reply to what the process asked while handling its current message. And a message seq_trace
    // already reported (exactly) is not handled twice.
    const seen = proc.handling?.bySeqTrace === true && proc.handling.message === message && proc.handling.span.startTimeUnixNano + SAME_RECEIVE_NS >= e.time;
    if (proc.stack.length === 0 && !seen && !(proc.handling && answer)) {
      const work: QueuedWork = { event: e, message, kind, received, ...(matched ? { from: matched } : {}) };
      // Its callbacks traced, a process whose current message was not taken yet is still on it: this one waits.
      if (proc.handling && (!proc.handling.taken || (proc.queued?.length ?? 0) > 0) && this.callbacksTraced(proc)) {
        (proc.queued ??= []).push(work);
        if (proc.queued.length > MAX_QUEUED) this.pointWork(proc, proc.queued.shift() as QueuedWork);
      } else {
        this.takeWork(proc, work, e.time);
      }
    } else if (!answer) {
      proc.lastWork = received;
    }
    return received;
  }

  /**
   * A gen_server callback called with nothing open on the process: it took a message. The current handling's,
   * or a queued one's (by the callback's argument, else the oldest): that one's handling starts now, and queued
   * messages before it (taken with no callback, as sys messages are) end where they were delivered.
   */
  callback(proc: Proc, e: ScopeEvent, module: string): void {
    proc.callbacksTraced = true;
    let modules = this.tracedCallbacks.get(proc.node);
    if (!modules) this.tracedCallbacks.set(proc.node, (modules = new Set()));
    modules.add(module);
    const h = proc.handling;
    const queued = proc.queued;
    if (!queued || queued.length === 0) {
      if (h) h.taken = true;
      return;
    }
    const argument = callbackArgument(e);
    const isIt = (message: string, kind: string): boolean => argument !== undefined && callbackRequest(message, kind) === argument;
    const found = queued.findIndex((w) => isIt(w.message, w.kind));
    if (h && !h.taken && (found < 0 || isIt(h.message ?? '', text(h.span.attributes['beam.message.kind']) ?? 'info'))) {
      h.taken = true;
      return;
    }
    const at = Math.max(0, found);
    if (h) {
      this.spans.close(h, proc.handlingActivity);
      proc.handling = undefined;
    }
    for (const skipped of queued.splice(0, at)) this.pointWork(proc, skipped);
    this.takeWork(proc, queued.shift() as QueuedWork, e.time);
    (proc.handling as OpenSpan).taken = true;
  }

  /** Its callbacks are traced: seen called, or those of its module on its node (trace patterns are per module). */
  private callbacksTraced(proc: Proc): boolean {
    if (proc.callbacksTraced) return true;
    const module = proc.id.callbackModule;
    if (module === undefined || this.tracedCallbacks.get(proc.node)?.has(module) !== true) return false;
    proc.callbacksTraced = true;
    return true;
  }

  /** Queued messages with no callback to come (the process went quiet, or exited): each ends where it was delivered. */
  flushQueued(proc: Proc): void {
    for (const work of proc.queued?.splice(0) ?? []) this.pointWork(proc, work);
  }

  /** The process takes a message: its handling span starts at `start` (and is current until the next). */
  private takeWork(proc: Proc, work: QueuedWork, start: bigint): void {
    if (proc.handling) this.spans.close(proc.handling, proc.handlingActivity);
    proc.handling = this.workSpan(proc, work, start);
    if (start > work.event.time) proc.handling.span.attributes['beam.message.queued_ns'] = Number(start - work.event.time);
    proc.askedDuringHandling.clear();
    proc.lastWork = work.received;
  }

  /** A message taken with no callback of its own (a sys message), or never: a span at its delivery, closed there. */
  private pointWork(proc: Proc, work: QueuedWork): void {
    this.spans.close(this.workSpan(proc, work, work.event.time), work.event.time);
  }

  private workSpan(proc: Proc, work: QueuedWork, time: bigint): OpenSpan {
    const root = ROOT_KINDS.has(work.kind);
    const open = this.handlingSpan(proc, work.event, work.message, work.kind, root ? undefined : work.from, time);
    if (root) open.span.attributes['scope.trace.entry'] = work.kind;
    return open;
  }

  /** A seq_trace send: its `{Previous, Current}` serial names exactly the receive it leads to. */
  seqSend(sender: Proc, e: ScopeEvent): void {
    const ctx = activeCtx(sender);
    this.seqSends.set(this.seqKey(sender, e), { fromPid: sender.pid, ...(ctx ? { ctx } : {}) });
  }

  seqReceive(proc: Proc, e: ScopeEvent): void {
    const key = this.seqKey(proc, e);
    const sent = this.seqSends.get(key);
    if (!sent) return;
    this.seqSends.delete(key);
    const message = text(e.attributes['beam.message']) ?? '';
    const serial = text(e.attributes['beam.seq_trace.serial']) ?? '';
    const h = proc.handling;
    if (h && h.message === message && h.span.startTimeUnixNano + SAME_RECEIVE_NS >= e.time) {
      // The trace's own receive came first and was matched by content: note the exact serial.
      h.span.attributes['beam.seq_trace.serial'] = serial;
      return;
    }
    if (proc.stack.length > 0) return;
    if (h) this.spans.close(h, proc.handlingActivity);
    const exact: Pending = { message, receiver: proc.key, fromPid: sent.fromPid, matched: true, ...(sent.ctx ? { ctx: sent.ctx } : {}) };
    proc.handling = this.handlingSpan(proc, e, message, text(e.attributes['beam.message.kind']) ?? 'info', exact, e.time);
    proc.handling.bySeqTrace = true;
    proc.handling.span.attributes['beam.seq_trace.serial'] = serial;
    proc.askedDuringHandling.clear();
  }

  private seqKey(proc: Proc, e: ScopeEvent): string {
    return `${proc.node}|${text(e.attributes['beam.seq_trace.label']) ?? ''}|${text(e.attributes['beam.seq_trace.serial']) ?? ''}`;
  }

  private resolve(node: string, to: string, e: ScopeEvent): string | undefined {
    if (LOCAL_PID.test(to)) return procKey(node, to);
    if (to.startsWith('#Ref<')) {
      // A reply to a gen_server call goes to the caller's alias: its tag names the caller.
      const tag = text(e.attributes['beam.call.tag']);
      return tag ? this.callTags.get(tag) : undefined;
    }
    // Another node's pid (`<cli@host.98.0>`) or a port: not received on this node's stream.
    if (to.startsWith('<') || to.startsWith('#')) return undefined;
    return this.names.get(procKey(node, to));
  }

  private isPending(receiver: string, message: string): boolean {
    const inbox = this.inboxes.get(receiver);
    return inbox !== undefined && inbox.some((p) => !p.matched && p.message === message);
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

  /** A message sent to a name we did not know: the process receiving it is that name. */
  private matchByName(proc: Proc, message: string): Pending | undefined {
    const key = `${proc.node}|${message}`;
    const list = this.toNames.get(key);
    if (!list) return undefined;
    const item = list.shift() as { name: string; pending: Pending };
    if (list.length === 0) this.toNames.delete(key);
    if (proc.name === undefined) {
      proc.name = item.name;
      this.register(proc, item.name);
    }
    item.pending.matched = true;
    return item.pending;
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

  /** A gen_server reply to this process's own call, a code/io server's answer, or a message from a process it asked. */
  private isReply(proc: Proc, e: ScopeEvent, kind: string, matched: Pending | undefined): boolean {
    if (kind === 'reply' || kind === 'io_reply') return true; // {Ref, Answer}: a call's, an async request's
    const label = text(e.attributes['beam.request']);
    if (label !== undefined) {
      if (REPLY_LABELS.has(label)) return true;
      if (proc.askedDuringHandling.has(label)) return true; // {Name, Reply} from a registered server asked by name
    }
    return matched !== undefined && proc.askedDuringHandling.has(matched.fromPid);
  }

  private handlingSpan(proc: Proc, e: ScopeEvent, message: string, kind: string, matched: QueuedWork['from'], time: bigint): OpenSpan {
    const label = text(e.attributes['beam.request']);
    const owner = moduleLabel(proc);
    const statem = proc.id.behaviour === 'gen_statem';
    const callback = kind === 'call' ? (statem ? 'call' : 'handle_call') : kind === 'cast' ? (statem ? 'cast' : 'handle_cast') : statem ? 'info' : 'handle_info';
    const attributes: Attributes = { 'beam.message': message, 'beam.message.kind': kind, 'messaging.operation.type': 'receive' };
    if (matched) attributes['beam.peer_pid'] = matched.fromPid;
    else attributes['scope.untraced_sender'] = true;
    const name = `${owner} ${callback}${label !== undefined ? ` ${label}` : ''}`;
    const open = this.spans.open(proc, name, kind === 'call' ? 'server' : 'consumer', time, matched?.ctx, 'message', attributes);
    open.message = message;
    if (matched) open.from = matched.fromPid;
    if (matched?.ctx) open.fromCtx = matched.ctx;
    return open;
  }
}
