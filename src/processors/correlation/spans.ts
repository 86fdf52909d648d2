/**
 * Making spans: ids, and the bounds of a trace. A trace lasts at most
 * `max_trace_duration` and holds at most `max_spans_per_trace` spans; work
 * that would join it after that goes to its parent's continuation, a new
 * trace whose root stands in for the parent and links back to it
 * (continuations.ts) — so a long-lived connection is many traces, not one
 * trace of its whole life, nor one trace per message.
 */
import { randomFillSync } from 'node:crypto';
import type { Attributes, Span, SpanKind } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import { Continuations, type Continuation } from './continuations.js';
import type { Ctx, OpenSpan, Proc, SpanOrigin } from './state.js';

const SCOPE = { name: 'scope-pipeline/correlation' };

/**
 * Ids from a pool of random bytes: one crypto call per 4 KiB rather than per
 * span, written by Buffer's hex encoder as one flat string (ids key the
 * trace budgets: a string built by concatenation is flattened on lookup).
 */
export class Ids {
  private pool = Buffer.alloc(4096);
  private offset = this.pool.length;

  private hex(bytes: number): string {
    if (this.offset + bytes > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const out = this.pool.toString('hex', this.offset, this.offset + bytes);
    this.offset += bytes;
    return out;
  }

  trace(): string {
    return this.hex(16);
  }

  span(): string {
    return this.hex(8);
  }
}

interface TraceBudget {
  start: bigint;
  spans: number;
}

export interface SpanBookOptions {
  maxSpansPerTrace: number;
  maxTraceDurationNs: bigint;
  maxTraces: number;
  onRollover(reason: 'max_spans_per_trace' | 'max_trace_duration'): void;
  onSpan(origin: SpanOrigin): void;
}

export class SpanBook {
  readonly ids = new Ids();
  private readonly traces: BoundedMap<string, TraceBudget>;
  private readonly continuations: Continuations;
  /** Closed spans not yet handed on. */
  out: Span[] = [];
  nowMs = 0;

  constructor(private readonly options: SpanBookOptions) {
    this.traces = new BoundedMap(options.maxTraces, () => undefined);
    this.continuations = new Continuations(options.maxTraces, (c, end) => {
      c.standIn.endTimeUnixNano = end > c.standIn.startTimeUnixNano ? end : c.standIn.startTimeUnixNano;
      this.out.push(c.standIn);
      this.options.onSpan('continuation');
    });
  }

  get traceCount(): number {
    return this.traces.size;
  }

  open(proc: Proc, name: string, kind: SpanKind, start: bigint, parent: Ctx | undefined, origin: SpanOrigin, attributes: Attributes): OpenSpan {
    let parentCtx = parent;
    let budget = parent ? this.traces.get(parent.traceId) : undefined;
    let continuation: Continuation | undefined;
    if (parent && budget && this.over(budget, start)) {
      continuation = this.continuations.of(parent.spanId);
      const joined = continuation && this.traces.get(continuation.standIn.traceId);
      if (!continuation || !joined || this.over(joined, start)) {
        this.options.onRollover(this.reason(joined ?? budget));
        continuation = this.continuations.start(parent, proc, this.ids.trace(), this.ids.span(), start, this.nowMs);
        budget = { start, spans: 1 };
        this.traces.set(continuation.standIn.traceId, budget);
      } else {
        budget = joined;
      }
      parentCtx = { traceId: continuation.standIn.traceId, spanId: continuation.standIn.spanId };
      if (start > continuation.lastNs) continuation.lastNs = start;
      continuation.lastMs = this.nowMs;
    }
    const traceId = parentCtx?.traceId ?? this.ids.trace();
    if (budget) budget.spans++;
    else this.traces.set(traceId, { start, spans: 1 });
    attributes['beam.pid'] = proc.pid;
    attributes['beam.node'] = proc.node;
    const span: Span = {
      traceId,
      spanId: this.ids.span(),
      name,
      spanKind: kind,
      startTimeUnixNano: start,
      endTimeUnixNano: start,
      attributes,
      events: [],
      links: [],
      status: { code: 'unset' },
      resource: proc.resource,
      scope: SCOPE,
    };
    if (parentCtx) span.parentSpanId = parentCtx.spanId;
    const open: OpenSpan = { span, origin, openedAtMs: this.nowMs };
    if (continuation) open.continuation = continuation;
    return open;
  }

  close(open: OpenSpan, end: bigint): void {
    open.span.endTimeUnixNano = end > open.span.startTimeUnixNano ? end : open.span.startTimeUnixNano;
    this.out.push(open.span);
    this.options.onSpan(open.origin);
    const c = open.continuation;
    if (c) {
      if (open.span.endTimeUnixNano > c.lastNs) c.lastNs = open.span.endTimeUnixNano;
      c.lastMs = this.nowMs;
    }
    if (this.continuations.size > 0) this.continuations.end(open.span.spanId, open.span.endTimeUnixNano);
  }

  /** Ends the continuations nothing joined for `idleMs`; with 0, all of them (the stream ended). */
  sweepContinuations(nowMs: number, idleMs: number): void {
    this.continuations.sweep(nowMs, idleMs);
  }

  private over(budget: TraceBudget, start: bigint): boolean {
    return budget.spans >= this.options.maxSpansPerTrace || start - budget.start > this.options.maxTraceDurationNs;
  }

  private reason(budget: TraceBudget): 'max_spans_per_trace' | 'max_trace_duration' {
    return budget.spans >= this.options.maxSpansPerTrace ? 'max_spans_per_trace' : 'max_trace_duration';
  }

  take(): Span[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

/** The context work in a process runs in: its innermost open span, else the message it handles, else where it was spawned. */
export function activeCtx(proc: Proc): Ctx | undefined {
  const top = proc.stack[proc.stack.length - 1] ?? proc.handling;
  return top ? { traceId: top.span.traceId, spanId: top.span.spanId, span: top.span } : proc.spawnedIn;
}
