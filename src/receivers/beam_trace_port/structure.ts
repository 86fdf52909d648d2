/**
 * Structured attributes read from decoded trace terms before anything is cut
 * to `max_message_bytes`: what kind of message it is (a gen_server call, an
 * exit signal, a port's data…), its request label and call tag, an exit
 * reason's class and stacktrace, a spawned process's real initial call.
 * Correlation and the inspection layer key on these, never on rendered text.
 */
import { frameText, messageShape, reasonShape, spawnIdentity, type SpawnIdentity } from '../../beam/otp.js';
import { pidText, renderAtom, renderTerm, type RenderOptions } from '../../beam/render.js';
import { ErlPid, ErlPort, type Term } from '../../beam/terms.js';
import type { Attributes } from '../../model/types.js';

/** Elixir modules as Elixir writes them (`Shop.Cart`), Erlang ones as atoms (`cart`, `'my mod'`). */
export function moduleName(m: string): string {
  return m.startsWith('Elixir.') ? m.slice(7) : renderAtom(m);
}

/** `M:F/A` in Erlang MFA syntax (parseable by correlation's names.ts). */
export function mfaString(m: string, f: string, a: number): string {
  return `${renderAtom(m)}:${renderAtom(f)}/${a}`;
}

/** Identifier text of a pid, port or name (ancestors, exit senders), in Erlang form whatever the term syntax. */
export function idText(t: Term, localNode: string | undefined): string {
  if (t instanceof ErlPid || t instanceof ErlPort) return pidText(t, localNode);
  if (typeof t === 'string') return t;
  return renderTerm(t, 256, localNode !== undefined ? { localNode } : {});
}

const idOptions = (localNode: string | undefined): RenderOptions => (localNode !== undefined ? { localNode } : {});

/** message.send / message.receive / seq_trace: kind, label, call tag and caller, exit sender and reason. */
export function messageAttributes(m: Term, attributes: Attributes, render: (t: Term) => string, localNode: string | undefined): void {
  const shape = messageShape(m);
  attributes['beam.message.kind'] = shape.kind;
  if (shape.label !== undefined) attributes['beam.request'] = shape.label;
  switch (shape.kind) {
    case 'call':
      if (shape.peer) attributes['beam.call.from'] = pidText(shape.peer, localNode);
      if (shape.tag !== undefined) attributes['beam.call.tag'] = renderTerm(shape.tag, 256, idOptions(localNode));
      break;
    case 'reply':
      if (shape.tag !== undefined) attributes['beam.call.tag'] = renderTerm(shape.tag, 256, idOptions(localNode));
      break;
    case 'exit':
    case 'down':
      if (shape.peer) attributes['beam.exit.from'] = pidText(shape.peer, localNode);
      if (shape.payload !== undefined) {
        attributes['beam.exit.reason'] = render(shape.payload);
        attributes['beam.exit.reason_class'] = reasonShape(shape.payload).class;
      }
      break;
    default:
  }
}

/** process.exit / port.closed: the reason, its class, and the stacktrace it carries (file:line). */
export function exitAttributes(reason: Term, attributes: Attributes, render: (t: Term) => string): void {
  attributes['beam.reason'] = render(reason);
  const shape = reasonShape(reason);
  attributes['beam.reason.class'] = shape.class;
  if (shape.stack) {
    attributes['beam.exception.error'] = render(shape.error as Term);
    attributes['beam.exception.stack'] = shape.stack.map((f) => frameText(f, moduleName));
  }
}

/** process.spawn / process.spawned: the child's initial call as proc_lib reports it, its behaviour and ancestors. */
export function spawnAttributes(mfa: Term, attributes: Attributes, localNode: string | undefined): SpawnIdentity | undefined {
  const id = spawnIdentity(mfa);
  if (!id) return undefined;
  const ic = id.initialCall;
  attributes['beam.initial_call'] = mfaString(ic.module, ic.function, ic.arity);
  attributes['beam.proc_lib'] = id.procLib;
  if (id.behaviour) attributes['beam.behaviour'] = id.behaviour;
  if (id.callbackModule) attributes['beam.callback_module'] = id.callbackModule;
  if (id.ancestors) attributes['beam.ancestors'] = id.ancestors.map((a) => idText(a, localNode));
  return id;
}
