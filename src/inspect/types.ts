/**
 * What the inspection layer answers, as the CLI, the MCP server and the web
 * inspector all receive it. Times are Unix nanoseconds as decimal strings
 * (exact) with an RFC 3339 rendering beside them.
 */

export interface When {
  /** Unix nanoseconds, decimal. */
  unixNano: string;
  /** RFC 3339 with nanoseconds, UTC. */
  iso: string;
}

export interface CrashSummary {
  /** The process.crash event's id. */
  id: string;
  time: When;
  node: string;
  pid: string;
  registeredName: string | null;
  initialCall: string | null;
  reason: string;
  /** The crash rule of the correlation processor that called it a crash. */
  rule: string;
  rootCause: boolean;
  /** The pid of the cascade's root cause (its own pid for a root cause). */
  rootPid: string;
  poisonMessage: string | null;
  traceId: string | null;
  /** Under a root cause: the crashes it caused, in time order. */
  consequences: CrashSummary[];
}

export interface SpanRef {
  traceId: string;
  spanId: string;
  name: string;
  pid: string | null;
  start: When;
  durationNs: string;
  status: string;
}

export interface MessageSeen {
  message: string;
  from: string | null;
  time: When | null;
  traceId: string | null;
  spanId: string | null;
}

export interface CascadeEntry {
  pid: string;
  reason: string;
  registeredName: string | null;
  /** The pid whose exit took this one down (null: the root cause's own link or monitor). */
  causedBy: string | null;
}

export interface Restart {
  supervisor: string;
  oldPid: string;
  newPid: string;
  initialCall: string | null;
}

/** `inspect crash`: the story of one crash. */
export interface CrashStory {
  crash: CrashSummary;
  reasonClass: string | null;
  exception: string | null;
  /** The message the process was handling when it crashed, who sent it, and what the sender was doing. */
  poison: {
    message: string;
    sender: string | null;
    /** The span the sender was in when it sent it (its id is known at once; the span itself once it ended). */
    senderSpanId: string | null;
    senderSpan: SpanRef | null;
  } | null;
  stack: string[];
  lastMessages: MessageSeen[];
  /** Spans of the crashed process open at the crash (its calls in progress). */
  openSpans: SpanRef[];
  /** Processes that went down after it (root cause: the whole cascade). */
  diedNext: CascadeEntry[];
  restarts: Restart[];
  causedBy: { pid: string; inferred: boolean } | null;
  /** The trace the crash belongs to, when correlation placed it in one. */
  trace: { traceId: string; spans: number; processes: number } | null;
  /** The state just before the crash, when the process was watched (ScopeBeam.watch/1): the last recorded change's. */
  stateBefore: { state: string; seq: number; time: When } | null;
}

/** A process as the archive knows it: from its spawn (or the attach snapshot) to its exit. */
export interface ProcessInfo {
  pid: string;
  node: string;
  /** Registered names it had, in order (as Erlang has them: Elixir modules with their Elixir. prefix). */
  names: string[];
  initialCall: string | null;
  /** gen_server, supervisor, gen_statem… (proc_lib processes). */
  behaviour: string | null;
  callbackModule: string | null;
  /** The process that spawned it (for a supervised process, its supervisor). */
  spawnedBy: string | null;
  /** null: it was alive before the attach (known from the snapshot). */
  spawnedAt: When | null;
  exit: { time: When; reason: string } | null;
  /** Its process.crash event, when the exit was a crash. */
  crashId: string | null;
}

export type TimelineKind =
  | 'snapshot' | 'spawned' | 'spawn' | 'register' | 'unregister' | 'link' | 'unlink'
  | 'send' | 'receive' | 'call' | 'return' | 'exception' | 'state' | 'exit' | 'crash';

export interface TimelineEntry {
  time: When;
  kind: TimelineKind;
  /** The event type it was read from (process.spawned, message.send, state.change…). */
  type: string;
  /** The other process (a send's receiver, a spawn's child, a link's other end, a call's caller). */
  peer: string | null;
  /** What happened, as one line: the message, the function, the reason, the state's changed keys. */
  text: string;
}

