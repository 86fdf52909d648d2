import type { JsonSchema } from '../../model/schemas.js';
import { DEFAULT_SECRET_FUNCTIONS, DETECTOR_NAMES } from './detectors.js';

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
  /** Literal secret values (the distribution cookie, …), masked wherever they appear; defaults to none. */
  secrets?: string[];
  /** Functions whose arguments and return values are secrets (secret_args); defaults to DEFAULT_SECRET_FUNCTIONS. */
  secret_functions?: string[];
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
      description: `Built-in detectors, all on by default: ${DETECTOR_NAMES.join(', ')}. Each is true/false or {enabled, action}. password_keys also treats attribute keys named like secrets (password, token, authorization, cookie, …) as blocked; distribution_cookie finds atoms of exactly 20 uppercase letters (what auth makes a cookie of); secret_args masks every string literal in the arguments and return value of the functions in secret_functions.`,
    },
    secrets: {
      type: 'array', default: [], items: { type: 'string' },
      description: 'Literal secret values, such as the node\'s distribution cookie ("${env:RELEASE_COOKIE}"): masked wherever they appear in a string value, in any quoting (\'COOKIE\', :"COOKIE", <<"COOKIE">>, escaped inside a binary, a byte list). Empty values (an unset ${env:X:-}) are ignored; values shorter than 4 characters are refused.',
    },
    secret_functions: {
      type: 'array', items: { type: 'string', minLength: 1 }, default: DEFAULT_SECRET_FUNCTIONS,
      description: 'Functions that take secrets, for the secret_args detector: patterns (exact, glob with *, or /regex/) matched against the function name (check_password) and against the whole beam.mfa (my_auth:check_password/2). Their function.call beam.args, function.return beam.return and function.exception beam.reason, and the beam.args/beam.return/beam.reason/exception.message of spans whose code.function or name matches, have every string literal masked.',
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
