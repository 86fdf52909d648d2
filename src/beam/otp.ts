/**
 * What OTP means by a term's shape, read from the decoded term — never from
 * rendered (and possibly truncated) text: gen_server/gen_statem requests and
 * replies, exit signals and monitors, port and timer messages, exit reasons
 * and their stacktraces, and the real initial call of a process started
 * through proc_lib (as `proc_lib:translate_initial_call/1` gives it).
 *
 * Sources: stdlib gen.erl (`'$gen_call'`, `'$gen_cast'`, alias replies),
 * proc_lib.erl (`init_p/3,5`, `trans_init/3`, crash reports), supervisor.erl,
 * kernel erpc.erl (`execute_call/4` exits `{Ref, return|throw|exit, _}` or
 * `{Ref, error, Reason[, Stack]}`), erts (port and timer messages).
 */
import { ErlExport, ErlFun, ErlImproperList, ErlPid, ErlPort, ErlRef, ErlTuple, type Term } from './terms.js';

/** How a message is meant, as OTP's protocols shape it. */
export type MessageKind =
  | 'call' // {'$gen_call', {Pid, Tag}, Request}
  | 'cast' // {'$gen_cast', Request}
  | 'reply' // {Tag, Reply}: Tag a reference or [alias|Ref]
  | 'exit' // {'EXIT', From, Reason}: an exit signal a trapping process received
  | 'down' // {'DOWN', Ref, process|port, Object, Reason}
  | 'system' // {system, From, Request}: sys messages
  | 'port' // data or status from a port or a socket: outside work entering
  | 'timer' // {timeout, Ref, Msg}: erlang:start_timer
  | 'io_request'
  | 'io_reply'
  | 'timeout' // the bare atom `timeout`: what a `receive … after` that timed out reports
  | 'info';

export interface MessageShape {
  kind: MessageKind;
  /** A low-cardinality label: the request's atom, or the atom heading its tuple (`{add,apple,5}` → `add`). */
  label?: string;
  /** call: the caller; exit/down: the process (or port) that went down. */
  peer?: ErlPid | ErlPort;
  /** call and reply: the tag that pairs them (a reference, or `[alias|Ref]`). */
  tag?: Term;
  /** call/cast: the request; exit/down: the reason. */
  payload?: Term;
  /** port messages: the port or socket. */
  port?: Term;
}

const SOCKET_TAGS = new Set([
  'tcp', 'tcp_closed', 'tcp_error', 'tcp_passive', 'udp', 'udp_closed', 'udp_error', 'udp_passive',
  'ssl', 'ssl_closed', 'ssl_error', 'ssl_passive', 'sctp', 'sctp_closed', 'sctp_error', 'sctp_passive',
  'inet_reply', 'inet_async', '$socket', 'http', 'http_closed', 'http_error',
]);

function isRefTag(t: Term): boolean {
  if (t instanceof ErlRef) return true;
  // OTP 24+: [alias|Ref]
  return t instanceof ErlImproperList && t.elements.length === 1 && t.elements[0] === 'alias' && t.tail instanceof ErlRef;
}

/** The leading atom of a request: the atom itself or the first element of a tuple. */
export function labelOf(t: Term | undefined): string | undefined {
  if (typeof t === 'string') return t;
  if (t instanceof ErlTuple && typeof t.elements[0] === 'string') return t.elements[0];
  return undefined;
}

