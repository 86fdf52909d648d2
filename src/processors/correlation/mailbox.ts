/**
 * What a gen_server is handling, when its callbacks are traced. A trace
 * `receive` is written when a message reaches the mailbox, not when the
 * process takes it: a message delivered while the process is still on the
 * one before waits its turn, and what the process does meanwhile (calls,
 * sends) belongs to the one before. The callback's call says which message
 * the process took: its first argument is the request (`handle_call/3`,
 * `handle_cast/2`) or the message itself (`handle_info/2`).
 */
import { firstElement, genCall, genCast } from '../../beam/rendered_text.js';
import type { ScopeEvent } from '../../model/types.js';
import { parseMfa } from './names.js';
import { text } from './state.js';

const CALLBACKS: Record<string, number> = { handle_call: 3, handle_cast: 2, handle_info: 2 };

/** The module of a gen_server callback's call (`cart:handle_cast/2` → `cart`), if it is one and of the process's callback module when that is known. */
export function callbackModuleOf(e: ScopeEvent, callbackModule: string | undefined): string | undefined {
  const mfa = parseMfa(text(e.attributes['beam.mfa']) ?? '');
  if (!mfa || !Object.hasOwn(CALLBACKS, mfa.function) || CALLBACKS[mfa.function] !== mfa.arity) return undefined;
  const module = mfa.elixir ? `Elixir.${mfa.module}` : mfa.module;
  return callbackModule === undefined || callbackModule === module ? module : undefined;
}

/** The callback's first argument as rendered (`beam.args` is `[Request, From, State]`); undefined when it does not read. */
export function callbackArgument(e: ScopeEvent): string | undefined {
  const args = text(e.attributes['beam.args']);
  if (args === undefined || args[0] !== '[' || args[args.length - 1] !== ']') return undefined;
  return firstElement(`{${args.slice(1, -1)}}`) ?? undefined;
}

/** What a message hands its callback: the request of a `{'$gen_call', From, Req}` or `{'$gen_cast', Req}`, else the message. */
export function callbackRequest(message: string, kind: string): string | undefined {
  if (kind === 'call') return genCall(message)?.request;
  if (kind === 'cast') return genCast(message) ?? undefined;
  return message;
}
