import type { JsonSchema } from '../../model/schemas.js';
import { DETECTOR_NAMES } from './detectors.js';

export type PrivacyAction = 'mask' | 'hash' | 'drop';

export interface KeyRule { key: string; action?: PrivacyAction }
export interface ValueRule { pattern: string; action?: PrivacyAction }
export interface DetectorSetting { enabled?: boolean; action?: PrivacyAction }

export interface PrivacyConfig {
  action: PrivacyAction;
  mask: string;
  hash_salt?: string;
  allowed_keys?: string[];
  blocked_keys: Array<string | KeyRule>;
  blocked_values: Array<string | ValueRule>;
  detectors: Record<string, boolean | DetectorSetting>;
  db_sanitizer: { enabled: boolean; keys: string[] };
  url_sanitizer: { enabled: boolean; keys: string[] };
  max_term_bytes: number;
  max_state_bytes: number;
  term_keys: string[];
  state_keys: string[];
}

const action: JsonSchema = { enum: ['mask', 'hash', 'drop'] };

export const privacyConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    action: {
      ...action, default: 'mask',
      description: 'What a rule does unless it says otherwise: mask (replace with `mask`), hash (salted SHA-256, so equal values still correlate), drop (remove the attribute).',
    },
    mask: { type: 'string', default: '****', description: 'The text a masked secret is replaced with.' },
    hash_salt: {
      type: 'string', minLength: 1,
      description: 'Salt for the hash action (set it from ${env:…}); without it a fixed per-process random salt is used, so hashes correlate within one run only.',
    },
    allowed_keys: {
      type: 'array', items: { type: 'string', minLength: 1 },
      description: 'When set, attributes whose key matches none of these (exact, glob with *, or /regex/) are removed, as in the Collector\'s redaction processor.',
    },
    blocked_keys: {
      type: 'array', default: [],
      items: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string', minLength: 1 }, action } },
        ],
      },
      description: 'Attribute keys whose whole value is a secret: a pattern (exact, glob, /regex/) or {key, action}.',
    },
    blocked_values: {
      type: 'array', default: [],
      items: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'object', additionalProperties: false, required: ['pattern'], properties: { pattern: { type: 'string', minLength: 1 }, action } },
        ],
      },
      description: 'Regular expressions (without slashes) whose matches in any string value are secrets: a pattern or {pattern, action}.',
    },
    detectors: {
      type: 'object', default: {},
      additionalProperties: false,
      properties: Object.fromEntries(DETECTOR_NAMES.map((name) => [name, {
        oneOf: [{ type: 'boolean' }, { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, action } }],
      }])),
      description: `Built-in detectors, all on by default: ${DETECTOR_NAMES.join(', ')}. Each is true/false or {enabled, action}. password_keys also treats attribute keys named like secrets (password, token, authorization, cookie, …) as blocked.`,
    },
    db_sanitizer: {
      type: 'object', additionalProperties: false, default: {},
      description: 'SQL literals replaced by ? in these attributes.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Sanitize SQL.' },
        keys: { type: 'array', items: { type: 'string' }, default: ['db.query.text', 'db.statement', 'query'], description: 'Attributes holding SQL.' },
      },
    },
    url_sanitizer: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Query-string values replaced by ? in these attributes.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Sanitize URLs.' },
        keys: { type: 'array', items: { type: 'string' }, default: ['url.full', 'url.query', 'http.url', 'http.target', 'uri', 'path'], description: 'Attributes holding URLs.' },
      },
    },
    max_term_bytes: {
      type: 'integer', minimum: 16, default: 1024,
      description: 'Rendered Erlang terms in term_keys are cut to this size at an element boundary, kept well formed (`{a,[1,2,...]}`).',
    },
    max_state_bytes: { type: 'integer', minimum: 16, default: 4096, description: 'The same for GenServer states (state_keys).' },
    term_keys: {
      type: 'array', items: { type: 'string' },
      default: ['beam.message', 'beam.args', 'beam.return', 'beam.reason', 'beam.reply', 'beam.trace_message', 'scope.crash.poison_message'],
      description: 'Attributes holding rendered Erlang terms.',
    },
    state_keys: { type: 'array', items: { type: 'string' }, default: ['old_state', 'new_state'], description: 'Attributes holding rendered GenServer states.' },
  },
};
