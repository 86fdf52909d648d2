/**
 * Crash analysis: every abnormal exit (and every exit caused by one) is kept
 * for `crash_window`, while its consequences arrive — linked processes dying
 * of it, supervisors receiving its `'EXIT'` and taking their trees down or
 * restarting it — then classified by the rules in crash_rules.ts. A crash
 * becomes a `process.crash` event: the root cause of a cascade with every
 * process that went down after it, or a crash caused by another.
 */
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import { classifyExit, decidedAtExit, type CrashRule, type ExitFacts, type IgnoreRules, type Trigger } from './crash_rules.js';
import { isSupervisor } from './identity.js';
import { type SpanBook } from './spans.js';
import { text, type Ctx, type ExitNotice, type Proc, type Received } from './state.js';

export interface CrashOptions {
  component: string;
  crashWindowMs: number;
  ignore: IgnoreRules;
  onCrash(rootCause: boolean): void;
  onExitClassified(rule: CrashRule): void;
}

/** A process that received a recorded exit's 'EXIT'. */
interface Notified {
  record: ExitRecord;
  time: bigint;
  /** The exit was abnormal and the receiver was not being shut down itself: what a supervisor reports. */
  reportable: boolean;
}

interface ExitRecord {
  key: string;
  node: string;
  pid: string;
  time: bigint;
  reason: string;
  reasonClass: string;
  error?: string;
  stack: string[];
  name?: string;
  parentKey?: string;
  facts: ExitFacts;
  behaviour?: string;
  poison?: { message: string; from?: string; ctx?: Ctx };
  lastMessages: Received[];
  cause?: ExitRecord;
  /** The process whose exit signal stopped it, also when that process lives on (no exit of its own to point at). */
  causedBy?: string;
  causeInferred: boolean;
  /** Exits it caused directly, and (for the first of a cascade) every exit down the cascade. */
  direct: ExitRecord[];
  cascade: ExitRecord[];
  /** The supervisor that received its 'EXIT'. */
  supervisedBy?: string;
  restarts: Attributes[];
  ctx?: Ctx;
  exitEventId: string;
  emitAtMs: number;
  decided?: { rule: CrashRule; crash: boolean };
}

const NORMAL = new Set(['normal', 'shutdown']);

