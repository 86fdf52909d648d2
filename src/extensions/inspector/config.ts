import type { JsonSchema } from '../../model/schemas.js';

export interface InspectorConfig {
  endpoint: string;
  window: string;
  max_size: string | number;
  max_connections: number;
  auth?: { bearer_token: string };
}

export const inspectorConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: 'string', format: 'endpoint', default: '127.0.0.1:4320',
      description: 'Where the live window answers `inspect --daemon` (HTTP, JSON lines). Loopback by default; port 0 picks a free one (logged).',
    },
    window: { type: 'string', format: 'duration', default: '10m', description: 'How long an event or span stays in the window after it passed the pipeline.' },
    max_size: {
      type: ['string', 'integer'], format: 'size', default: '256MiB',
      description: 'Bytes the window may hold (its JSON form); the oldest items go first past it (counted, reason max_size).',
    },
    max_connections: { type: 'integer', minimum: 1, default: 16, description: 'Connections served at once; more are closed at once (counted).' },
    auth: {
      type: 'object', additionalProperties: false, required: ['bearer_token'],
      description: 'Requests must carry `Authorization: Bearer <token>` (inspect: --token or SCOPE_INSPECTOR_TOKEN).',
      properties: { bearer_token: { type: 'string', minLength: 16, description: 'The token (at least 16 characters; e.g. "${env:SCOPE_INSPECTOR_TOKEN}").' } },
    },
  },
};
