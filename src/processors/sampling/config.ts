import type { JsonSchema } from '../../model/schemas.js';

export type PolicyConfig =
  | { name: string; type: 'always_errors' }
  | { name: string; type: 'crash' }
  | { name: string; type: 'latency'; threshold_ms: number }
  | { name: string; type: 'anomaly_score'; threshold: number }
  | { name: string; type: 'attribute'; key: string; values: Array<string | number | boolean>; invert?: boolean }
  | { name: string; type: 'probabilistic'; sampling_percentage: number }
  | { name: string; type: 'rate_limiting'; spans_per_second: number }
  | { name: string; type: 'and'; policies: PolicyConfig[] }
  | {
    name: string; type: 'composite'; max_total_spans_per_second: number; policy_order: string[];
    composite_sub_policy: PolicyConfig[]; rate_allocation?: Array<{ policy: string; percent: number }>;
  };

export interface SamplingConfig {
  mode?: 'proportional' | 'hash_seed';
  sampling_percentage: number;
  follow_datadog_agent: boolean;
  hash_seed: number;
  sampling_precision: number;
  event_sample_rate: Record<string, number>;
  always_keep: { errors: boolean; crashes: boolean; anomaly_score?: number };
  tail?: {
    decision_wait: string;
    num_traces: number;
    decision_cache: number;
    policies: PolicyConfig[];
  };
}

const policyBase = {
  name: { type: 'string', minLength: 1, description: 'Names the policy in counts and logs.' },
};

const leafPolicies: JsonSchema[] = [
  { type: 'object', additionalProperties: false, required: ['name', 'type'], properties: { ...policyBase, type: { const: 'always_errors' } } },
  { type: 'object', additionalProperties: false, required: ['name', 'type'], properties: { ...policyBase, type: { const: 'crash' } } },
  { type: 'object', additionalProperties: false, required: ['name', 'type', 'threshold_ms'], properties: { ...policyBase, type: { const: 'latency' }, threshold_ms: { type: 'number', minimum: 0 } } },
  { type: 'object', additionalProperties: false, required: ['name', 'type', 'threshold'], properties: { ...policyBase, type: { const: 'anomaly_score' }, threshold: { type: 'number', minimum: 0, maximum: 1 } } },
  {
    type: 'object', additionalProperties: false, required: ['name', 'type', 'key', 'values'],
    properties: { ...policyBase, type: { const: 'attribute' }, key: { type: 'string', minLength: 1 }, values: { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } }, invert: { type: 'boolean' } },
  },
  { type: 'object', additionalProperties: false, required: ['name', 'type', 'sampling_percentage'], properties: { ...policyBase, type: { const: 'probabilistic' }, sampling_percentage: { type: 'number', minimum: 0, maximum: 100 } } },
  { type: 'object', additionalProperties: false, required: ['name', 'type', 'spans_per_second'], properties: { ...policyBase, type: { const: 'rate_limiting' }, spans_per_second: { type: 'number', exclusiveMinimum: 0 } } },
];

const policy: JsonSchema = {
  oneOf: [
    ...leafPolicies,
    { type: 'object', additionalProperties: false, required: ['name', 'type', 'policies'], properties: { ...policyBase, type: { const: 'and' }, policies: { type: 'array', minItems: 1, items: { oneOf: leafPolicies } } } },
    {
      type: 'object', additionalProperties: false, required: ['name', 'type', 'max_total_spans_per_second', 'policy_order', 'composite_sub_policy'],
      properties: {
        ...policyBase, type: { const: 'composite' },
        max_total_spans_per_second: { type: 'number', exclusiveMinimum: 0 },
        policy_order: { type: 'array', minItems: 1, items: { type: 'string' } },
        composite_sub_policy: { type: 'array', minItems: 1, items: { oneOf: leafPolicies } },
        rate_allocation: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['policy', 'percent'], properties: { policy: { type: 'string' }, percent: { type: 'number', minimum: 0, maximum: 100 } } },
        },
      },
    },
  ],
};

export const samplingConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: {
      enum: ['proportional', 'hash_seed'],
      description: 'As the Collector\'s probabilistic_sampler: proportional (OpenTelemetry consistent sampling on the trace id\'s 56 random bits, writes ot=th:… to tracestate), or hash_seed (FNV hash of the trace id). Default: proportional, or hash_seed when hash_seed is set.',
    },
    sampling_percentage: { type: 'number', minimum: 0, maximum: 100, default: 100, description: 'Head sampling: the share of traces kept, by trace id (the same decision as the Collector\'s for the same id and percentage).' },
    follow_datadog_agent: {
      type: 'boolean', default: false,
      description: 'Use the sample rate the Datadog Agent answered the datadog exporter with (rate_by_service, per service and env) instead of sampling_percentage, once it has answered.',
    },
    hash_seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the hash_seed mode (the same on every instance of a tier).' },
    sampling_precision: { type: 'integer', minimum: 1, maximum: 14, default: 4, description: 'Hex digits of the threshold written to tracestate (proportional mode).' },
    event_sample_rate: {
      type: 'object', default: {}, additionalProperties: { type: 'number', minimum: 0, maximum: 1 },
      description: 'Raw events kept per type pattern (exact, glob with *, /regex/), 0..1, e.g. {"message.*": 0.1}; by trace id when the event has one, else by a hash of its id. First matching pattern wins; unmatched types are all kept.',
    },
    always_keep: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Priority sampling: traces kept whatever the rate and the policies say.',
      properties: {
        errors: { type: 'boolean', default: true, description: 'Traces with a span whose status is ERROR.' },
        crashes: { type: 'boolean', default: true, description: 'Traces a process.crash event points at.' },
        anomaly_score: { type: 'number', minimum: 0, maximum: 1, default: 0.8, description: 'Traces with a span whose scope.anomaly.score reaches this.' },
      },
    },
    tail: {
      type: 'object', additionalProperties: false,
      description: 'Tail sampling: spans are held per trace for decision_wait, then the trace is decided whole — kept when always_keep or the head rate says so, or when a policy samples it and none drops it (the Collector\'s rule: any drop → drop; else any sample → sample).',
      properties: {
        decision_wait: { type: 'string', format: 'duration', default: '10s', description: 'How long a trace\'s spans are held after its first span arrived.' },
        num_traces: { type: 'integer', minimum: 1, default: 50_000, description: 'Traces held at once; beyond it the oldest is decided early (counted).' },
        decision_cache: { type: 'integer', minimum: 1, default: 100_000, description: 'Decided trace ids remembered, so late spans follow their trace\'s decision.' },
        policies: { type: 'array', default: [], items: policy, description: 'always_errors, crash, latency {threshold_ms}, anomaly_score {threshold}, attribute {key, values, invert}, probabilistic {sampling_percentage}, rate_limiting {spans_per_second}, and {policies}, composite {max_total_spans_per_second, policy_order, composite_sub_policy, rate_allocation}.' },
      },
    },
  },
};
