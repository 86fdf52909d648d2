import type { JsonSchema } from '../../model/schemas.js';

export interface AnomalyConfig {
  latency: { enabled: boolean; min_samples: number; window: string; quantile: number; p_value: number; check_every: number };
  errors: { enabled: boolean; bucket: string; p_value: number; min_count: number; prior_per_bucket: number };
  messages: { enabled: boolean; bucket: string; p_value: number; min_count: number; prior_per_bucket: number };
  spawns: { enabled: boolean; bucket: string; p_value: number; min_count: number; prior_per_bucket: number };
  mailbox: { enabled: boolean; samples: number; min_growth: number };
  memory: { enabled: boolean; samples: number; min_growth_bytes: number };
  max_keys: number;
  event_every: string;
  persist_path?: string;
}

const burst = (what: string, minCount: number, prior: number): JsonSchema => ({
  type: 'object', additionalProperties: false, default: {},
  description: `${what}: counted per key in buckets of event time; a bucket whose count is improbable under the key's expected rate (an EWMA of past buckets, at least prior_per_bucket) by a Poisson tail below p_value is a detection.`,
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Score this kind.' },
    bucket: { type: 'string', format: 'duration', default: '10s', description: 'Bucket length (event time).' },
    p_value: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 1e-6, description: 'Poisson tail probability below which a count is a burst.' },
    min_count: { type: 'integer', minimum: 1, default: minCount, description: 'Fewer than this in a bucket is never a burst.' },
    prior_per_bucket: { type: 'number', exclusiveMinimum: 0, default: prior, description: 'The expected count per bucket of a key never seen before (and the floor of every expectation).' },
  },
});

export const anomalyConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    latency: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Span latency per service.name + span name against a DDSketch baseline of the key\'s previous window (its median and median absolute deviation of log duration, robust to a slow minority).',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Score span latency.' },
        min_samples: { type: 'integer', minimum: 10, default: 200, description: 'Spans a key needs before any score is given (warm-up).' },
        window: { type: 'string', format: 'duration', default: '5m', description: 'Baseline window (event time): each window\'s sketch becomes the next one\'s baseline.' },
        quantile: { type: 'number', minimum: 0.5, maximum: 0.9999, default: 0.99, description: 'The quantile a duration is compared to (scope.anomaly.expected): of the log-normal with the baseline\'s median and MAD of log duration, so a few percent of much slower spans do not raise it.' },
        p_value: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 1e-6, description: 'A regression is detected when the share of spans above the quantile, among the last check_every of a key, is that improbable given the baseline\'s own share above it (at least 1 - quantile).' },
        check_every: { type: 'integer', minimum: 5, default: 50, description: 'Spans per key between regression checks.' },
      },
    },
    errors: burst('Error and crash bursts per key (ERROR spans per service + name; process.crash and abnormal process.exit per initial call)', 5, 0.2),
    messages: burst('Message storms per sending process', 2000, 50),
    spawns: burst('Spawn storms per parent process', 200, 2),
    mailbox: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Mailbox growth from the process sampler\'s beam.process.message_queue_len: a queue that grew in each of the last `samples` samples, by min_growth in all.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Watch mailboxes.' },
        samples: { type: 'integer', minimum: 2, default: 3, description: 'Consecutive growing samples.' },
        min_growth: { type: 'integer', minimum: 1, default: 100, description: 'Messages the queue must have grown by over those samples.' },
      },
    },
    memory: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Memory growth per process from beam.process.memory: grew in each of the last `samples` samples, by min_growth_bytes in all.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Watch process memory.' },
        samples: { type: 'integer', minimum: 2, default: 5, description: 'Consecutive growing samples.' },
        min_growth_bytes: { type: 'integer', minimum: 1, default: 16 * 1024 * 1024, description: 'Bytes the process must have grown by over those samples.' },
      },
    },
    max_keys: { type: 'integer', minimum: 16, default: 10_000, description: 'Keys kept per kind; the least recently used is evicted (counted).' },
    event_every: { type: 'string', format: 'duration', default: '1m', description: 'At most one anomaly.detected event per kind and key in this long (wall clock): a storm is one event, not thousands.' },
    persist_path: { type: 'string', minLength: 1, description: 'Latency baselines are written here on shutdown and read on start, so a restart does not relearn from zero.' },
  },
};
