/**
 * What is a crash, as OTP defines it: an exit OTP's logger would report.
 * The rules are tried in order; the first that applies decides. The table is
 * the contract (README, tests): each row names the OTP behaviour it follows.
 *
 * | rule | exit | crash? | because |
 * |---|---|---|---|
 * | `normal_exit` | reason `normal`, `shutdown`, `{shutdown, _}` | no | proc_lib and supervisors never report these |
 * | `ignored` | reason or initial call matches `ignore_exits` | no | the user said so |
 * | `erpc_result` | an erpc/rpc worker (`erpc:execute_call/4`…), or a reason `{Ref, return\|throw\|exit\|error, …}` | no | that exit is how erpc returns a result |
 * | `dist_connection` | a distribution controller (`inet_tcp_dist`, `dist_util`…) | no | connections close when nodes disconnect |
 * | `shell` | the shell's own processes (shell, group, user_drv, IEx), the tracer's | no | the shell reads each command in a process that exits with it |
 * | `crash_report` | a proc_lib process (gen_server, gen_statem, supervisor, Task…) whose own code exited abnormally | yes | proc_lib writes a crash report |
 * | `supervisor_report` | a child whose supervisor got its abnormal `'EXIT'` while not shutting down (or restarted it) | yes | the supervisor writes a child_terminated report |
 * | `error_report` | any process dying of an uncaught error (its reason carries a stacktrace), by its own code | yes | erts logs "Error in process … with exit value" |
 * | `link_propagation` | any abnormal exit that killed a non-trapping linked process (it died with the same reason) | yes | the exit took other processes down |
 * | `unreported` | anything else (e.g. `exit(Pid, kill)` of an unsupervised plain process) | no | nothing in OTP reports it |
 */
import type { ProcessRole } from '../../beam/otp.js';
import type { StringMatcher } from '../../util/match.js';

export type CrashRule =
  | 'normal_exit' | 'ignored' | 'erpc_result' | 'dist_connection' | 'shell'
  | 'crash_report' | 'supervisor_report' | 'error_report' | 'link_propagation' | 'unreported';

/** How the process came to exit. */
export type Trigger =
  | 'message' // its own code exited while (or after) taking a message: that message is the poison
  | 'exit_message' // it traps exits, received {'EXIT', From, Reason} and stopped
  | 'exit_signal' // an exit signal killed it (`kill`, or a linked process's exit): no message of its own caused it
  | 'code'; // its own code exited with no message taken since tracing began

export interface ExitFacts {
  reason: string;
  reasonClass: string;
  initialCall?: string;
  role?: ProcessRole;
  procLib: boolean;
  trigger: Trigger;
  /** Its supervisor received its abnormal 'EXIT' (not while shutting down), or restarted it. */
  supervisorReported: boolean;
  /** A non-trapping linked process died of its exit, with the same reason. */
  propagated: boolean;
}

export interface IgnoreRules {
  reasons?: StringMatcher;
  initialCalls?: StringMatcher;
}

export const CRASH_RULES: ReadonlyArray<{ rule: CrashRule; crash: boolean; applies(f: ExitFacts, ignore: IgnoreRules): boolean }> = [
  { rule: 'normal_exit', crash: false, applies: (f) => f.reasonClass === 'normal' || f.reasonClass === 'shutdown' },
  { rule: 'ignored', crash: false, applies: (f, i) => (i.reasons?.(f.reason) ?? false) || (f.initialCall !== undefined && (i.initialCalls?.(f.initialCall) ?? false)) },
  { rule: 'erpc_result', crash: false, applies: (f) => f.reasonClass === 'erpc' || f.role === 'erpc' || f.role === 'rpc' },
  { rule: 'dist_connection', crash: false, applies: (f) => f.role === 'dist' },
  { rule: 'shell', crash: false, applies: (f) => f.role === 'shell' || f.role === 'tracer' },
  { rule: 'crash_report', crash: true, applies: (f) => f.procLib && f.trigger !== 'exit_signal' && f.reasonClass !== 'killed' },
  { rule: 'supervisor_report', crash: true, applies: (f) => f.supervisorReported },
  { rule: 'error_report', crash: true, applies: (f) => f.reasonClass === 'error' && f.trigger !== 'exit_signal' },
  { rule: 'link_propagation', crash: true, applies: (f) => f.propagated },
  { rule: 'unreported', crash: false, applies: () => true },
];

export function classifyExit(facts: ExitFacts, ignore: IgnoreRules): { rule: CrashRule; crash: boolean } {
  for (const r of CRASH_RULES) if (r.applies(facts, ignore)) return { rule: r.rule, crash: r.crash };
  return { rule: 'unreported', crash: false };
}

/** Rules that decide at the exit itself, before the window's evidence (supervisor reports, propagation) arrives. */
export function decidedAtExit(facts: ExitFacts, ignore: IgnoreRules): boolean {
  const { rule } = classifyExit({ ...facts, supervisorReported: false, propagated: false }, ignore);
  return rule !== 'unreported';
}
