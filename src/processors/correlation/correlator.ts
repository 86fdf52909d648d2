/**
 * The correlation state machine: BEAM trace and telemetry events in, spans and
 * process.crash events out. This file keeps the processes and routes each
 * event to the part that owns it:
 *
 * - calls.ts — traced calls as spans on a per-process stack;
 * - messages.ts — sends matched to receives, handling spans, replies, timeouts;
 * - mailbox.ts — with gen_server callbacks traced, which delivered message the process took;
 * - crashes.ts + crash_rules.ts — exits classified as OTP defines crashes, cascades, restarts;
 * - identity.ts — initial calls, behaviours, names, roles;
 * - telemetry_spans.ts — :telemetry start/stop pairs;
 * - spans.ts — ids and trace bounds.
 *
 * Every map is bounded and every eviction counted (see config.ts).
 */
import type { Attributes, ScopeEvent, Span } from '../../model/types.js';
import type { StringMatcher } from '../../util/match.js';
import { CallStacks } from './calls.js';
import { callbackModuleOf } from './mailbox.js';
import { ProcTable } from './procs.js';
import type { CrashRule } from './crash_rules.js';
import { Crashes } from './crashes.js';
import { identityFrom, learn } from './identity.js';
import { withLegacyStructure } from './legacy.js';
import { Messages } from './messages.js';
import { SpanBook, activeCtx } from './spans.js';
import { procKey, text, type OpenSpan, type Proc, type SpanOrigin } from './state.js';
import { TelemetrySpans } from './telemetry_spans.js';

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
  /** A trace lasts at most this long (event time); later work continues in a new trace linked to it. */
  maxTraceDurationMs?: number;
  maxStackDepth: number;
  serviceName?: string;
  ignoreExitReasons?: StringMatcher;
  ignoreInitialCalls?: StringMatcher;
  onEvict(reason: string, count: number): void;
  onSpan(origin: SpanOrigin): void;
  onCrash(rootCause: boolean): void;
  onExitClassified?(rule: CrashRule): void;
}

export interface Output {
  spans: Span[];
  events: ScopeEvent[];
}

export class Correlator {
  private readonly procs: ProcTable;
  private readonly spans: SpanBook;
  private readonly calls: CallStacks;
  private readonly messages: Messages;
  private readonly crashes: Crashes;
  private readonly telemetry: TelemetrySpans;
  private events: ScopeEvent[] = [];
  private nowMs = 0;

  constructor(private readonly options: CorrelatorOptions) {
    this.spans = new SpanBook({
      maxSpansPerTrace: options.maxSpansPerTrace,
      maxTraceDurationNs: BigInt(options.maxTraceDurationMs ?? 60_000) * 1_000_000n,
      maxTraces: options.maxPendingMessages,
      onRollover: (reason) => options.onEvict(reason, 1),
      onSpan: options.onSpan,
    });
    this.procs = new ProcTable(options.maxTrackedProcesses, (proc) => {
      options.onEvict('max_tracked_processes', 1);
      this.closeAll(proc, proc.handlingActivity, { 'scope.span.unfinished': true });
    });
    this.calls = new CallStacks(this.spans, options);
    this.messages = new Messages(this.spans, options);
    this.crashes = new Crashes(this.spans, {
      component: options.component,
      crashWindowMs: options.crashWindowMs,
      ignore: {
        ...(options.ignoreExitReasons ? { reasons: options.ignoreExitReasons } : {}),
        ...(options.ignoreInitialCalls ? { initialCalls: options.ignoreInitialCalls } : {}),
      },
      onCrash: options.onCrash,
      onExitClassified: options.onExitClassified ?? (() => undefined),
    });
    this.telemetry = new TelemetrySpans(this.spans, options.maxPendingMessages, options.onEvict, (open) => this.procOf(open));
  }

  /** Correlates a batch's events; returns the spans and events made (closed spans, due crashes). */
  process(events: readonly ScopeEvent[], nowMs: number): Output {
    this.setNow(nowMs);
    for (const e of events) this.event(e);
    this.crashes.emitDue(nowMs, this.events);
    return this.take();
  }

