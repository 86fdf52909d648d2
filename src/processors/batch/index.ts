import { defineProcessor } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { batching } from './batch.js';
import { batchConfigSchema, validateBatchConfig, type BatchConfig } from './config.js';

export const batchProcessor = defineProcessor<BatchConfig>({
  type: 'batch',
  kind: 'processor',
  description: 'Merges items into batches by size and time before they reach the exporters',
  stability: 'beta',
  mutatesData: false,
  holdsItems: () => true,
  configSchema: batchConfigSchema,
  validate: validateBatchConfig,
  create: (config) => ({
    operator: batching({
      sendBatchSize: config.send_batch_size,
      maxBatchSize: config.send_batch_max_size,
      timeoutMs: parseDuration(config.timeout),
    }),
  }),
});
