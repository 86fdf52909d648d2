/**
 * Where work goes once its parent's trace is full (`max_spans_per_trace`) or
 * too old (`max_trace_duration`). Each such parent gets one continuation: a
 * new trace whose root is a stand-in for the parent (same name, `internal`,
 * `scope.span.continuation`, linked to it with `continues_trace`), and every
 * later child of that parent joins it until it fills in turn. Without this, a
 * long-lived span (an acceptor's loop, a server's handling of an endless
 * stream) put each later child in a one-span trace of its own: tens of
 * thousands of traces a minute, none of them readable.
 *
 * The stand-in ends when its parent does, when its own trace fills (the next
 * continuation takes over), when nothing joined it for `idle` (the sweep), or
 * at the end of the stream; its end covers its children's.
 */
import type { Span } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import type { Ctx, Proc } from './state.js';

export interface Continuation {
  standIn: Span;
  /** The latest start or end of a child (ns), and when one last came (wall-clock ms). */
  lastNs: bigint;
  lastMs: number;
}

const SCOPE = { name: 'scope-pipeline/correlation' };

export class Continuations {
  /** By the spanId of the parent whose trace was full. */
  private readonly byParent: BoundedMap<string, Continuation>;

  constructor(max: number, private readonly finish: (c: Continuation, end: bigint) => void) {
    this.byParent = new BoundedMap(max, (_, c) => finish(c, c.lastNs));
  }

  get size(): number {
    return this.byParent.size;
  }

  /** The parent's continuation, if it has one. */
  of(parentSpanId: string): Continuation | undefined {
    return this.byParent.get(parentSpanId);
  }

  /** A new continuation of `parent` (its previous one, if any, is finished first). */
  start(parent: Ctx, proc: Proc, traceId: string, spanId: string, start: bigint, nowMs: number): Continuation {
    const previous = this.byParent.get(parent.spanId);
    if (previous) this.end(parent.spanId, previous.lastNs);
    const from = parent.span;
    const attributes: Span['attributes'] = { 'scope.span.continuation': true };
    // The stand-in is the parent's, which may be another process's (a spawner's, a sender's).
    if (from?.attributes['beam.pid'] !== undefined) attributes['beam.pid'] = from.attributes['beam.pid'];
    if (from?.attributes['beam.node'] !== undefined) attributes['beam.node'] = from.attributes['beam.node'];
    const standIn: Span = {
      traceId,
      spanId,
      name: from?.name ?? 'continued trace',
      spanKind: 'internal',
      startTimeUnixNano: start,
      endTimeUnixNano: start,
      attributes,
      events: [],
      links: [{ traceId: parent.traceId, spanId: parent.spanId, attributes: { 'scope.link.reason': 'continues_trace' } }],
      status: { code: 'unset' },
      resource: from?.resource ?? proc.resource,
      scope: SCOPE,
    };
    const c = { standIn, lastNs: start, lastMs: nowMs };
    this.byParent.set(parent.spanId, c);
    return c;
  }

  /** The parent ended (or its continuation is replaced): its stand-in ends too. */
  end(parentSpanId: string, endNs: bigint): void {
    const c = this.byParent.get(parentSpanId);
    if (!c) return;
    this.byParent.delete(parentSpanId);
    this.finish(c, endNs > c.lastNs ? endNs : c.lastNs);
  }

  /** Ends the continuations nothing joined for `idleMs` (all of them with `idleMs` 0 and a late `nowMs`). */
  sweep(nowMs: number, idleMs: number): void {
    for (const [parentSpanId, c] of this.byParent.entries()) {
      if (nowMs - c.lastMs >= idleMs) this.end(parentSpanId, c.lastNs);
    }
  }
}