  /** Timeouts by the wall clock: unfinished calls, idle handling spans, crashes whose window has passed. */
  sweep(nowMs: number): Output {
    this.setNow(nowMs);
    for (const proc of this.procs.values()) {
      if (proc.handling && proc.stack.length === 0 && nowMs - proc.handlingActivityMs >= this.options.idleMs) {
        this.spans.close(proc.handling, proc.handlingActivity);
        proc.handling = undefined;
        this.messages.flushQueued(proc);
      }
      this.calls.sweep(proc, nowMs);
    }
    this.spans.sweepContinuations(nowMs, this.options.idleMs);
    this.crashes.emitDue(nowMs, this.events);
    return this.take();
  }

  /** When the next crash is due to be emitted (wall-clock ms), if one is waiting for its consequences. */
  get nextCrashDueMs(): number | undefined {
    return this.crashes.nextDueMs;
  }

  /** Emits the crashes whose window has ended, and nothing else (cheap: no walk over the processes). */
  emitDueCrashes(nowMs: number): Output {
    this.setNow(nowMs);
    this.crashes.emitDue(nowMs, this.events);
    return this.take();
  }

  /** Closes everything (the stream ended): open spans as unfinished, crashes at once. */
  flush(): Output {
    for (const proc of this.procs.values()) this.closeAll(proc, proc.handlingActivity, { 'scope.span.unfinished': true });
    this.procs.clear();
    this.spans.sweepContinuations(Number.MAX_SAFE_INTEGER, 0);
    this.setNow(Number.MAX_SAFE_INTEGER);
    this.crashes.emitDue(Number.MAX_SAFE_INTEGER, this.events);
    return this.take();
  }

  /** Sizes of the bounded state and the send accounting, for tests and soak runs. */
  stats(): Record<string, number> {
    return {
      processes: this.procs.size, ...this.messages.stats(), telemetryContexts: this.telemetry.size, traces: this.spans.traceCount,
      ...this.crashes.stats(),
    };
  }

  private setNow(nowMs: number): void {
    this.nowMs = nowMs;
    this.spans.nowMs = nowMs;
  }

  private take(): Output {
    const out = { spans: this.spans.take(), events: this.events };
    this.events = [];
    return out;
  }

  // --- per event --------------------------------------------------------------

  private event(event: ScopeEvent): void {
    const pid = event.pid;
    const e = withLegacyStructure(event);
    // Ports carry data in and out; they do no work of their own to make spans of.
    if (pid === undefined || pid.startsWith('#Port<')) return;
    const t = e.type;
    if (t.startsWith('telemetry.')) {
      const proc = this.touched(e, pid);
      return this.telemetry.event(proc, e);
    }
    switch (t) {
      case 'function.call': {
        // The callback first: the handling it ends closes at its own last activity, not at this call.
        const proc = this.proc(e, pid);
        const callback = proc.stack.length === 0 ? callbackModuleOf(e, proc.id.callbackModule) : undefined;
        if (callback !== undefined) this.messages.callback(proc, e, callback);
        this.touch(proc, e.time);
        return this.calls.call(proc, e);
      }
      case 'function.return': return this.calls.returned(this.touched(e, pid), e, false);
      case 'function.exception': return this.calls.returned(this.touched(e, pid), e, true);
      case 'function.return_to': return this.calls.returnTo(this.touched(e, pid), e);
      case 'message.send': return this.messages.send(this.touched(e, pid), e);
      case 'message.receive': return this.receive(e, pid);
      case 'seq_trace.send': return this.messages.seqSend(this.touched(e, pid), e);
      case 'seq_trace.receive': {
        const proc = this.proc(e, pid);
        this.messages.seqReceive(proc, e);
        return this.touch(proc, e.time);
      }
      case 'process.spawn': return this.spawn(e, pid, text(e.attributes['beam.peer_pid']));
      case 'process.spawned': return this.spawn(e, text(e.attributes['beam.peer_pid']), pid);
      case 'process.link':
      case 'process.getting_linked': return this.link(e, pid, true);
      case 'process.unlink':
      case 'process.getting_unlinked': return this.link(e, pid, false);
      case 'process.register': {
        const name = text(e.attributes['beam.registered_name']);
        if (name) {
          const proc = this.proc(e, pid);
          proc.name = name;
          this.messages.register(proc, name);
        }
        return;
      }
      case 'process.snapshot': return this.snapshot(e, pid);
      case 'process.exit': return this.exit(e, pid);
      default:
    }
  }

