import type { JsonSchema } from '../../model/schemas.js';

export interface BatchConfig {
  send_batch_size: number;
  send_batch_max_size: number;
  timeout: string;
}

export const batchConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    send_batch_size: {
      type: 'integer', minimum: 1, default: 8192,
      description: 'Items (events + spans + metrics) that make a batch be sent at once, before the timeout.',
    },
    send_batch_max_size: {
      type: 'integer', minimum: 0, default: 0,
      description: 'Upper bound of a sent batch; larger ones are split. 0 means no bound. Must be >= send_batch_size.',
    },
    timeout: {
      type: 'string', format: 'duration', default: '200ms',
      description: 'Longest time an item waits for its batch to fill. 0 sends every batch as it comes (still split by send_batch_max_size).',
    },
  },
};

export function validateBatchConfig(config: BatchConfig): string[] {
  if (config.send_batch_max_size > 0 && config.send_batch_max_size < config.send_batch_size) {
    return ['send_batch_max_size: must be >= send_batch_size (or 0 for no bound)'];
  }
  return [];
}
