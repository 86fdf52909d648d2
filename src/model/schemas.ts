/**
 * The schema registry: one JSON Schema per event family and version
 * (`process_lifecycle.v1`, `message_flow.v1`, …), compiled once with ajv.
 * Event types are a public contract (the archive, queries and dashboards key on
 * them), so an event whose type has no schema is rejected, except `custom.*`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ScopeError } from '../util/errors.js';
import type { ScopeEvent } from './types.js';

export type JsonSchema = Record<string, unknown>;

export interface EventSchemaDefinition {
  /** Family name, e.g. `message_flow`; the registry key is `<name>.v<version>`. */
  name: string;
  version: number;
  /** Event types this schema covers: exact (`message.send`) or a prefix pattern (`telemetry.*`). */
  types: readonly string[];
  /** Constraints added to the common envelope (usually `required` attributes). */
  schema: JsonSchema;
  description?: string;
}

export interface EventRejection {
  /** Registry key of the schema that failed, or `none` when the type is unknown. */
  schema: string;
  /** JSON pointer into the event of the value that failed. */
  path: string;
  message: string;
}

const HEX32 = '^[0-9a-f]{32}$';
const HEX16 = '^[0-9a-f]{16}$';

/** The envelope every event shares (DESIGN.md, data model). */
const envelope: JsonSchema = {
  type: 'object',
  required: ['id', 'type', 'schemaVersion', 'time', 'source', 'attributes'],
  properties: {
    id: { type: 'string', minLength: 1 },
    type: { type: 'string', pattern: '^[a-z0-9_]+(\\.[A-Za-z0-9_]+)+$' },
    schemaVersion: { type: 'integer', minimum: 1 },
    time: { unixNanos: true },
    source: {
      type: 'object',
      required: ['node', 'component'],
      properties: {
        node: { type: 'string', minLength: 1 },
        app: { type: 'string' },
        component: { type: 'string', minLength: 1 },
      },
    },
    pid: { type: 'string', minLength: 1 },
    traceId: { type: 'string', pattern: HEX32 },
    spanId: { type: 'string', pattern: HEX16 },
    causationId: { type: 'string' },
    attributes: { type: 'object' },
    resource: { type: 'object' },
  },
};

const attr = (...names: string[]): JsonSchema => ({
  required: ['attributes'],
  properties: { attributes: { type: 'object', required: names, properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])) } },
});

const whenType = (type: string, then: JsonSchema): JsonSchema => ({
  if: { properties: { type: { const: type } } },
  then,
});

/** The built-in families; receivers add theirs with registerEventSchema(). */
export const builtinEventSchemas: readonly EventSchemaDefinition[] = [
  {
    name: 'process_lifecycle',
    version: 1,
    description: 'Process spawn, exit, link and registration; crashes explained by correlation',
    types: [
      'process.spawn', 'process.spawned', 'process.exit', 'process.link', 'process.unlink',
      'process.getting_linked', 'process.getting_unlinked', 'process.register', 'process.unregister', 'process.crash',
      'process.snapshot',
    ],
    schema: { required: ['pid'] },
  },
  {
    name: 'message_flow',
    version: 1,
    description: 'Messages sent and received between processes',
    types: ['message.send', 'message.send_to_dead', 'message.receive'],
    schema: {
      required: ['pid'],
      allOf: [whenType('message.send', attr('beam.peer_pid', 'beam.message')), whenType('message.receive', attr('beam.message'))],
    },
  },
  {
    name: 'function_call',
    version: 1,
    description: 'Traced function calls, returns and exceptions',
    types: ['function.call', 'function.return', 'function.exception', 'function.return_to'],
    schema: { required: ['pid'], ...attr('beam.mfa') },
  },
  {
    name: 'state_change',
    version: 1,
    description: 'GenServer state history from the state tracker',
    types: ['state.change'],
    schema: { required: ['pid'] },
  },
  {
    name: 'telemetry',
    version: 1,
    description: ':telemetry events forwarded by the scope_beam shim',
    types: ['telemetry.*'],
    schema: {},
  },
  {
    name: 'beam_runtime',
    version: 1,
    description: 'Scheduling, garbage collection, ports, seq_trace and driver drops',
    types: ['scheduler.*', 'gc.*', 'port.*', 'seq_trace.*', 'trace.dropped'],
    schema: {},
  },
  {
    name: 'otel_log',
    version: 1,
    description: 'OpenTelemetry log records',
    types: ['otel.log'],
    schema: {},
  },
  {
    name: 'anomaly',
    version: 1,
    description: 'Detections of the anomaly processor',
    types: ['anomaly.detected'],
    schema: {},
  },
  {
    name: 'custom',
    version: 1,
    description: 'User-defined events: the envelope only, any attributes',
    types: ['custom.*'],
    schema: {},
  },
];