  private proc(e: ScopeEvent, pid: string, node = e.source.node): Proc {
    let proc = this.procs.get(node, pid);
    if (!proc) {
      proc = {
        key: procKey(node, pid), node, pid, stack: [], overflow: 0, recent: [], links: new Set(), askedDuringHandling: new Set(), handlingActivity: e.time, handlingActivityMs: this.nowMs,
        service: '', resource: {}, id: {}, exitNotices: [],
      };
      this.setService(proc, this.options.serviceName ?? e.source.app ?? node.split('@')[0] ?? node);
      this.procs.add(proc);
    } else {
      this.procs.touch(proc); // least recently active is evicted first
      if (e.source.app && !this.options.serviceName && proc.service !== e.source.app) this.setService(proc, e.source.app);
    }
    return proc;
  }

  /** The process, marked active at the event's time. */
  private touched(e: ScopeEvent, pid: string): Proc {
    const proc = this.proc(e, pid);
    this.touch(proc, e.time);
    return proc;
  }

  private procOf(open: OpenSpan): Proc | undefined {
    return this.procs.get(open.span.attributes['beam.node'] as string, open.span.attributes['beam.pid'] as string);
  }

  private setService(proc: Proc, service: string): void {
    proc.service = service;
    proc.resource = { 'service.name': service, 'beam.node': proc.node };
  }

  private touch(proc: Proc, time: bigint): void {
    if (time > proc.handlingActivity) proc.handlingActivity = time;
    proc.handlingActivityMs = this.nowMs;
  }

  private receive(e: ScopeEvent, pid: string): void {
    const proc = this.proc(e, pid);
    const taken = this.messages.receive(proc, e);
    if (taken?.kind === 'exit') {
      const from = text(e.attributes['beam.exit.from']);
      if (from) {
        this.crashes.exitNoticed(proc, {
          from: procKey(proc.node, from), reason: text(e.attributes['beam.exit.reason']) ?? '',
          reasonClass: text(e.attributes['beam.exit.reason_class']) ?? 'other', message: taken.message, time: e.time,
        });
      }
    }
    this.touch(proc, e.time);
  }

  // --- processes ------------------------------------------------------------------

  private spawn(e: ScopeEvent, parentPid: string | undefined, childPid: string | undefined): void {
    if (!parentPid || !childPid) return;
    const node = e.source.node;
    const parent = this.proc(e, parentPid, node);
    const child = this.proc(e, childPid, node);
    child.parent ??= parent.key;
    if (child.spawnedIn === undefined) {
      const ctx = activeCtx(parent);
      if (ctx) child.spawnedIn = ctx;
    }
    if (e.type === 'process.spawn' || child.id.initialCall === undefined) learn(child, identityFrom(e, node));
    // proc_lib puts the spawner's registered name first in $ancestors: a name for a parent registered before the attach.
    const named = child.id.ancestors?.[0];
    if (named !== undefined && !named.includes('|') && parent.name === undefined) {
      parent.name = named;
      this.messages.register(parent, named);
    }
    if (e.type !== 'process.spawn') return;
    this.touch(parent, e.time);
    this.crashes.spawned(parent, child, e.time);
  }

  private snapshot(e: ScopeEvent, pid: string): void {
    const proc = this.proc(e, pid);
    learn(proc, identityFrom(e, proc.node));
    const name = text(e.attributes['beam.registered_name']);
    if (name && !proc.name) {
      proc.name = name;
      this.messages.register(proc, name);
    }
    const links = e.attributes['beam.links'];
    if (Array.isArray(links)) {
      for (const l of links) {
        if (typeof l !== 'string' || !l.startsWith('<0.')) continue;
        const peer = this.proc(e, l);
        proc.links.add(peer.key);
        peer.links.add(proc.key);
      }
    }
  }

  private link(e: ScopeEvent, pid: string, on: boolean): void {
    const peer = text(e.attributes['beam.peer_pid']);
    if (!peer || !peer.startsWith('<0.')) return;
    const a = this.proc(e, pid);
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
      this.spans.close(open, end);
    }
    proc.stack = [];
    if (proc.handling) {
      this.spans.close(proc.handling, end);
      proc.handling = undefined;
    }
  }

  private exit(e: ScopeEvent, pid: string): void {
    const proc = this.proc(e, pid);
    this.crashes.exit(proc, e, this.calls.openCalls(proc));
    this.closeAll(proc, e.time, { 'scope.span.unfinished': true });
    this.procs.delete(proc);
    this.messages.forget(proc);
  }
}
