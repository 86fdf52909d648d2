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
