import type { JsonSchema } from '../../model/schemas.js';

export interface CorrelationConfig {
  call_timeout: string;
  crash_window: string;
  crash_context_messages: number;
  max_tracked_processes: number;
  max_pending_messages: number;
  max_spans_per_trace: number;
  max_trace_duration: string;
  max_stack_depth: number;
  ignore_exits: { reasons: string[]; initial_calls: string[] };
  service_name?: string;
}

export const correlationConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    call_timeout: {
      type: 'string', format: 'duration', default: '30s',
      description: 'A traced call with no return after this long (in event time) is closed as unfinished (scope.span.unfinished = true).',
    },
    crash_window: {
      type: 'string', format: 'duration', default: '1s',
      description: 'How long a crash waits for its consequences (linked processes dying, supervisor restarts) before its process.crash event is sent.',
    },
    crash_context_messages: {
      type: 'integer', minimum: 0, maximum: 1000, default: 10,
      description: 'Messages a process received last, kept for its process.crash event (with their senders and the senders\' trace/span ids).',
    },
    max_tracked_processes: {
      type: 'integer', minimum: 16, default: 100_000,
      description: 'Processes whose call stack, links and recent messages are kept; beyond it the least recently active is forgotten (counted).',
    },
    max_pending_messages: {
      type: 'integer', minimum: 16, default: 200_000,
      description: 'Sent messages waiting for their receive; beyond it the oldest is forgotten (counted).',
    },
    max_spans_per_trace: {
      type: 'integer', minimum: 1, default: 10_000,
      description: 'Spans in one trace; work beyond it goes on in a continuation trace under a stand-in for its parent, linked to it (counted as max_spans_per_trace), so a runaway loop cannot make one endless trace.',
    },
    max_trace_duration: {
      type: 'string', format: 'duration', default: '1m',
      description: 'A trace lasts at most this long (event time); work that would join it later goes on in a continuation trace under a stand-in for its parent, linked to it, so a long-lived connection is many traces, not one.',
    },
    ignore_exits: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Exits that are never crashes, besides the built-in rules (normal/shutdown, erpc results, distribution controllers, the shell\'s processes). Patterns: exact text, globs with *, or /regex/.',
      properties: {
        reasons: { type: 'array', items: { type: 'string' }, default: [], description: 'Exit reasons as rendered (beam.reason), e.g. "{bad_request,*}".' },
        initial_calls: { type: 'array', items: { type: 'string' }, default: [], description: 'Initial calls as proc_lib reports them (beam.initial_call), e.g. "my_pool_worker:init/1" or "ranch_*".' },
      },
    },
    max_stack_depth: {
      type: 'integer', minimum: 1, default: 10_000,
      description: 'Open calls kept per process; deeper calls are not turned into spans (counted).',
    },
    service_name: {
      type: 'string', minLength: 1,
      description: 'service.name of the spans made. Default: the node\'s app (from scope_beam\'s hello), else the node name before the @.',
    },
  },
};