/** `inspect process`: one process's life in time order. */
export interface ProcessTimeline {
  process: ProcessInfo;
  entries: TimelineEntry[];
  /** Entries in range; more than `entries` when cut at the limit (the first ones are kept). */
  total: number;
}

export interface TreeNode {
  pid: string;
  name: string | null;
  initialCall: string | null;
  behaviour: string | null;
  /** null: alive before the attach. */
  spawnedAt: When | null;
  children: TreeNode[];
}

/** `inspect processes --at`: the processes alive at an instant, under who spawned (or supervises) them. */
export interface ProcessTree {
  at: When;
  nodes: Array<{ node: string; processes: number; roots: TreeNode[] }>;
}

export interface StateChange {
  seq: number;
  time: When;
  /** call, cast, info, continue. */
  kind: string;
  message: string | null;
  from: string | null;
  reply: string | null;
  changed: boolean;
  changedKeys: string[];
  diff: Record<string, { old: string | null; new: string | null }>;
  oldState: string;
  newState: string;
}

/** `inspect state PID --at T`: a watched GenServer's state at T and the change that led to it. */
export interface StateAt {
  pid: string;
  node: string;
  module: string | null;
  at: When;
  /**
   * The state at T (Elixir inspect form, as ScopeBeam.watch rendered it). Before the first recorded change:
   * the state the watch began with; null when T is before anything of the process was recorded.
   */
  state: string | null;
  /** The change that led to it (null: T is before the first recorded change, and `state` is the state the watch began with). */
  change: StateChange | null;
  /** The change after T, when there is one. */
  next: { seq: number; time: When } | null;
  /** Recorded changes of this process in all. */
  changes: number;
  /** The process had exited by T (its state is the last one it had). */
  exitedAt: When | null;
}

export interface WaterfallSpan extends SpanRef {
  parentSpanId: string | null;
  /** Nesting under the trace's root(s): 0 for a root. */
  depth: number;
  kind: string;
  node: string | null;
  statusMessage: string | null;
  /** Start relative to the trace's start. */
  offsetNs: string;
}

/** `inspect trace`: a trace's spans in tree order, with the processes (lanes) they ran in. */
export interface TraceView {
  traceId: string;
  start: When;
  durationNs: string;
  /** The first MAX_TRACE_SPANS (2000) by start. */
  spans: WaterfallSpan[];
  /** Spans of the trace in the archive (more than `spans` when cut). */
  total: number;
  lanes: Array<{ pid: string | null; node: string | null; name: string | null; spans: number }>;
  errors: number;
}

export interface SequenceMessage {
  time: When;
  from: string;
  fromNode: string;
  to: string;
  toNode: string;
  /** call, cast, reply, info, system, exit… (the correlation processor's beam.message.kind). */
  kind: string;
  message: string;
}

/** `inspect messages`: the messages between some processes, in time order. */
export interface MessageSequence {
  processes: Array<{ pid: string; node: string; name: string | null }>;
  messages: SequenceMessage[];
  total: number;
}

/** `anomalies`: what the anomaly processor flagged. */
export interface AnomalySeen {
  id: string;
  time: When;
  node: string;
  kind: string;
  key: string;
  score: number | null;
  observed: number | string | null;
  expected: number | string | null;
  pid: string | null;
  traceId: string | null;
  spanId: string | null;
}

/** `generate_exunit_test` / `inspect test-case PID`: an ExUnit test replaying a watched GenServer's recorded history. */
export interface GeneratedTest {
  pid: string;
  node: string;
  /** The GenServer's callback module as Elixir writes it (`CrashChain.C`, `:my_server`). */
  module: string;
  /** The test module (`CrashChain.CReplayTest`). */
  testModule: string;
  /** The file to write it to (`c_replay_test.exs`). */
  fileName: string;
  /** The .exs text. */
  source: string;
  /** Messages the test delivers (the one it crashed on included). */
  steps: number;
  /** The history ends in a recorded crash (whether the test replays it: see skipped). */
  crash: boolean;
  /** What the test does not replay or assert, and why. */
  skipped: string[];
}
