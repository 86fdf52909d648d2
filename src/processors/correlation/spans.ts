/**
 * Making spans: ids, and the bounds of a trace. A trace lasts at most
 * `max_trace_duration` and holds at most `max_spans_per_trace` spans; work
 * that would join it after that starts a new trace whose root links back to
 * the span it came from — so a long-lived connection is many traces, each a
 * request, not one trace of its whole life.
 */
import { randomFillSync } from 'node:crypto';
import type { Attributes, Span, SpanKind } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
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
  /** Closed spans not yet handed on. */
  out: Span[] = [];
  nowMs = 0;

  constructor(private readonly options: SpanBookOptions) {
    this.traces = new BoundedMap(options.maxTraces, () => undefined);
  }

  get traceCount(): number {
    return this.traces.size;
  }

  open(proc: Proc, name: string, kind: SpanKind, start: bigint, parent: Ctx | undefined, origin: SpanOrigin, attributes: Attributes): OpenSpan {
    let parentCtx = parent;
    let link: Ctx | undefined;
    let budget = parent ? this.traces.get(parent.traceId) : undefined;
    if (parent && budget) {
      const reason = budget.spans >= this.options.maxSpansPerTrace ? 'max_spans_per_trace'
        : start - budget.start > this.options.maxTraceDurationNs ? 'max_trace_duration' : undefined;
      if (reason) {
        this.options.onRollover(reason);
        link = parent;
        parentCtx = undefined;
        budget = undefined;
      }
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
      links: link ? [{ traceId: link.traceId, spanId: link.spanId, attributes: { 'scope.link.reason': 'continues_trace' } }] : [],
      status: { code: 'unset' },
      resource: proc.resource,
      scope: SCOPE,
    };
    if (parentCtx) span.parentSpanId = parentCtx.spanId;
    return { span, origin, openedAtMs: this.nowMs };
  }

  close(open: OpenSpan, end: bigint): void {
    open.span.endTimeUnixNano = end > open.span.startTimeUnixNano ? end : open.span.startTimeUnixNano;
    this.out.push(open.span);
    this.options.onSpan(open.origin);
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
  return top ? { traceId: top.span.traceId, spanId: top.span.spanId } : proc.spawnedIn;
}