interface CompiledSchema {
  key: string;
  version: number;
  /** Compiled when an event of the schema is first validated (see register). */
  validator(): ValidateFunction;
}

function describe(error: ErrorObject): { path: string; message: string } {
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return { path: `${error.instancePath}/${missing}`, message: 'is required' };
  }
  if (error.keyword === 'unixNanos') return { path: error.instancePath, message: 'must be Unix nanoseconds as a non-negative bigint' };
  return { path: error.instancePath || '/', message: error.message ?? error.keyword };
}

/**
 * Event schemas by type and version. A schema registered by a caller is
 * compiled at once (a bad schema fails its registration); the built-in ones
 * when an event of theirs is first validated, as a pipeline that takes only
 * OTLP never needs them and their compiled code is about 5 MiB of RSS.
 */
export class EventSchemaRegistry {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  /** Exact type → versions. */
  private readonly exact = new Map<string, CompiledSchema[]>();
  /** Prefix (without `*`) → versions, searched longest prefix first. */
  private prefixes: Array<[string, CompiledSchema[]]> = [];
  private readonly definitions = new Map<string, EventSchemaDefinition>();
  /** Resolution cache: type → versions (or null for unknown types). */
  private readonly cache = new Map<string, CompiledSchema[] | null>();

  constructor(definitions: readonly EventSchemaDefinition[] = builtinEventSchemas) {
    this.ajv.addKeyword({
      keyword: 'unixNanos',
      errors: false,
      validate: (_schema: unknown, data: unknown) => typeof data === 'bigint' && data >= 0n,
    });
    for (const d of definitions) this.register(d, { compile: 'on first use' });
  }

  register(definition: EventSchemaDefinition, options: { compile: 'now' | 'on first use' } = { compile: 'now' }): void {
    const key = `${definition.name}.v${definition.version}`;
    if (this.definitions.has(key)) throw new ScopeError('SCHEMA_DUPLICATE', `event schema ${key} is already registered`);
    let validate: ValidateFunction | undefined;
    const validator = (): ValidateFunction => (validate ??= this.ajv.compile({ allOf: [envelope, definition.schema] }));
    if (options.compile === 'now') validator();
    const compiled: CompiledSchema = { key, version: definition.version, validator };
    for (const type of definition.types) {
      if (type.endsWith('.*')) {
        const prefix = type.slice(0, -1);
        const entry = this.prefixes.find(([p]) => p === prefix);
        if (entry) entry[1].push(compiled);
        else this.prefixes.push([prefix, [compiled]]);
      } else {
        const list = this.exact.get(type) ?? [];
        list.push(compiled);
        this.exact.set(type, list);
      }
    }
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
    this.definitions.set(key, definition);
    this.cache.clear();
  }

  list(): EventSchemaDefinition[] {
    return [...this.definitions.values()];
  }

  private schemasFor(type: string): CompiledSchema[] | null {
    let found = this.cache.get(type);
    if (found !== undefined) return found;
    found = this.exact.get(type) ?? this.prefixes.find(([p]) => type.startsWith(p))?.[1] ?? null;
    this.cache.set(type, found);
    return found;
  }

  /** Null when valid; otherwise which schema failed, where, and why. Never throws. */
  validate(event: ScopeEvent): EventRejection | null {
    const type = (event as { type?: unknown }).type;
    if (typeof type !== 'string') return { schema: 'none', path: '/type', message: 'must be a string' };
    const versions = this.schemasFor(type);
    if (!versions) return { schema: 'none', path: '/type', message: `unknown event type "${type}" (use custom.* for your own)` };
    const compiled = versions.find((c) => c.version === event.schemaVersion);
    if (!compiled) {
      const known = versions.map((c) => c.key).join(', ');
      return { schema: 'none', path: '/schemaVersion', message: `no schema version ${String(event.schemaVersion)} for "${type}" (known: ${known})` };
    }
    const validate = compiled.validator();
    if (validate(event)) return null;
    const error = validate.errors?.find((e) => e.keyword !== 'if') ?? validate.errors?.[0];
    const { path, message } = error ? describe(error) : { path: '/', message: 'invalid' };
    return { schema: compiled.key, path, message };
  }
}

/** The process-wide registry the pipeline validates against. */
export const eventSchemas = new EventSchemaRegistry();

/** Adds an event family (library users with their own event types). */
export function registerEventSchema(definition: EventSchemaDefinition): void {
  eventSchemas.register(definition);
}
