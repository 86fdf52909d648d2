import { defineProcessor } from '../../component/types.js';
import { memoryLimiterConfigSchema, validateMemoryLimiterConfig, type MemoryLimiterConfig } from './config.js';
import { MemoryLimiter } from './memory_limiter.js';

export const memoryLimiterProcessor = defineProcessor<MemoryLimiterConfig>({
  type: 'memory_limiter',
  kind: 'processor',
  description: 'Refuses data while memory use is above a soft limit, so the process never runs out of memory',
  stability: 'beta',
  mutatesData: false,
  configSchema: memoryLimiterConfigSchema,
  validate: validateMemoryLimiterConfig,
  create: (config, ctx) => new MemoryLimiter(config, ctx),
});
