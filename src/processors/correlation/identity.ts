/**
 * Who a process is, as OTP records it: the initial call proc_lib reports
 * (`cart:init/1`, not `proc_lib:init_p/5`), its behaviour and callback
 * module, its ancestors, its registered name, its role (shell, tracer, erpc
 * worker, distribution controller). Read from the receiver's structured
 * attributes on `process.spawn`/`spawned` and `process.snapshot` events.
 */
import { roleOfModule, type ProcessRole } from '../../beam/otp.js';
import type { AttributeValue, ScopeEvent } from '../../model/types.js';
import { parseMfa } from './names.js';
import { procKey, text, type Identity, type Proc } from './state.js';

const ROLES = new Set<string>(['shell', 'tracer', 'erpc', 'rpc', 'dist']);

function strings(v: AttributeValue | undefined): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
}

/** The module an MFA text names (`'Elixir.Shop.Cart':init/1` → `Elixir.Shop.Cart`). */
function moduleOf(mfa: string | undefined): string | undefined {
  if (!mfa) return undefined;
  const parsed = parseMfa(mfa);
  if (!parsed) return undefined;
  return parsed.elixir ? `Elixir.${parsed.module}` : parsed.module;
}

/** What a spawn or snapshot event says of the process it is about. */
export function identityFrom(e: ScopeEvent, node: string): Identity {
  const a = e.attributes;
  const id: Identity = {};
  const initialCall = text(a['beam.initial_call']) ?? (e.type === 'process.snapshot' ? undefined : text(a['beam.mfa']));
  if (initialCall) id.initialCall = initialCall;
  if (typeof a['beam.proc_lib'] === 'boolean') id.procLib = a['beam.proc_lib'];
  else if (initialCall?.startsWith('proc_lib:init_p/')) id.procLib = true; // events from before beam.proc_lib existed
  const behaviour = text(a['beam.behaviour']);
  if (behaviour) id.behaviour = behaviour;
  const callback = text(a['beam.callback_module']);
  if (callback) id.callbackModule = callback;
  const ancestors = strings(a['beam.ancestors']);
  if (ancestors) id.ancestors = ancestors.map((x) => (x.startsWith('<') ? procKey(node, x) : x));
  if (typeof a['beam.trap_exit'] === 'boolean') id.trapExit = a['beam.trap_exit'];
  const role = text(a['beam.role']);
  id.role = role && ROLES.has(role) ? (role as ProcessRole) : roleOfModule(callback ?? moduleOf(initialCall) ?? '');
  if (id.role === undefined) delete id.role;
  return id;
}

/** Merges what is newly known; never forgets what was known. */
export function learn(proc: Proc, id: Identity): void {
  const mine = proc.id;
  if (id.initialCall && (!mine.initialCall || id.procLib)) mine.initialCall = id.initialCall;
  if (id.procLib !== undefined) mine.procLib = id.procLib;
  if (id.behaviour) mine.behaviour = id.behaviour;
  if (id.callbackModule) mine.callbackModule = id.callbackModule;
  if (id.ancestors) mine.ancestors = id.ancestors;
  if (id.role) mine.role = id.role;
  if (id.trapExit !== undefined) mine.trapExit = id.trapExit;
}

/** `Shop.Cart` for Elixir modules, `cart` for Erlang ones. */
export function displayModule(module: string): string {
  return module.startsWith('Elixir.') ? module.slice(7) : module;
}

/** What a process is called in span names: its registered name, else its callback module, else its initial call. */
export function moduleLabel(proc: Proc): string {
  if (proc.name) return displayModule(proc.name);
  if (proc.id.callbackModule) return displayModule(proc.id.callbackModule);
  const mod = moduleOf(proc.id.initialCall);
  if (mod && mod !== 'proc_lib' && mod !== 'erlang') return displayModule(mod);
  return 'process';
}

/** Supervisors: by behaviour, or — for one alive before the attach with no snapshot — by OTP's naming habit. */
export function isSupervisor(proc: Proc): boolean {
  if (proc.id.behaviour === 'supervisor') return true;
  if (proc.id.behaviour) return false;
  const name = proc.name ?? proc.id.callbackModule ?? '';
  return /_sup(_|$)|Supervisor$/.test(name);
}