export function messageShape(m: Term): MessageShape {
  if (m === 'timeout') return { kind: 'timeout', label: 'timeout' };
  if (!(m instanceof ErlTuple)) return { kind: 'info', ...(typeof m === 'string' ? { label: m } : {}) };
  const e = m.elements;
  const head = e[0];
  const n = e.length;
  if (head === '$gen_call' && n === 3) {
    const from = e[1];
    const shape: MessageShape = { kind: 'call', payload: e[2] };
    const label = labelOf(e[2]);
    if (label !== undefined) shape.label = label;
    if (from instanceof ErlTuple && from.elements.length === 2) {
      const [caller, tag] = from.elements;
      if (caller instanceof ErlPid) shape.peer = caller;
      shape.tag = tag;
    }
    return shape;
  }
  if (head === '$gen_cast' && n === 2) {
    const label = labelOf(e[1]);
    return { kind: 'cast', payload: e[1], ...(label !== undefined ? { label } : {}) };
  }
  if (head === 'EXIT' && n === 3 && (e[1] instanceof ErlPid || e[1] instanceof ErlPort)) {
    return { kind: 'exit', label: 'EXIT', peer: e[1], payload: e[2] };
  }
  if (head === 'DOWN' && n === 5) {
    const object = e[3];
    return { kind: 'down', label: 'DOWN', payload: e[4], ...(object instanceof ErlPid || object instanceof ErlPort ? { peer: object } : {}) };
  }
  if (head === 'system' && n === 3) return { kind: 'system', label: 'system' };
  if (head === 'timeout' && n === 3 && e[1] instanceof ErlRef) return { kind: 'timer', label: labelOf(e[2]) ?? 'timeout' };
  if (head === 'io_request' && n === 4) return { kind: 'io_request', label: 'io_request' };
  if (head === 'io_reply' && n === 3) return { kind: 'io_reply', label: 'io_reply' };
  if (typeof head === 'string' && SOCKET_TAGS.has(head) && n >= 2) return { kind: 'port', label: head, port: e[1] };
  // {Port, {data, _}}, {Port, eof}, {Port, closed}, {Port, {exit_status, N}}: a port program's output.
  if (head instanceof ErlPort && n === 2) return { kind: 'port', label: labelOf(e[1]) ?? 'port', port: head };
  if (n === 2 && isRefTag(head)) return { kind: 'reply', tag: head };
  const label = labelOf(m);
  return { kind: 'info', ...(label !== undefined ? { label } : {}) };
}

/** Exit reasons by what they mean for crash analysis. */
export type ReasonClass =
  | 'normal'
  | 'shutdown' // shutdown or {shutdown, _}
  | 'killed'
  | 'noproc'
  | 'noconnection'
  | 'erpc' // an erpc worker's result: {Ref, return|throw|exit, _} or {Ref, error, _[, Stack]}
  | 'error' // carries a stacktrace: an uncaught error
  | 'other';

export interface ReasonShape {
  class: ReasonClass;
  /** The error without its stacktrace (`function_clause`, `{badmatch,1}`), when the reason carries one. */
  error?: Term;
  /** Frames of the stacktrace, innermost first. */
  stack?: StackFrame[];
}

export interface StackFrame {
  module: string;
  function: string;
  arity: number;
  file?: string;
  line?: number;
}

const ERPC_RESULTS = new Set(['return', 'throw', 'exit', 'error']);

/** A list of `{M, F, Arity | Args, Location}` (or the older `{M, F, Arity | Args}`), read as frames; null if it is not one. */
export function readStack(t: Term): StackFrame[] | null {
  if (!Array.isArray(t) || t.length === 0) return null;
  const frames: StackFrame[] = [];
  for (const item of t) {
    if (!(item instanceof ErlTuple) || (item.elements.length !== 4 && item.elements.length !== 3)) return null;
    const [m, f, a, loc] = item.elements;
    if (typeof m !== 'string' || typeof f !== 'string') return null;
    const arity = Array.isArray(a) ? a.length : typeof a === 'number' ? a : -1;
    if (arity < 0) return null;
    const frame: StackFrame = { module: m, function: f, arity };
    if (Array.isArray(loc)) {
      for (const kv of loc) {
        if (!(kv instanceof ErlTuple) || kv.elements.length !== 2) continue;
        const [k, v] = kv.elements;
        if (k === 'file' && Array.isArray(v) && v.every((c) => typeof c === 'number')) frame.file = String.fromCodePoint(...(v as number[]));
        else if (k === 'line' && typeof v === 'number') frame.line = v;
      }
    }
    frames.push(frame);
  }
  return frames;
}

