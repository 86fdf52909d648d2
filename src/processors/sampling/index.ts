import { defineProcessor } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { samplingConfigSchema, type SamplingConfig } from './config.js';
import { Sampler } from './sampler.js';
import { samplingOperator } from './sampling.js';

export const samplingProcessor = defineProcessor<SamplingConfig>({
  type: 'sampling',
  kind: 'processor',
  description: 'Head sampling consistent with the Collector\'s probabilistic_sampler, per-type rates for raw events, and tail sampling by policies; errors, crashes and anomalies always kept',
  stability: 'alpha',
  // Writes the sampling threshold into kept spans' tracestate.
  mutatesData: true,
  // Tail sampling holds spans for decision_wait.
  holdsItems: (config) => config.tail !== undefined,
  configSchema: samplingConfigSchema,
  create: (config, ctx) => {
    const waitMs = config.tail ? parseDuration(config.tail.decision_wait) : 0;
    const sampler = new Sampler(config, waitMs);
    const decisions = ctx.meter.createCounter('scope_sampling_decisions', {
      unit: '{trace}', description: 'Tail sampling decisions by outcome and the policy (or rule) that made them.',
    });
    return {
      operator: samplingOperator(sampler, Math.max(20, Math.min(1000, waitMs / 10)), (drops, made) => {
        for (const [reason, n] of drops) ctx.countDropped(n, reason);
        for (const [outcome, n] of made) decisions.add(n, { processor: ctx.id, decision: outcome });
      }),
    };
  },
});
