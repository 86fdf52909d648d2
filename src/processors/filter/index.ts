import { defineProcessor } from '../../component/types.js';
import { filterConfigSchema, validateFilterConfig, type FilterConfig } from './config.js';
import { filterOperator } from './filter.js';

export const filterProcessor = defineProcessor<FilterConfig>({
  type: 'filter',
  kind: 'processor',
  description: 'Drops events, spans and metrics by type, name, node, service, status or attribute',
  stability: 'beta',
  mutatesData: false,
  configSchema: filterConfigSchema,
  validate: validateFilterConfig,
  create: (config, ctx) => ({ operator: filterOperator(config, ctx) }),
});