export function reasonShape(r: Term): ReasonShape {
  if (r === 'normal') return { class: 'normal' };
  if (r === 'shutdown') return { class: 'shutdown' };
  if (r === 'killed') return { class: 'killed' };
  if (r === 'noproc') return { class: 'noproc' };
  if (r === 'noconnection') return { class: 'noconnection' };
  if (!(r instanceof ErlTuple)) return { class: 'other' };
  const e = r.elements;
  if (e[0] === 'shutdown' && e.length === 2) return { class: 'shutdown' };
  if (e[0] instanceof ErlRef && (e.length === 3 || e.length === 4) && typeof e[1] === 'string' && ERPC_RESULTS.has(e[1])) return { class: 'erpc' };
  if (e.length === 2) {
    // {Reason, Stack}: an error's exit reason. Exits of a call to a crashed server nest it: {{Reason, Stack}, {gen_server, call, …}}.
    const stack = readStack(e[1]);
    if (stack) return { class: 'error', error: e[0], stack };
    const inner = e[0];
    if (inner instanceof ErlTuple && inner.elements.length === 2) {
      const nested = readStack(inner.elements[1]);
      if (nested) return { class: 'error', error: inner.elements[0], stack: nested };
    }
  }
  return { class: 'other' };
}

/** `cart:add/2 (cart.erl:12)`; Elixir modules as `Shop.Cart.add/2 (lib/shop/cart.ex:12)`. */
export function frameText(f: StackFrame, moduleName: (m: string) => string): string {
  const where = f.file !== undefined ? ` (${f.file}${f.line !== undefined ? `:${f.line}` : ''})` : '';
  return `${moduleName(f.module)}${f.module.startsWith('Elixir.') ? '.' : ':'}${f.function}/${f.arity}${where}`;
}

/** Who a process really is, from its spawn: what proc_lib would put in `$initial_call` and `$ancestors`. */
export interface SpawnIdentity {
  /** `{M, F, Arity}` as proc_lib:translate_initial_call/1 gives it (`cart:init/1` for a gen_server). */
  initialCall: { module: string; function: string; arity: number };
  /** Started through proc_lib (gen_server, gen_statem, supervisor, Task, …): OTP writes crash reports for it. */
  procLib: boolean;
  behaviour?: 'gen_server' | 'gen_statem' | 'gen_event' | 'supervisor' | 'supervisor_bridge';
  /** The callback module of a gen_* process or supervisor. */
  callbackModule?: string;
  /** `[Parent | Ancestors]` as proc_lib stores them (pids or registered names). */
  ancestors?: Term[];
  /** The name it registers under, when started with `{local, Name}` / `{global, Name}`. */
  name?: Term;
}

const BEHAVIOURS = new Set(['gen_server', 'gen_statem', 'gen_event']);

function funIdentity(f: Term): { module: string; function: string; arity: number } | undefined {
  if (f instanceof ErlFun) return { module: f.module, function: '-fun-', arity: f.arity < 0 ? 0 : f.arity };
  if (f instanceof ErlExport) return { module: f.module, function: f.fun, arity: f.arity };
  return undefined;
}

/** The identity a spawn's `{M, F, Args}` gives its child. */
export function spawnIdentity(mfa: Term): SpawnIdentity | undefined {
  if (!(mfa instanceof ErlTuple) || mfa.elements.length !== 3) return undefined;
  const [m, f, a] = mfa.elements;
  if (typeof m !== 'string' || typeof f !== 'string') return undefined;
  const args = Array.isArray(a) ? a : undefined;
  const arity = args ? args.length : typeof a === 'number' ? a : 0;
  if (m === 'proc_lib' && f === 'init_p' && args && (args.length === 5 || args.length === 3)) {
    const [parent, ancestors] = args;
    const id: SpawnIdentity = { initialCall: { module: m, function: f, arity }, procLib: true };
    if (Array.isArray(ancestors)) id.ancestors = [parent, ...ancestors];
    if (args.length === 3) {
      const fun = funIdentity(args[2]);
      if (fun) id.initialCall = fun;
      return id;
    }
    const [, , im, ifn, ia] = args;
    if (typeof im !== 'string' || typeof ifn !== 'string' || !Array.isArray(ia)) return id;
    id.initialCall = { module: im, function: ifn, arity: ia.length };
    if (im === 'gen' && ifn === 'init_it') translateGen(ia, id);
    return id;
  }
  // spawn_request from another node (erpc): erts_internal:dist_spawn_init([{M, F, Arity}]).
  if (m === 'erts_internal' && f === 'dist_spawn_init' && args && args.length === 1) {
    const target = args[0];
    if (target instanceof ErlTuple && target.elements.length === 3) {
      const [tm, tf, ta] = target.elements;
      if (typeof tm === 'string' && typeof tf === 'string' && typeof ta === 'number') return { initialCall: { module: tm, function: tf, arity: ta }, procLib: false };
    }
  }
  // spawn(Fun): erlang:apply(Fun, []).
  if (m === 'erlang' && f === 'apply' && args && args.length === 2) {
    const fun = funIdentity(args[0]);
    if (fun) return { initialCall: fun, procLib: false };
  }
  return { initialCall: { module: m, function: f, arity }, procLib: false };
}

