/**
 * Validation of the whole document. Every problem is collected and reported at
 * once with the user's path (`processors.batch.timeout: must match duration like 200ms`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { registry as defaultRegistry, type ComponentRegistry } from '../component/registry.js';
import { exporterSettingsProperties } from '../component/exporter_settings.js';
import type { ComponentFactory, ComponentKind } from '../component/types.js';
import type { JsonSchema } from '../model/schemas.js';
import { ScopeError } from '../util/errors.js';
import { isEndpoint, tryParseDuration, tryParseSize } from './units.js';
import { parseComponentId, SECTIONS, type ResolvedConfig } from './types.js';

// coerceTypes: YAML `timeout: 0` or a port written as a number are what users mean, as the Collector's weak typing allows.
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false, verbose: true });
ajv.addFormat('duration', { type: 'string', validate: (s: string) => tryParseDuration(s) !== null });
ajv.addFormat('size', { type: 'string', validate: (s: string) => tryParseSize(s) !== null });
ajv.addFormat('endpoint', { type: 'string', validate: isEndpoint });

const formatMessages: Record<string, string> = {
  duration: 'must match duration like 200ms, 5s or 1m30s',
  size: 'must be a size like 64MiB, 512KB or a number of bytes',
  endpoint: 'must be host:port like 127.0.0.1:4317',
};

const typeNames: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'a map', array: 'a list', null: 'empty',
};

function join(path: string, pointer: string): string {
  let out = path;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(key) ? `${out}[${key}]` : out ? `${out}.${key}` : key;
  }
  return out;
}

function describeError(base: string, e: ErrorObject): string {
  const path = join(base, e.instancePath);
  switch (e.keyword) {
    case 'required':
      return `${join(path, '/' + (e.params as { missingProperty: string }).missingProperty)}: is required`;
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `${join(path, '/' + extra)}: unknown option${known.length ? ` (known: ${known.join(', ')})` : ''}`;
    }
    case 'type': {
      const t = (e.params as { type: string | string[] }).type;
      const names = (Array.isArray(t) ? t : t.split(',')).map((x) => typeNames[x] ?? x);
      return `${path}: must be ${names.join(' or ')}`;
    }
    case 'format':
      return `${path}: ${formatMessages[(e.params as { format: string }).format] ?? e.message}`;
    case 'enum':
      return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`;
    default:
      return `${path}: ${e.message ?? e.keyword}`;
  }
}

/** The schema a component's config is checked against (exporters get the shared queue and retry options). */
export function effectiveSchema(factory: ComponentFactory): JsonSchema {
  const schema = factory.configSchema;
  if (factory.kind !== 'exporter') return schema;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  return { ...schema, properties: { ...properties, ...exporterSettingsProperties } };
}

/**
 * YAML writes an option map with nothing in it (`http:`) as null. Where the
 * schema expects a map, null means "this, with its defaults": make it {} so
 * ajv fills the defaults in, and defaults stay in the schema alone.
 */
function emptyMapsForNull(value: unknown, schema: JsonSchema): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const record = value as Record<string, unknown>;
  for (const [key, sub] of Object.entries(properties)) {
    const types = Array.isArray(sub.type) ? sub.type : [sub.type];
    if (record[key] === null && types.includes('object') && !types.includes('null')) record[key] = {};
    emptyMapsForNull(record[key], sub);
  }
}

const compiled = new WeakMap<ComponentFactory, ValidateFunction>();
function validatorFor(factory: ComponentFactory): ValidateFunction {
  let v = compiled.get(factory);
  if (!v) {
    v = ajv.compile(effectiveSchema(factory));
    compiled.set(factory, v);
  }
  return v;
}

/** The config a component gets when its entry is empty: every schema default applied. */
export function defaultConfig(factory: ComponentFactory): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  validatorFor(factory)(config);
  return config;
}

const durationSchema = { type: 'string', format: 'duration' };
const idList = { type: 'array', items: { type: 'string' } };
const sectionSchema = { type: 'object', additionalProperties: { type: ['object', 'null'] } };

const documentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['service'],
  properties: {
    receivers: sectionSchema,
    processors: sectionSchema,
    exporters: sectionSchema,
    extensions: sectionSchema,
    service: {
      type: 'object',
      additionalProperties: false,
      required: ['pipelines'],
      properties: {
        extensions: { ...idList, default: [] },
        shutdown_timeout: { ...durationSchema, default: '10s' },
        young_generation: { enum: ['auto', 'large', 'held'], default: 'auto' },
        pipelines: {
          type: 'object',
          minProperties: 1,
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['receivers', 'exporters'],
            properties: { receivers: { ...idList, minItems: 1 }, processors: { ...idList, default: [] }, exporters: { ...idList, minItems: 1 } },
          },
        },
        telemetry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            metrics: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                level: { enum: ['none', 'normal', 'detailed'], default: 'normal' },
                endpoint: { type: 'string', format: 'endpoint', default: '127.0.0.1:8888' },
              },
            },
            logs: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: { level: { enum: ['debug', 'info', 'warn', 'error'], default: 'info' } },
            },
          },
        },
      },
    },
  },
};
const validateDocument = ajv.compile(documentSchema);

