import { defineProcessor } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { correlationConfigSchema, type CorrelationConfig } from './config.js';
import { correlationOperator } from './correlation.js';
import { Correlator } from './correlator.js';
import { createCorrelationInstruments } from './metrics.js';
import { anyOf } from '../../util/match.js';
import { CounterTally } from '../../util/tally.js';

export const correlationProcessor = defineProcessor<CorrelationConfig>({
  type: 'correlation',
  kind: 'processor',
  description: 'Turns BEAM trace and telemetry events into spans across processes and explains crashes (process.crash); events pass through',
  stability: 'alpha',
  mutatesData: false,
  configSchema: correlationConfigSchema,
  create: (config, ctx) => {
    const instruments = createCorrelationInstruments(ctx.meter);
    // Spans and evictions come one at a time, hundreds of thousands a second on a busy node: counted per batch.
    const spans = new CounterTally(instruments.spans, (origin) => ({ processor: ctx.id, origin }));
    const evictions = new CounterTally(instruments.evictions, (reason) => ({ processor: ctx.id, reason }));
    const callTimeoutMs = parseDuration(config.call_timeout);
    const crashWindowMs = parseDuration(config.crash_window);
    const correlator = new Correlator({
      component: ctx.id,
      callTimeoutMs,
      crashWindowMs,
      idleMs: Math.min(callTimeoutMs, 2_000),
      crashContextMessages: config.crash_context_messages,
      maxTrackedProcesses: config.max_tracked_processes,
      maxPendingMessages: config.max_pending_messages,
      maxSpansPerTrace: config.max_spans_per_trace,
      maxTraceDurationMs: parseDuration(config.max_trace_duration),
      ...(config.ignore_exits.reasons.length > 0 ? { ignoreExitReasons: anyOf(config.ignore_exits.reasons) } : {}),
      ...(config.ignore_exits.initial_calls.length > 0 ? { ignoreInitialCalls: anyOf(config.ignore_exits.initial_calls) } : {}),
      maxStackDepth: config.max_stack_depth,
      ...(config.service_name ? { serviceName: config.service_name } : {}),
      onEvict: (reason, count) => evictions.add(reason, count),
      onSpan: (origin) => spans.add(origin),
      onCrash: (rootCause) => instruments.crashes.add(1, { processor: ctx.id, root_cause: rootCause }),
      onExitClassified: (rule) => instruments.exits.add(1, { processor: ctx.id, rule }),
    });
    const flushCounts = (): void => {
      spans.flush();
      evictions.flush();
    };
    return { operator: correlationOperator(correlator, Math.max(50, Math.min(500, crashWindowMs / 4)), flushCounts) };
  },
});