/** proc_lib's trans_init/3 for gen:init_it: `[GenMod, Starter, Parent, (Name,) Mod, Args, Opts]`. */
function translateGen(ia: Term[], id: SpawnIdentity): void {
  const genMod = ia[0];
  if (typeof genMod !== 'string') return;
  const named = ia.length === 7;
  const mod = named ? ia[4] : ia[3];
  const args = named ? ia[5] : ia[4];
  if (named) id.name = ia[3];
  if (genMod === 'gen_server' && (mod === 'supervisor' || mod === 'supervisor_bridge')) {
    // supervisor: Args = {SupName, Module, Args}; supervisor_bridge: [Module | _].
    const inner = mod === 'supervisor'
      ? (args instanceof ErlTuple && args.elements.length === 3 ? args.elements[1] : undefined)
      : (Array.isArray(args) ? args[0] : undefined);
    id.behaviour = mod;
    if (typeof inner === 'string') {
      id.callbackModule = inner;
      id.initialCall = { module: mod, function: inner, arity: 1 };
    }
    return;
  }
  if (genMod === 'gen_event') {
    id.behaviour = 'gen_event';
    id.initialCall = { module: 'gen_event', function: 'init_it', arity: 6 };
    return;
  }
  if (BEHAVIOURS.has(genMod) && typeof mod === 'string') {
    id.behaviour = genMod as SpawnIdentity['behaviour'];
    id.callbackModule = mod;
    id.initialCall = { module: mod, function: 'init', arity: 1 };
  }
}

/** Processes that are infrastructure, not the application: told apart by their initial call's module. */
export type ProcessRole = 'shell' | 'tracer' | 'erpc' | 'rpc' | 'dist';

const ROLE_BY_MODULE: Record<string, ProcessRole> = {
  // The Erlang shell and its I/O (stdlib shell, kernel group/user_drv/prim_tty) and IEx.
  shell: 'shell', shell_default: 'shell', group: 'shell', user_drv: 'shell', user: 'shell', user_sup: 'shell', prim_tty: 'shell',
  edlin: 'shell', edlin_expand: 'shell',
  'Elixir.IEx.Server': 'shell', 'Elixir.IEx.Evaluator': 'shell', 'Elixir.IEx.Broker': 'shell', 'Elixir.IEx.Pry': 'shell',
  // Tracers: dbg, ttb, ScopeBeam's own.
  dbg: 'tracer', ttb: 'tracer', 'Elixir.ScopeBeam.Tracer.Server': 'tracer', 'Elixir.ScopeBeam.Tracer': 'tracer',
  // Remote procedure calls: erpc's worker processes and rpc's server.
  erpc: 'erpc', rpc: 'rpc',
  // Distribution: connection setup and controllers.
  dist_util: 'dist', inet_tcp_dist: 'dist', inet6_tcp_dist: 'dist', inet_tls_dist: 'dist', inet_epmd_dist: 'dist',
};

export function roleOfModule(module: string): ProcessRole | undefined {
  return ROLE_BY_MODULE[module];
}
