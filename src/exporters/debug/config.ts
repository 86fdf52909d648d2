import type { JsonSchema } from '../../model/schemas.js';

export interface DebugConfig {
  path: string;
  format: 'text' | 'json';
  verbosity: 'basic' | 'detailed';
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
      enum: ['basic', 'detailed'], default: 'basic',
      description: 'For text: basic = one line per item; detailed = every field of every item.',
    },
  },
};
