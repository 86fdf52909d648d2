/**
 * `{scope_snapshot, Node, SystemNs, Entries}` frames, which ScopeBeam.Tracer
 * writes into the trace port at start: one map per process alive before the
 * attach, so processes the trace never saw spawn still have a name, an
 * initial call, ancestors and links. Each becomes a `process.snapshot` event.
 */
import { roleOfModule, type ProcessRole } from '../../beam/otp.js';
import { ErlMap, ErlPid, ErlPort, ErlTuple, type Term } from '../../beam/terms.js';
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { mfaString } from './structure.js';

export interface SnapshotContext {
  render(t: Term): string;
  /** Identifier text of a pid, port or name. */
  id(t: Term): string;
  localNode: string;
  event(tracee: Term, time: bigint, attributes: Attributes): ScopeEvent;
}

const ROLES = new Set<ProcessRole>(['shell', 'tracer', 'erpc', 'rpc', 'dist']);
const BEHAVIOURS = new Set(['gen_server', 'gen_statem', 'gen_event', 'supervisor', 'supervisor_bridge']);

function mfa(t: Term | undefined): { text: string; module: string } | undefined {
  if (!(t instanceof ErlTuple) || t.elements.length !== 3) return undefined;
  const [m, f, a] = t.elements;
  if (typeof m !== 'string' || typeof f !== 'string' || typeof a !== 'number') return undefined;
  return { text: mfaString(m, f, a), module: m };
}

export function snapshotEvents(entries: Term[], time: bigint, ctx: SnapshotContext): Array<{ event: ScopeEvent; role?: ProcessRole }> {
  const out: Array<{ event: ScopeEvent; role?: ProcessRole }> = [];
  for (const entry of entries) {
    if (!(entry instanceof ErlMap)) continue;
    const pid = entry.get('pid');
    if (!(pid instanceof ErlPid || pid instanceof ErlPort)) continue;
    const attributes: Attributes = {};
    const name = entry.get('registered_name');
    if (typeof name === 'string' && name !== '' && name !== 'nil') attributes['beam.registered_name'] = name;
    const initial = mfa(entry.get('initial_call'));
    if (initial) attributes['beam.initial_call'] = initial.text;
    attributes['beam.proc_lib'] = entry.get('proc_lib') === 'true';
    const behaviour = entry.get('behaviour');
    if (typeof behaviour === 'string' && BEHAVIOURS.has(behaviour)) attributes['beam.behaviour'] = behaviour;
    const callback = entry.get('callback_module');
    if (typeof callback === 'string' && callback !== 'nil') attributes['beam.callback_module'] = callback;
    const ancestors = entry.get('ancestors');
    if (Array.isArray(ancestors)) attributes['beam.ancestors'] = ancestors.map((a) => ctx.id(a));
    const links = entry.get('links');
    if (Array.isArray(links)) attributes['beam.links'] = links.map((l) => ctx.id(l));
    const current = mfa(entry.get('current_function'));
    if (current) attributes['beam.current_function'] = current.text;
    const queue = entry.get('message_queue_len');
    if (typeof queue === 'number') attributes['beam.message_queue_len'] = queue;
    const trap = entry.get('trap_exit');
    if (trap === 'true' || trap === 'false') attributes['beam.trap_exit'] = trap === 'true';
    const status = entry.get('status');
    if (typeof status === 'string') attributes['beam.status'] = status;
    const declared = entry.get('role');
    let role: ProcessRole | undefined = typeof declared === 'string' && ROLES.has(declared as ProcessRole) ? (declared as ProcessRole) : undefined;
    role ??= roleOfModule(typeof callback === 'string' ? callback : initial?.module ?? '');
    if (role) attributes['beam.role'] = role;
    out.push({ event: ctx.event(pid, time, attributes), ...(role ? { role } : {}) });
  }
  return out;
}
