import type { JsonSchema } from '../../model/schemas.js';

export interface JsonlConfig {
  path: string;
  follow: boolean;
  start_at: 'beginning' | 'end';
  poll_interval: string;
  max_batch_items: number;
  max_line_bytes: string | number;
  rebase_time: boolean;
}

export const jsonlConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: {
      type: 'string', minLength: 1,
      description: 'The file to read, or "-" for standard input. Lines are exactly what the debug exporter writes with format: json.',
    },
    follow: {
      type: 'boolean', default: false,
      description: 'Keep reading as the file grows (like tail -F); a truncated file is read again from its start.',
    },
    start_at: {
      enum: ['beginning', 'end'], default: 'beginning',
      description: 'With follow: start at the beginning of the file or only take lines written after start.',
    },
    poll_interval: {
      type: 'string', format: 'duration', default: '250ms',
      description: 'With follow: how often the file is checked for new lines.',
    },
    max_batch_items: {
      type: 'integer', minimum: 1, maximum: 1_000_000, default: 4096,
      description: 'Items handed on per batch.',
    },
    max_line_bytes: {
      type: ['string', 'integer'], minimum: 1, format: 'size', default: '1MiB',
      description: 'Longer lines are skipped and counted (reason line_too_long).',
    },
    rebase_time: {
      type: 'boolean', default: false,
      description: 'Replay the capture as if it began when the receiver started: every time moves by the same amount, so the first item is now and the rest keep their offsets (a recorded demo is not older than the archive\'s retention).',
    },
  },
};
