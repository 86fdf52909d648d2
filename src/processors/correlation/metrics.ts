import type { Attributes, Counter, Meter } from '@opentelemetry/api';

export interface CorrelationInstruments {
  spans: Counter<Attributes>;
  crashes: Counter<Attributes>;
  evictions: Counter<Attributes>;
  exits: Counter<Attributes>;
}

export function createCorrelationInstruments(meter: Meter): CorrelationInstruments {
  return {
    spans: meter.createCounter('scope_correlation_spans', {
      unit: '{span}', description: 'Spans the correlation processor made from BEAM events, by origin (function, message, telemetry, continuation).',
    }),
    crashes: meter.createCounter('scope_correlation_crashes', {
      unit: '{crash}', description: 'process.crash events emitted (root_cause = true for the first crash of a cascade).',
    }),
    exits: meter.createCounter('scope_correlation_exits', {
      unit: '{exit}', description: 'Abnormal exits (and exits caused by one) classified by the crash rules, by rule (crash_report, supervisor_report, erpc_result, shell, unreported…).',
    }),
    evictions: meter.createCounter('scope_correlation_evictions', {
      unit: '{item}', description: 'State the correlation processor had to forget or refused to keep, by reason (bounded memory).',
    }),
  };
}