/**
 * Checks a whole document (after env expansion) and returns it with defaults
 * applied. Throws one ScopeError CONFIG_INVALID listing every problem.
 */
export function validateConfig(input: unknown, registry: ComponentRegistry = defaultRegistry): ResolvedConfig {
  const doc: Record<string, unknown> = structuredClone((input ?? {}) as Record<string, unknown>);
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ScopeError('CONFIG_INVALID', 'config: must be a map with receivers, processors, exporters and service', ['config: must be a map']);
  }
  if (!validateDocument(doc)) {
    for (const e of validateDocument.errors ?? []) problems.push(describeError('', e));
  }

  const declared = new Map<ComponentKind, Set<string>>();
  for (const [section, kind] of SECTIONS) {
    const ids = new Set<string>();
    declared.set(kind, ids);
    const entries = doc[section];
    if (typeof entries !== 'object' || entries === null) {
      doc[section] = {};
      continue;
    }
    for (const [id, raw] of Object.entries(entries as Record<string, unknown>)) {
      const path = `${section}.${id}`;
      const parsed = parseComponentId(id);
      if (!parsed) {
        problems.push(`${path}: component id must be "type" or "type/name" (lower_snake_case type)`);
        continue;
      }
      ids.add(id);
      const factory = registry.get(kind, parsed.type);
      if (!factory) {
        const known = registry.types(kind);
        problems.push(`${path}: unknown ${kind} type "${parsed.type}" (known: ${known.length ? known.join(', ') : 'none'})`);
        continue;
      }
      if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) continue; // reported by the document schema
      const config = (raw ?? {}) as Record<string, unknown>;
      (entries as Record<string, unknown>)[id] = config;
      const validate = validatorFor(factory);
      emptyMapsForNull(config, effectiveSchema(factory));
      if (!validate(config)) {
        for (const e of validate.errors ?? []) problems.push(describeError(path, e));
      } else if (factory.validate) {
        for (const p of factory.validate(config)) problems.push(`${path}.${p}`);
      }
    }
  }

  const service = doc.service as ResolvedConfig['service'] | undefined;
  if (service && typeof service === 'object') {
    const checkRefs = (ids: unknown, kind: ComponentKind, section: string, path: string): void => {
      if (!Array.isArray(ids)) return;
      const seen = new Set<string>();
      ids.forEach((id: unknown, i) => {
        if (typeof id !== 'string') return;
        if (!declared.get(kind)?.has(id)) problems.push(`${path}[${i}]: ${kind} "${id}" is not declared under ${section}`);
        if (seen.has(id)) problems.push(`${path}[${i}]: ${kind} "${id}" is listed twice`);
        seen.add(id);
      });
    };
    checkRefs(service.extensions, 'extension', 'extensions', 'service.extensions');
    for (const [name, p] of Object.entries(service.pipelines ?? {})) {
      if (typeof p !== 'object' || p === null) continue;
      const path = `service.pipelines.${name}`;
      checkRefs(p.receivers, 'receiver', 'receivers', `${path}.receivers`);
      checkRefs(p.processors, 'processor', 'processors', `${path}.processors`);
      checkRefs(p.exporters, 'exporter', 'exporters', `${path}.exporters`);
      problems.push(...durabilityProblems(doc, registry, path, p));
    }
  }

  if (problems.length > 0) {
    const unique = [...new Set(problems)];
    throw new ScopeError('CONFIG_INVALID', `invalid configuration:\n  ${unique.join('\n  ')}`, unique);
  }
  return doc as unknown as ResolvedConfig;
}

/**
 * A pipeline feeding a disk sending queue promises its receivers' clients that
 * what was acknowledged is on disk: a processor that holds items (batch, tail
 * sampling) would break that promise, so it is refused with the way out.
 */
function durabilityProblems(doc: Record<string, unknown>, registry: ComponentRegistry, path: string, p: { processors?: unknown; exporters?: unknown }): string[] {
  if (!Array.isArray(p.exporters) || !Array.isArray(p.processors)) return [];
  const section = (name: string): Record<string, Record<string, unknown> | undefined> => (doc[name] ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const disk = p.exporters.filter((id): id is string => typeof id === 'string'
    && (section('exporters')[id]?.sending_queue as { storage?: string } | undefined)?.storage === 'disk');
  if (disk.length === 0) return [];
  const out: string[] = [];
  p.processors.forEach((id: unknown, i) => {
    if (typeof id !== 'string') return;
    const parsed = parseComponentId(id);
    const factory = parsed ? registry.get('processor', parsed.type) : undefined;
    if (factory?.kind !== 'processor' || !factory.holdsItems?.(section('processors')[id] ?? {})) return;
    out.push(`${path}.processors[${i}]: processor "${id}" holds items in memory, so the disk sending queue of ${disk.join(', ')} would acknowledge them before they are durable; `
      + 'move it to a pipeline without a disk queue (the disk queue and the parquet exporter batch by themselves)');
  });
  return out;
}
