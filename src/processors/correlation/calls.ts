/**
 * Traced calls as spans, on a per-process call stack: `function.call` opens
 * a frame, `function.return` / `function.exception` close it (and any frames
 * above it that had no return of their own: `scope.span.inferred_end`),
 * `function.return_to` closes the frames above the function returned to.
 * Calls with no return after `call_timeout` end as `scope.span.unfinished`.
 */
import type { Attributes, ScopeEvent } from '../../model/types.js';
import { functionName, parseMfa } from './names.js';
import { activeCtx, type SpanBook } from './spans.js';
import { text, type OpenSpan, type Proc } from './state.js';

export interface CallStackOptions {
  maxStackDepth: number;
  callTimeoutMs: number;
  onEvict(reason: string, count: number): void;
}

export class CallStacks {
  constructor(
    private readonly spans: SpanBook,
    private readonly options: CallStackOptions,
  ) {}

  call(proc: Proc, e: ScopeEvent): void {
    if (proc.stack.length >= this.options.maxStackDepth) {
      proc.overflow++;
      this.options.onEvict('max_stack_depth', 1);
      return;
    }
    const mfaText = text(e.attributes['beam.mfa']) ?? 'unknown';
    const mfa = parseMfa(mfaText);
    const attributes: Attributes = mfa
      ? { 'code.namespace': mfa.module, 'code.function': mfa.function, 'beam.mfa': functionName(mfa) }
      : { 'beam.mfa': mfaText };
    // The first traced callback of a process whose identity is unknown (alive before the attach, no snapshot)
    // names it after its module: `cart handle_call add`.
    if (mfa && proc.stack.length === 0 && proc.handling && !proc.name && !proc.id.callbackModule && /^handle_(call|cast|info)$/.test(mfa.function)) {
      proc.id.callbackModule = mfa.elixir ? `Elixir.${mfa.module}` : mfa.module;
      const span = proc.handling.span;
      const space = span.name.indexOf(' ');
      if (space > 0) span.name = `${mfa.module}${span.name.slice(space)}`;
    }
    const open = this.spans.open(proc, mfa ? functionName(mfa) : mfaText, 'internal', e.time, activeCtx(proc), 'function', attributes);
    open.mfa = mfaText;
    proc.stack.push(open);
  }

  returned(proc: Proc, e: ScopeEvent, exception: boolean): void {
    if (proc.overflow > 0) {
      proc.overflow--;
      return;
    }
    const i = this.topFunction(proc, text(e.attributes['beam.mfa']) ?? '');
    if (i < 0) return; // called before tracing began
    this.closeAbove(proc, i, e.time);
    const open = proc.stack[i];
    proc.stack.splice(i, 1);
    if (exception) {
      const type = text(e.attributes['beam.exception.class']) ?? 'error';
      const message = text(e.attributes['beam.reason']) ?? '';
      open.span.status = { code: 'error', message };
      open.span.events.push({ name: 'exception', timeUnixNano: e.time, attributes: { 'exception.type': type, 'exception.message': message } });
      open.span.attributes['exception.type'] = type;
      open.span.attributes['exception.message'] = message;
    }
    this.spans.close(open, e.time);
  }

  returnTo(proc: Proc, e: ScopeEvent): void {
    const i = this.topFunction(proc, text(e.attributes['beam.mfa']) ?? '');
    if (i >= 0) this.closeAbove(proc, i, e.time);
  }

  /** Calls open longer than call_timeout (wall clock) end as unfinished. */
  sweep(proc: Proc, nowMs: number): void {
    for (let i = proc.stack.length - 1; i >= 0; i--) {
      const open = proc.stack[i];
      if (open.origin === 'function' && nowMs - open.openedAtMs >= this.options.callTimeoutMs) {
        proc.stack.splice(i, 1);
        open.span.attributes['scope.span.unfinished'] = true;
        this.spans.close(open, proc.handlingActivity > open.span.startTimeUnixNano ? proc.handlingActivity : open.span.startTimeUnixNano);
      }
    }
  }

  /** Names of the open calls, innermost first (a crash's stack when its reason carries none). */
  openCalls(proc: Proc): string[] {
    const out: string[] = [];
    for (let i = proc.stack.length - 1; i >= 0; i--) out.push(proc.stack[i].span.name);
    return out;
  }

  private topFunction(proc: Proc, mfa: string): number {
    for (let i = proc.stack.length - 1; i >= 0; i--) {
      const s = proc.stack[i];
      if (s.origin === 'function' && s.mfa === mfa) return i;
    }
    return -1;
  }

  /** Closes the function frames above index `i` (calls that had no return of their own). */
  private closeAbove(proc: Proc, i: number, end: bigint): void {
    for (let j = proc.stack.length - 1; j > i; j--) {
      const s: OpenSpan = proc.stack[j];
      if (s.origin !== 'function') continue;
      proc.stack.splice(j, 1);
      s.span.attributes['scope.span.inferred_end'] = true;
      this.spans.close(s, end);
    }
  }
}
