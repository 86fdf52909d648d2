import type { JsonSchema } from '../../model/schemas.js';

export interface DebugConfig {
  path: string;
  format: 'text' | 'json';
  verbosity: 'basic' | 'normal' | 'detailed';
  summary_interval: string;
}

export const debugConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: {
      type: 'string', default: '',
      description: 'File to append to; empty or "-" writes to standard output.',
    },
    format: {
      enum: ['text', 'json'], default: 'text',
      description: 'text: for people; json: one JSON object per line per item (the jsonl receiver reads it back).',
    },
    verbosity: {
      enum: ['basic', 'normal', 'detailed'], default: 'basic',
      description: 'For text: basic = crashes as blocks, anomalies, root and error spans one line each, everything else counted per summary_interval; normal = one line per item; detailed = every field of every item.',
    },
    summary_interval: {
      type: 'string', format: 'duration', default: '10s',
      description: 'For text with verbosity basic: how often the line counting what was not shown (events by type, inner spans, metric points) is written.',
    },
  },
};
