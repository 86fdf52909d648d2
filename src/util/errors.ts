/**
 * Every error the library throws carries a stable `code` from this one table,
 * so callers can branch on it without parsing messages (as Fastify's lib/errors.js does).
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'Configuration is invalid',
  CONFIG_READ: 'Configuration file cannot be read',
  CONFIG_PARSE: 'Configuration file is not valid YAML',
  COMPONENT_DUPLICATE: 'A component type is registered twice',
  COMPONENT_INVALID: 'A component factory is malformed',
  PIPELINE_STATE: 'The pipeline is not in a state that allows this call',
  PUSH_TARGET: 'push() names no usable push receiver',
  SCHEMA_DUPLICATE: 'An event schema is registered twice',
  ARCHIVE_NOT_FOUND: 'The archive directory does not exist',
  ARCHIVE_LOCKED: 'Another process is writing the archive',
  QUEUE_LOCKED: 'Another process is using the disk sending queue',
  QUERY_FAILED: 'The archive query failed',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ScopeError extends Error {
  readonly code: ErrorCode;
  /** Every problem found, for errors that collect several (config validation). */
  readonly problems: readonly string[];

  constructor(code: ErrorCode, message: string, problems: readonly string[] = []) {
    super(message);
    this.name = 'ScopeError';
    this.code = code;
    this.problems = problems;
  }
}
