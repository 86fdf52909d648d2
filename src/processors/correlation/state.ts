/** The correlation processor's per-process state, shared by its parts (calls, messages, crashes, identity). */
import type { ProcessRole } from '../../beam/otp.js';
import type { AttributeValue, Attributes, ScopeEvent, Span } from '../../model/types.js';
import type { Continuation } from './continuations.js';

export interface Ctx {
  traceId: string;
  spanId: string;
  /** The span itself, where known: what a continuation's stand-in is named after (continuations.ts). */
  span?: Span;
}

/** What a span was made from; `continuation` is the stand-in root of a continued trace (continuations.ts). */
export type SpanOrigin = 'function' | 'message' | 'telemetry' | 'continuation';

export interface OpenSpan {
  span: Span;
  origin: SpanOrigin;
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
  /** For a handling span: the process's callback for its message was called (mailbox.ts). */
  taken?: boolean;
  /** A child of a continuation's stand-in: its end moves the stand-in's. */
  continuation?: Continuation;
  openedAtMs: number;
}

/** A message delivered while the process was still on the one before (mailbox.ts): handled when its callback is called. */
export interface QueuedWork {
  event: ScopeEvent;
  message: string;
  kind: string;
  received: Received;
  from?: { fromPid: string; ctx?: Ctx };
}

/** A message a process took (never a `receive … after` timeout). */
export interface Received {
  message: string;
  kind: string;
  /** An answer to what the process itself asked (a call's reply, a code server's answer): not work it was given. */
  answer?: boolean;
  from?: string;
  traceId?: string;
  spanId?: string;
  time: bigint;
}

/** Who a process is: from its spawn, ScopeBeam's snapshot, its registration, its first callback. */
export interface Identity {
  /** `cart:init/1`, as proc_lib:translate_initial_call/1 gives it. */
  initialCall?: string;
  procLib?: boolean;
  behaviour?: string;
  callbackModule?: string;
  /** Keys (`node|pid`) or registered names, parent first. */
  ancestors?: string[];
  role?: ProcessRole;
  trapExit?: boolean;
}

/** An `{'EXIT', From, Reason}` a process received (it traps exits). */
export interface ExitNotice {
  from: string;
  reason: string;
  reasonClass: string;
  message: string;
  time: bigint;
}

export interface Proc {
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
  /** The key of the process that spawned it. */
  parent?: string;
  recent: Received[];
  /** The last message it was given as work (kept apart from `recent`: a crash's own logging fills that with answers). */
  lastWork?: Received;
  links: Set<string>;
  name?: string;
  id: Identity;
  /** The last few `{'EXIT', …}` it received (a stopping process often gets its port's and links' exits too). */
  exitNotices: ExitNotice[];
  /** It received an exit signal from its parent: a supervisor taking its children down, not reporting them. */
  shuttingDownAt?: bigint;
  /** Processes sent to while handling the current message: what comes back from them is a reply, not new work. */
  askedDuringHandling: Set<string>;
  /** Its gen_server callbacks are traced: a handling span starts when the process takes its message (mailbox.ts). */
  callbacksTraced?: boolean;
  /** When procs.ts last moved it to the newest end of the eviction order. */
  movedAt?: number;
  /** Messages delivered and not yet taken, oldest first (only while callbacksTraced). */
  queued?: QueuedWork[];
}

export const text = (v: AttributeValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export function procKey(node: string, pid: string): string {
  return `${node}|${pid}`;
}
