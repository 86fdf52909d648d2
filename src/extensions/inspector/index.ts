import { defineExtension } from '../../component/types.js';
import { inspectorConfigSchema, type InspectorConfig } from './config.js';
import { InspectorExtension } from './inspector.js';

export const inspectorExtension = defineExtension<InspectorConfig>({
  type: 'inspector',
  kind: 'extension',
  description: 'Keeps the recent events and spans in memory, bounded by age and size, and serves them to `scope-pipeline inspect --daemon`',
  stability: 'alpha',
  configSchema: inspectorConfigSchema,
  create: (config, ctx) => new InspectorExtension(config, ctx),
});
