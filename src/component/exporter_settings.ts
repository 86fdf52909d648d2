/**
 * Options every exporter gets for free (the Collector's exporterhelper): a
 * bounded sending queue and retry with exponential backoff. The pipeline runs
 * them; exporters only send.
 */
import type { JsonSchema } from '../model/schemas.js';

export interface SendingQueueConfig {
  /** Items (events + spans + metrics) the queue holds before it drops the newest (disk: items kept in memory besides the disk). */
  queue_size: number;
  /** Batches sent at once. */
  num_consumers: number;
  storage: 'memory' | 'disk';
  /** Disk: the directory; each exporter has its own sub-directory. */
  path: string;
  max_size: string | number;
  fsync: 'always' | 'interval';
  fsync_interval: string;
}

export interface RetryConfig {
  enabled: boolean;
  initial_interval: string;
  max_interval: string;
  max_elapsed_time: string;
  multiplier: number;
  randomization_factor: number;
}

export interface ExporterSettings {
  sending_queue: SendingQueueConfig;
  retry_on_failure: RetryConfig;
}

export const exporterSettingsProperties: Record<string, JsonSchema> = {
  sending_queue: {
    type: 'object',
    description: 'Bounded queue in front of the exporter. Receivers are paused (or told to retry) above half of it; when it is full the newest batch is dropped and counted (reason queue_full).',
    additionalProperties: false,
    default: {},
    properties: {
      queue_size: { type: 'integer', minimum: 1, default: 200_000, description: 'Capacity in items (events + spans + metrics).' },
      num_consumers: { type: 'integer', minimum: 1, maximum: 64, default: 1, description: 'Batches exported concurrently (1 keeps order).' },
      storage: {
        enum: ['memory', 'disk'], default: 'memory',
        description: 'disk: every batch is appended to a segment log under `path` before receivers acknowledge it, replayed after a restart or a crash, and released only once delivered (parquet: once its file is renamed into place). At least once; the parquet archive holds each item once.',
      },
      path: { type: 'string', minLength: 1, default: './data/queue', description: 'Disk storage: directory of the queue (one sub-directory per exporter).' },
      max_size: { type: ['string', 'integer'], format: 'size', default: '1GiB', description: 'Disk storage: bytes the queue may take; receivers are pushed back (429 / RESOURCE_EXHAUSTED) at 90 %.' },
      fsync: {
        enum: ['always', 'interval'], default: 'always',
        description: 'Disk storage: always — acknowledged after an fsync (appends in one event-loop turn share it); interval — after the write, synced every fsync_interval (survives a killed process, not a power cut).',
      },
      fsync_interval: { type: 'string', format: 'duration', default: '1s', description: 'Disk storage with fsync interval: how often the log is synced.' },
    },
  },
  retry_on_failure: {
    type: 'object',
    description: 'Retry of retryable export failures with exponential backoff.',
    additionalProperties: false,
    default: {},
    properties: {
      enabled: { type: 'boolean', default: true, description: 'Retry failed batches whose error is retryable.' },
      initial_interval: { type: 'string', format: 'duration', default: '5s', description: 'Wait before the first retry.' },
      max_interval: { type: 'string', format: 'duration', default: '30s', description: 'Upper bound of the wait between retries.' },
      max_elapsed_time: { type: 'string', format: 'duration', default: '300s', description: 'Give up on a batch (counted as send_failed) after this long; 0 retries forever.' },
      multiplier: { type: 'number', minimum: 1, default: 1.5, description: 'Each wait is the previous one times this.' },
      randomization_factor: {
        type: 'number', minimum: 0, maximum: 1, default: 0.5,
        description: 'Jitter: each wait is spread by ± this fraction, so many senders do not retry in step. A backend\'s Retry-After is honoured when longer.',
      },
    },
  },
};
