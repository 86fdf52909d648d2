import { defineExporter } from '../../component/types.js';
import { debugConfigSchema, type DebugConfig } from './config.js';
import { DebugExporter } from './debug.js';

export const debugExporter = defineExporter<DebugConfig>({
  type: 'debug',
  kind: 'exporter',
  description: 'Writes items as readable text or JSON lines to stdout or a file',
  stability: 'beta',
  configSchema: debugConfigSchema,
  create: (config, ctx) => new DebugExporter(config, ctx),
});
