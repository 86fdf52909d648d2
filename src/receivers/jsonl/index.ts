import { defineReceiver } from '../../component/types.js';
import { jsonlConfigSchema, type JsonlConfig } from './config.js';
import { JsonlReceiver } from './jsonl.js';

export const jsonlReceiver = defineReceiver<JsonlConfig>({
  type: 'jsonl',
  kind: 'receiver',
  description: 'Replays JSON lines (the debug exporter\'s json output) from a file, a growing file or stdin',
  stability: 'beta',
  configSchema: jsonlConfigSchema,
  create: (config, ctx) => new JsonlReceiver(config, ctx),
});
