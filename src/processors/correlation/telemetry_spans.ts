/**
 * :telemetry events as spans: `start` / `stop` / `exception` pairs matched by
 * `telemetry_span_context` (else pid + event prefix), after-the-fact events
 * with a duration ending at the event; names and attributes from telemetry.ts.
 */
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { BoundedMap } from '../../util/bounded.js';
import { activeCtx, type SpanBook } from './spans.js';
import type { OpenSpan, Proc } from './state.js';
import { exceptionOf, isEntryPoint, readTelemetry, shapeOf, singleDurationNs } from './telemetry.js';

export class TelemetrySpans {
  private readonly byContext: BoundedMap<string, OpenSpan>;

  constructor(
    private readonly spans: SpanBook,
    maxContexts: number,
    onEvict: (reason: string, count: number) => void,
    /** The process a span was opened on, to take it off that process's stack. */
    private readonly procOf: (span: OpenSpan) => Proc | undefined,
  ) {
    this.byContext = new BoundedMap(maxContexts, () => onEvict('telemetry_contexts', 1));
  }

  get size(): number {
    return this.byContext.size;
  }

  event(proc: Proc, e: ScopeEvent): void {
    const info = readTelemetry(e);
    if (!info) return;
    const { measurements: _m, ...attrs } = e.attributes;

    if (info.prefix === 'phoenix.router_dispatch') return this.routerDispatch(proc, info.phase, attrs, e.time);

    if (info.phase === 'start') {
      const parent = activeCtx(proc);
      const shape = shapeOf(info.prefix, attrs);
      const open = this.spans.open(proc, shape.name, !parent && isEntryPoint(info.prefix) ? 'server' : shape.kind, e.time, parent, 'telemetry', {});
      open.prefix = info.prefix;
      open.telemetry = { ...attrs };
      if (info.context) {
        open.context = info.context;
        this.byContext.set(info.context, open);
      }
      proc.stack.push(open);
      return;
    }
    if (info.phase === 'single') {
      const shape = shapeOf(info.prefix, attrs);
      const start = e.time - singleDurationNs(e);
      const open = this.spans.open(proc, shape.name, shape.kind, start, activeCtx(proc), 'telemetry', shape.attributes);
      if (shape.error) open.span.status = { code: 'error', message: shape.error };
      this.spans.close(open, e.time);
      return;
    }
    // stop / exception
    let open = info.context ? this.byContext.get(info.context) : undefined;
    if (!open) {
      for (let i = proc.stack.length - 1; i >= 0 && !open; i--) if (proc.stack[i].prefix === info.prefix) open = proc.stack[i];
    }
    if (open) {
      this.removeFromStack(open);
      if (open.context) this.byContext.delete(open.context);
    } else {
      // A stop without its start (the forwarder attached mid-request): the duration gives the start.
      const m = e.attributes.measurements as Attributes | undefined;
      const duration = typeof m?.duration_ns === 'number' ? BigInt(Math.round(m.duration_ns)) : 0n;
      open = this.spans.open(proc, info.prefix, 'internal', e.time - duration, activeCtx(proc), 'telemetry', {});
      open.prefix = info.prefix;
    }
    const merged = { ...(open.telemetry ?? {}), ...attrs };
    const shape = shapeOf(info.prefix, merged);
    open.span.name = shape.name;
    if (open.span.spanKind !== 'server') open.span.spanKind = shape.kind;
    Object.assign(open.span.attributes, shape.attributes);
    if (info.phase === 'exception') this.markException(open, attrs, e.time);
    else if (shape.error && open.span.status.code !== 'error') open.span.status = { code: 'error', message: shape.error };
    this.spans.close(open, e.time);
  }

  private removeFromStack(open: OpenSpan): void {
    const proc = this.procOf(open);
    if (!proc) return;
    const i = proc.stack.indexOf(open);
    if (i >= 0) proc.stack.splice(i, 1);
  }

  private markException(open: OpenSpan, attrs: Attributes, time: bigint): void {
    const ex = exceptionOf(attrs);
    open.span.status = { code: 'error', message: ex.message };
    open.span.events.push({
      name: 'exception', timeUnixNano: time,
      attributes: { 'exception.type': ex.type, 'exception.message': ex.message, ...(ex.stacktrace ? { 'exception.stacktrace': ex.stacktrace } : {}) },
    });
  }

  /** Phoenix's router_dispatch adds the route to the endpoint span (as opentelemetry_phoenix does) rather than a span of its own. */
  private routerDispatch(proc: Proc, phase: string, attrs: Attributes, time: bigint): void {
    let endpoint: OpenSpan | undefined;
    for (let i = proc.stack.length - 1; i >= 0 && !endpoint; i--) if (proc.stack[i].prefix === 'phoenix.endpoint') endpoint = proc.stack[i];
    if (!endpoint) return;
    endpoint.telemetry = { ...(endpoint.telemetry ?? {}), route: attrs.route ?? null, plug: attrs.plug ?? null, plug_opts: attrs.plug_opts ?? null };
    const shape = shapeOf('phoenix.endpoint', endpoint.telemetry);
    endpoint.span.name = shape.name;
    if (phase === 'exception') this.markException(endpoint, attrs, time);
  }
}
