/**
 * Events recorded before the receivers wrote message structure
 * (`beam.message.kind`, `beam.request`, `beam.call.tag`, `beam.exit.*`):
 * the structure is read back from the rendered Erlang text, so captures and
 * archives of earlier versions still correlate. Text cut at
 * `max_message_bytes` may hide it; current receivers never rely on this.
 */
import { exitSignal, firstElement, genCall, genCast, requestLabel, tupleElements } from '../../beam/rendered_text.js';
import type { Attributes, ScopeEvent } from '../../model/types.js';

export function withLegacyStructure(e: ScopeEvent): ScopeEvent {
  const message = e.attributes['beam.message'];
  if (typeof message !== 'string' || e.attributes['beam.message.kind'] !== undefined) return e;
  const attributes: Attributes = { ...e.attributes };
  const call = genCall(message);
  const cast = call ? null : genCast(message);
  const exited = call || cast !== null ? null : exitSignal(message);
  if (message === 'timeout') {
    attributes['beam.message.kind'] = 'timeout';
    attributes['beam.request'] = 'timeout';
  } else if (call) {
    attributes['beam.message.kind'] = 'call';
    attributes['beam.call.tag'] = call.tag;
    attributes['beam.call.from'] = call.caller;
    const label = requestLabel(call.request);
    if (label) attributes['beam.request'] = label;
  } else if (cast !== null) {
    attributes['beam.message.kind'] = 'cast';
    const label = requestLabel(cast);
    if (label) attributes['beam.request'] = label;
  } else if (exited) {
    const reason = tupleElements(message)?.[2] ?? '';
    Object.assign(attributes, { 'beam.message.kind': 'exit', 'beam.request': 'EXIT', 'beam.exit.from': exited, 'beam.exit.reason': reason });
  } else {
    const head = firstElement(message);
    if (head !== null && (head.startsWith('#Ref<') || head.startsWith('[alias|#Ref<'))) {
      attributes['beam.message.kind'] = 'reply';
      attributes['beam.call.tag'] = head;
    } else {
      attributes['beam.message.kind'] = 'info';
      const label = requestLabel(message);
      if (label) attributes['beam.request'] = label;
    }
  }
  return { ...e, attributes };
}