/** The class of a reason rendered by an older receiver (captures without `beam.reason.class`). */
export function legacyReasonClass(reason: string): string {
  if (reason === 'normal') return 'normal';
  if (reason === 'shutdown' || reason.startsWith('{shutdown,')) return 'shutdown';
  if (reason === 'killed' || reason === 'noproc' || reason === 'noconnection') return reason;
  if (/^\{.*,\[\{[^{}]+,[^{}]+,(\d+|\[.*?\]),\[(\{file,|\{line,|\])/.test(reason)) return 'error';
  return 'other';
}

export class Crashes {
  private readonly windowNs: bigint;
  /** Recent exits by process key, for the window. */
  private readonly records = new BoundedMap<string, ExitRecord>(10_000, () => undefined);
  /** Processes that received the 'EXIT' of a recorded exit (a supervisor taking its tree down): the record. */
  private readonly notified = new BoundedMap<string, Notified>(10_000, () => undefined);
  /** 'EXIT's seen before the sender's own exit event (the trace orders processes only roughly): applied when it comes. */
  private readonly early = new BoundedMap<string, Array<{ receiver: Proc; notice: ExitNotice }>>(10_000, () => undefined);
  /** Every exit (any reason), briefly: who is still alive when an 'EXIT' from it arrives. */
  private readonly exited = new BoundedMap<string, bigint>(10_000, () => undefined);
  private recent: ExitRecord[] = [];
  private unsent: ExitRecord[] = [];
  private seq = 0;

  constructor(
    private readonly spans: SpanBook,
    private readonly options: CrashOptions,
  ) {
    this.windowNs = BigInt(options.crashWindowMs) * 1_000_000n;
  }

  stats(): Record<string, number> {
    return { crashes: this.records.size, unsentCrashes: this.unsent.length, notified: this.notified.size };
  }

  /** A trapping process received `{'EXIT', From, Reason}`. */
  exitNoticed(receiver: Proc, notice: ExitNotice): void {
    receiver.exitNotices.push(notice);
    if (receiver.exitNotices.length > 4) receiver.exitNotices.shift();
    receiver.id.trapExit = true;
    const parent = receiver.parent ?? receiver.id.ancestors?.[0];
    const senderAlive = !this.exited.has(notice.from);
    // exit(Pid, shutdown) from a live process is how a supervisor stops its children (its parent stops it so too):
    // the receiver is being shut down, and reports nothing of its own children's exits from now on.
    if (parent === notice.from || (notice.reasonClass === 'shutdown' && senderAlive)) receiver.shuttingDownAt = notice.time;
    // A live process sending `shutdown` to its links right after an abnormal 'EXIT' reached it is a supervisor
    // taking its children down (one_for_all, rest_for_one, auto_shutdown): it reported that exit.
    if (notice.reasonClass === 'shutdown' && senderAlive) {
      const n = this.notified.get(notice.from);
      if (n?.reportable && notice.time - n.time <= this.windowNs) n.record.facts.supervisorReported = true;
    }
    const record = this.records.get(notice.from);
    if (record && notice.time - record.time <= this.windowNs) this.applyNotice(record, receiver, notice);
    else if (!this.notifiedRecord(receiver.key, notice.time)) {
      // From a process still alive that is part of a cascade (a supervisor shutting its tree down): so is this one.
      const upstream = this.notifiedRecord(notice.from, notice.time);
      if (upstream) this.notified.set(receiver.key, { record: upstream, time: notice.time, reportable: false });
      const list = this.early.get(notice.from);
      if (list) list.push({ receiver, notice });
      else this.early.set(notice.from, [{ receiver, notice }]);
    } else {
      const list = this.early.get(notice.from);
      if (list) list.push({ receiver, notice });
      else this.early.set(notice.from, [{ receiver, notice }]);
    }
  }

  private applyNotice(record: ExitRecord, receiver: Proc, notice: ExitNotice): void {
    const abnormal = !NORMAL.has(notice.reasonClass);
    const shuttingDown = receiver.shuttingDownAt !== undefined && receiver.shuttingDownAt <= notice.time;
    const reportable = abnormal && !shuttingDown;
    // The first cascade to reach a process is the one it belongs to (its later 'EXIT's are that cascade's echoes).
    if (reportable || !this.notifiedRecord(receiver.key, notice.time)) this.notified.set(receiver.key, { record, time: notice.time, reportable });
    if (abnormal && !shuttingDown && isSupervisor(receiver)) record.facts.supervisorReported = true;
    record.supervisedBy ??= receiver.key;
  }

  /** A spawn by `parent`: a supervisor starting again a child that just exited is its restart. */
  spawned(parent: Proc, child: Proc, time: bigint): void {
    for (const r of this.unsent) {
      if (r.restarts.length > 0 || time < r.time || time - r.time > this.windowNs || r.node !== child.node) continue;
      if (r.supervisedBy !== parent.key && r.parentKey !== parent.key) continue;
      const same = r.facts.initialCall !== undefined && r.facts.initialCall === child.id.initialCall;
      if (!same && !(r.facts.initialCall === undefined && r.supervisedBy === parent.key)) continue;
      if (!same) {
        // Started before the attach, its identity unknown: a restart starts the same thing again.
        if (child.id.initialCall) r.facts.initialCall = child.id.initialCall;
        if (child.id.role) r.facts.role = child.id.role;
        if (child.id.procLib !== undefined) r.facts.procLib = child.id.procLib;
      }
      // The shell starting its next reader or evaluator is no supervisor restarting a child.
      if (child.id.role === 'shell' || child.id.role === 'tracer') return;
      r.restarts.push({ supervisor: parent.pid, old_pid: r.pid, new_pid: child.pid, ...(child.id.initialCall ? { initial_call: child.id.initialCall } : {}) });
      if (!NORMAL.has(r.reasonClass) && !(parent.shuttingDownAt !== undefined)) r.facts.supervisorReported = true;
      return;
    }
  }

  exit(proc: Proc, e: ScopeEvent, openCalls: string[]): void {
    const reason = text(e.attributes['beam.reason']);
    if (reason === undefined) return; // no reason, no evidence of anything
    const reasonClass = text(e.attributes['beam.reason.class']) ?? legacyReasonClass(reason);
    this.exited.set(proc.key, e.time);
    const found = this.causeOf(proc, reason, reasonClass, e.time);
    if (NORMAL.has(reasonClass) && !found.cause) return;
    const last = lastWork(proc);
    let trigger: Trigger = found.trigger ?? (last ? 'message' : 'code');
    if (reasonClass === 'killed' && trigger !== 'exit_message') trigger = 'exit_signal'; // `kill` runs no code of its own
    let poison: ExitRecord['poison'];
    if (trigger === 'exit_message' && found.notice) {
      poison = { message: found.notice.message, from: found.notice.from.slice(found.notice.from.indexOf('|') + 1) };
    } else if (trigger === 'message' && last) {
      const h = proc.handling;
      if (h?.message === last.message && h.from !== undefined) poison = { message: h.message, from: h.from, ...(h.fromCtx ? { ctx: h.fromCtx } : {}) };
      else poison = { message: last.message, ...(last.from ? { from: last.from } : {}), ...(last.traceId && last.spanId ? { ctx: { traceId: last.traceId, spanId: last.spanId } } : {}) };
    }
    const stackAttr = e.attributes['beam.exception.stack'];
    const stack = Array.isArray(stackAttr) && stackAttr.length > 0 ? stackAttr.map(String) : openCalls;
    const facts: ExitFacts = {
      reason, reasonClass, procLib: proc.id.procLib === true, trigger, supervisorReported: false, propagated: false,
      ...(proc.id.initialCall ? { initialCall: proc.id.initialCall } : {}),
      ...(proc.id.role ? { role: proc.id.role } : {}),
    };
    const error = text(e.attributes['beam.exception.error']);
    const record: ExitRecord = {
      key: proc.key, node: proc.node, pid: proc.pid, time: e.time, reason, reasonClass, stack, facts,
      lastMessages: [...proc.recent], causeInferred: found.inferred, direct: [], cascade: [], restarts: [],
      exitEventId: e.id, emitAtMs: this.spans.nowMs + this.options.crashWindowMs,
      ...(error ? { error } : {}), ...(proc.name ? { name: proc.name } : {}), ...(proc.id.behaviour ? { behaviour: proc.id.behaviour } : {}),
      ...(proc.parent ?? proc.id.ancestors?.[0] ? { parentKey: proc.parent ?? proc.id.ancestors?.[0] } : {}),
      ...(poison ? { poison } : {}),
      ...(found.cause ? { causedBy: found.cause.pid } : found.notice ? { causedBy: found.notice.from.slice(found.notice.from.indexOf('|') + 1) } : {}),
    };
    if (found.cause) {
      record.cause = found.cause;
      found.cause.direct.push(record);
      cascadeRoot(found.cause).cascade.push(record);
    }
    this.markSpan(proc, record, e.time);
    this.records.set(proc.key, record);
    this.recent.push(record);
    if (this.recent.length > 64) this.recent.shift();
    this.unsent.push(record);
    // A crash storm: do not hold more than 10 000 exits back for their window.
    if (this.unsent.length > 10_000) this.unsent[0].emitAtMs = this.spans.nowMs;
    const early = this.early.get(proc.key);
    if (early) {
      this.early.delete(proc.key);
      for (const { receiver, notice } of early) if (notice.time - record.time <= this.windowNs) this.applyNotice(record, receiver, notice);
    }
  }

  /** The exit this one follows from, and how it came: through a trapped 'EXIT', a link, or a supervisor's shutdown. */
  private causeOf(proc: Proc, reason: string, reasonClass: string, time: bigint): { cause?: ExitRecord; trigger?: Trigger; notice?: ExitNotice; inferred: boolean } {
    const within = (r: { time: bigint } | undefined): boolean => r !== undefined && time >= r.time && time - r.time <= this.windowNs;
    const notice = this.stoppedBy(proc, reason, within);
    if (notice) {
      const r = this.records.get(notice.from);
      const cause = r && within(r) ? r : this.notifiedRecord(notice.from, time) ?? this.notifiedRecord(proc.key, time);
      return { ...(cause ? { cause } : {}), trigger: 'exit_message', notice, inferred: false };
    }
    // A linked process's exit signal with the same reason killed it (it does not trap exits).
    let cause: ExitRecord | undefined;
    for (const linked of proc.links) {
      const r = this.records.get(linked);
      if (r && within(r) && r.reason === reason && (!cause || r.time < cause.time)) cause = r;
    }
    if (cause) {
      cause.facts.propagated = true;
      return { cause, trigger: 'exit_signal', inferred: false };
    }
    // Taken down with its tree: shutdown or killed by a supervisor that got a cascade's 'EXIT', or linked to an exit.
    if (reasonClass === 'shutdown' || reasonClass === 'killed') {
      for (const linked of proc.links) {
        const r = this.records.get(linked);
        const candidate = r && within(r) ? r : this.notifiedRecord(linked, time);
        if (candidate && (!cause || candidate.time < cause.time)) cause = candidate;
      }
      if (cause) return { cause, trigger: 'exit_signal', inferred: false };
    }
    // Links made before tracing began are invisible. An exit with the very same distinctive reason (a
    // stacktrace, not `killed`) on the same node just after another exit is taken as its propagation.
    if (reasonClass !== 'killed' && reason.length >= 24) {
      // Not a restart failing again the same way: that is a repeat, not a propagation.
      const again = (r: ExitRecord): boolean => r.facts.initialCall !== undefined && r.facts.initialCall === proc.id.initialCall;
      for (const r of this.recent) {
        if (r.node === proc.node && r.key !== proc.key && r.reason === reason && within(r) && !again(r) && (!cause || r.time < cause.time)) cause = r;
      }
      if (cause) {
        cause.facts.propagated = true;
        return { cause, trigger: 'exit_signal', inferred: true };
      }
    }
    return { inferred: false };
  }

  /**
   * The `'EXIT'` a trapping process stopped on: the one whose reason it exits with (`R`, or `{shutdown, R}` as
   * ssh's handlers do), else its latest abnormal one if no other work came after it. A port's `'EXIT'` normal,
   * arriving while the process stops, is not what stopped it.
   */
  private stoppedBy(proc: Proc, reason: string, within: (r: { time: bigint }) => boolean): ExitNotice | undefined {
    const notices = proc.exitNotices.filter(within);
    // Exiting with the signal's own reason is the evidence, whatever it received while stopping (a 'DOWN', replies).
    for (let i = notices.length - 1; i >= 0; i--) if (notices[i].reason === reason || reason === `{shutdown,${notices[i].reason}}`) return notices[i];
    let chosen: ExitNotice | undefined;
    for (let i = notices.length - 1; i >= 0 && !chosen; i--) if (notices[i].reasonClass !== 'normal') chosen = notices[i];
    if (!chosen) return undefined;
    const last = lastWork(proc);
    return last && last.kind !== 'exit' && last.time > chosen.time ? undefined : chosen;
  }

  private notifiedRecord(key: string, time: bigint): ExitRecord | undefined {
    const n = this.notified.get(key);
    return n && time >= n.time && time - n.time <= this.windowNs ? n.record : undefined;
  }

  /** The ERROR span event, on the span it was in, for exits the rules call crashes already at the exit. */
  private markSpan(proc: Proc, r: ExitRecord, time: bigint): void {
    const innermost = proc.stack[proc.stack.length - 1] ?? proc.handling;
    if (innermost) r.ctx = { traceId: innermost.span.traceId, spanId: innermost.span.spanId };
    else if (proc.spawnedIn) r.ctx = proc.spawnedIn;
    if (!innermost || !decidedAtExit(r.facts, this.options.ignore) || !classifyExit(r.facts, this.options.ignore).crash) return;
    innermost.span.status = { code: 'error', message: r.reason };
    innermost.span.events.push({
      name: 'exception',
      timeUnixNano: time,
      attributes: {
        'exception.type': 'exit',
        'exception.message': r.reason,
        ...(r.stack.length > 0 ? { 'exception.stacktrace': r.stack.join('\n') } : {}),
        'scope.crash.trigger': r.facts.trigger,
        'scope.crash.last_messages': r.lastMessages.map((m) => m.message),
        'scope.crash.stack': r.stack,
        ...(r.poison ? { 'scope.crash.poison_message': r.poison.message } : {}),
      },
    });
  }

  /** process.crash events for exits whose window has passed. */
  /** When the earliest crash waiting for its consequences is due (wall-clock ms), if one is waiting. */
  get nextDueMs(): number | undefined {
    return this.unsent[0]?.emitAtMs;
  }

  emitDue(nowMs: number, out: ScopeEvent[]): void {
    if (this.unsent.length === 0 || this.unsent[0].emitAtMs > nowMs) return;
    const due = this.unsent.filter((r) => r.emitAtMs <= nowMs);
    this.unsent = this.unsent.filter((r) => r.emitAtMs > nowMs);
    for (const r of due) {
      r.decided = classifyExit(r.facts, this.options.ignore);
      this.options.onExitClassified(r.decided.rule);
      if (!r.decided.crash) continue;
      let root: ExitRecord | undefined;
      for (let c = r.cause; c; c = c.cause) if (c.decided?.crash) root = c;
      const rootCause = root === undefined;
      out.push(this.crashEvent(r, root ?? r, rootCause));
      this.options.onCrash(rootCause);
    }
  }

  private crashEvent(r: ExitRecord, root: ExitRecord, rootCause: boolean): ScopeEvent {
    const next = (rootCause ? r.cascade : r.direct).map((d) => ({
      pid: d.pid, reason: d.reason, ...(d.name ? { registered_name: d.name } : {}), caused_by: d.cause?.pid ?? null,
    }));
    const attributes: Attributes = {
      'beam.reason': r.reason,
      'beam.reason.class': r.reasonClass,
      'scope.crash.rule': r.decided?.rule ?? 'unreported',
      'scope.crash.trigger': r.facts.trigger,
      'scope.crash.root_cause': rootCause,
      'scope.crash.root_pid': root.pid,
      'scope.crash.died_next': next,
      'scope.crash.restarts': r.restarts,
      'scope.crash.stack': r.stack,
      'scope.crash.last_messages': r.lastMessages.map((m) => ({
        message: m.message, from: m.from ?? null, trace_id: m.traceId ?? null, span_id: m.spanId ?? null, time: m.time.toString(),
      })),
    };
    if (r.error) attributes['beam.exception.error'] = r.error;
    if (r.poison) {
      attributes['scope.crash.poison_message'] = r.poison.message;
      if (r.poison.from) attributes['scope.crash.poison_sender'] = r.poison.from;
      if (r.poison.ctx) {
        attributes['scope.crash.poison_sender_trace_id'] = r.poison.ctx.traceId;
        attributes['scope.crash.poison_sender_span_id'] = r.poison.ctx.spanId;
      }
    }
    if (r.causedBy) {
      attributes['scope.crash.caused_by'] = r.causedBy;
      attributes['scope.crash.cause_inferred'] = r.causeInferred;
    }
    if (r.name) attributes['beam.registered_name'] = r.name;
    if (r.facts.initialCall) {
      attributes['beam.initial_call'] = r.facts.initialCall;
      attributes['beam.mfa'] = r.facts.initialCall;
    }
    if (r.behaviour) attributes['beam.behaviour'] = r.behaviour;
    return {
      id: `${r.exitEventId}-crash-${(this.seq++).toString(36)}`,
      type: 'process.crash',
      schemaVersion: 1,
      time: r.time,
      source: { node: r.node, component: this.options.component },
      pid: r.pid,
      ...(r.ctx ? { traceId: r.ctx.traceId, spanId: r.ctx.spanId } : {}),
      causationId: r.exitEventId,
      attributes,
    };
  }
}

/** The last message the process was given as work (the poison), never an answer to its own request. */
function lastWork(proc: Proc): Received | undefined {
  return proc.lastWork;
}

function cascadeRoot(r: ExitRecord): ExitRecord {
  let root = r;
  while (root.cause) root = root.cause;
  return root;
}

