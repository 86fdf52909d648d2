import type { Attributes, Counter, Meter } from '@opentelemetry/api';

export interface TracePortInstruments {
  droppedMessages: Counter<Attributes>;
  reconnects: Counter<Attributes>;
  frames: Counter<Attributes>;
  excluded: Counter<Attributes>;
}

export function createTracePortInstruments(meter: Meter): TracePortInstruments {
  return {
    droppedMessages: meter.createCounter('scope_beam_trace_dropped_messages', {
      unit: '{message}', description: 'Trace messages the BEAM\'s trace driver dropped because its queue was full (Op 1 frames).',
    }),
    reconnects: meter.createCounter('scope_beam_trace_port_connects', {
      unit: '{connection}', description: 'Connections made to a trace port (the first and every reconnect).',
    }),
    frames: meter.createCounter('scope_beam_trace_port_frames', {
      unit: '{frame}', description: 'Term frames received from trace ports.',
    }),
    excluded: meter.createCounter('scope_beam_trace_excluded_events', {
      unit: '{event}', description: 'Trace messages of processes left out by exclude_processes (the shell\'s, the tracer\'s), not handed on.',
    }),
  };
}
