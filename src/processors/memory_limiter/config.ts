import type { JsonSchema } from '../../model/schemas.js';

export interface MemoryLimiterConfig {
  check_interval: string;
  limit_mib?: number;
  spike_limit_mib?: number;
  limit_percentage?: number;
  spike_limit_percentage?: number;
  memory_source: 'heap' | 'rss';
}

export const memoryLimiterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    check_interval: {
      type: 'string', format: 'duration', default: '1s',
      description: 'How often memory use is measured.',
    },
    limit_mib: {
      type: 'integer', minimum: 1,
      description: 'Hard limit in MiB. Data is refused above the soft limit (limit_mib - spike_limit_mib); above the hard limit a garbage collection is forced when the process runs with --expose-gc.',
    },
    spike_limit_mib: {
      type: 'integer', minimum: 0,
      description: 'Headroom in MiB below the hard limit for spikes between checks. Default: 20% of limit_mib.',
    },
    limit_percentage: {
      type: 'integer', minimum: 1, maximum: 100,
      description: 'Hard limit as a percentage of the machine\'s total memory (instead of limit_mib).',
    },
    spike_limit_percentage: {
      type: 'integer', minimum: 0, maximum: 100,
      description: 'Spike headroom as a percentage of total memory. Default: 20% of the limit.',
    },
    memory_source: {
      enum: ['heap', 'rss'], default: 'heap',
      description: 'What is measured: heap = V8 heap in use + memory held by Buffers (drops as soon as data is collected); rss = resident set size (what the OOM killer sees, slower to fall).',
    },
  },
};

export function validateMemoryLimiterConfig(c: MemoryLimiterConfig): string[] {
  const byMib = c.limit_mib !== undefined;
  const byPct = c.limit_percentage !== undefined;
  if (!byMib && !byPct) return ['limit_mib: is required (or give limit_percentage)'];
  if (byMib && byPct) return ['limit_percentage: give either limit_mib or limit_percentage, not both'];
  if (byMib && c.spike_limit_mib !== undefined && c.spike_limit_mib >= (c.limit_mib as number)) {
    return ['spike_limit_mib: must be < limit_mib'];
  }
  if (byPct && c.spike_limit_percentage !== undefined && c.spike_limit_percentage >= (c.limit_percentage as number)) {
    return ['spike_limit_percentage: must be < limit_percentage'];
  }
  return [];
}
