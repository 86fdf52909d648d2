/**
 * Fuzz properties of configuration loading (src/config: validate.ts,
 * load.ts, expand.ts): any document, random or shaped by the components'
 * own schemas with wrong values mixed in, is either a resolved config that
 * holds together or a ScopeError (CONFIG_INVALID, or CONFIG_PARSE for YAML
 * text) listing its problems, never another exception; and configs built
 * from the components' defaults stay the same config through a YAML
 * stringify/parse round trip. Seeds and run counts: test/fuzz/fuzz_params.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { registry } from '../../src/component/registry.js';
import type { ComponentKind } from '../../src/component/types.js';
import { loadConfig, parseYamlText, resolveConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { SECTIONS } from '../../src/config/types.js';
import { effectiveSchema, validateConfig } from '../../src/config/validate.js';
import type { JsonSchema } from '../../src/model/schemas.js';
import { ScopeError } from '../../src/util/errors.js';
import { places } from './mutate.js';
import { fuzz, runs, Tally } from './fuzz_params.js';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));

/** Runs fn: a value, or a ScopeError of one of `codes` with its problems listed; anything else fails the property. */
function attempt<T>(fn: () => T, codes: readonly string[], input: unknown): { value: T } | { error: ScopeError } {
  try {
    return { value: fn() };
  } catch (error) {
    const shown = (() => {
      try {
        return JSON.stringify(input)?.slice(0, 600);
      } catch {
        return String(input).slice(0, 600);
      }
    })();
    if (!(error instanceof ScopeError)) throw new Error(`threw ${(error as Error)?.name}: ${(error as Error)?.message} on ${shown}`, { cause: error });
    assert.ok(codes.includes(error.code), `code ${error.code} (${error.message}) on ${shown}`);
    assert.ok(error.problems.length > 0, `${error.code} without problems: ${error.message}`);
    for (const p of error.problems) assert.ok(typeof p === 'string' && p.length > 0, `empty problem in ${JSON.stringify(error.problems)}`);
    return { error };
  }
}

/** A resolved config holds together: sections are maps of maps, pipelines refer only to what is declared. */
function assertResolved(config: ResolvedConfig): void {
  for (const [section] of SECTIONS) {
    const entries = config[section];
    assert.ok(typeof entries === 'object' && entries !== null && !Array.isArray(entries), `${section} is not a map`);
    for (const [id, c] of Object.entries(entries)) assert.ok(typeof c === 'object' && c !== null && !Array.isArray(c), `${section}.${id} is not a map`);
  }
  const pipelines = Object.entries(config.service.pipelines);
  assert.ok(pipelines.length > 0, 'no pipeline');
  for (const [name, p] of pipelines) {
    assert.ok(p.receivers.length > 0 && p.exporters.length > 0, `pipeline ${name} without receivers or exporters`);
    for (const id of p.receivers) assert.ok(Object.hasOwn(config.receivers, id), `pipeline ${name}: receiver ${id} not declared`);
    for (const id of p.processors) assert.ok(Object.hasOwn(config.processors, id), `pipeline ${name}: processor ${id} not declared`);
    for (const id of p.exporters) assert.ok(Object.hasOwn(config.exporters, id), `pipeline ${name}: exporter ${id} not declared`);
  }
  for (const id of config.service.extensions) assert.ok(Object.hasOwn(config.extensions, id), `extension ${id} not declared`);
}

// ---- documents shaped by the schemas ----------------------------------------------------------

/** Values in the wrong place: wrong types, out-of-range numbers, malformed units and env references. */
const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, '', ' ', '0', 'true', 'null', '5 parsecs', '-1s', '1e3s', '10', '64MiB', '-5MiB', '1.5GiB',
    '127.0.0.1:99999', ':4317', 'host', '[::1]:4317', '${env:FUZZ_UNSET}', '${env:FUZZ_SET}', '${env:FUZZ_SET:-x}', '${env:}', '${', '$$', '${env:A B}',
    [], {}, [null], { '': 1 }, { __proto__: { a: 1 } }, { toString: 1 }, { constructor: 'x' },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

const DURATIONS = ['0s', '200ms', '5s', '1m30s', '1h', '250us', '10ns'];
const SIZES = ['0', '1024', '512KB', '64MiB', '1GiB', 4096];
const ENDPOINTS = ['127.0.0.1:4317', 'localhost:0', '0.0.0.0:8080', '[::1]:4318'];

/** A value for `schema`: mostly one it allows, sometimes a wrong one. */
function valueFor(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const s = schema as Record<string, unknown>;
  return fc.oneof({ arbitrary: fitting(s, depth), weight: 6 }, { arbitrary: weird, weight: 1 });
}

function fitting(s: Record<string, unknown>, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  if (Array.isArray(s.oneOf)) return fc.oneof(...(s.oneOf as JsonSchema[]).map((x) => valueFor(x, depth)));
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  const options: Array<fc.Arbitrary<unknown>> = [];
  for (const t of types) {
    switch (t) {
      case 'string':
        if (s.format === 'duration') options.push(fc.constantFrom(...DURATIONS));
        else if (s.format === 'size') options.push(fc.constantFrom(...SIZES));
        else if (s.format === 'endpoint') options.push(fc.constantFrom(...ENDPOINTS));
        else options.push(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('x', 'service.name', '/tmp/fuzz', '${env:FUZZ_SET}', '$${env:LITERAL}')));
        break;
      case 'integer': {
        const min = typeof s.minimum === 'number' ? s.minimum : -1000;
        const max = typeof s.maximum === 'number' ? s.maximum : min + 100_000;
        options.push(fc.integer({ min, max: Math.max(min, max) }));
        break;
      }
      case 'number':
        options.push(fc.double({ min: typeof s.minimum === 'number' ? s.minimum : -1e6, max: typeof s.maximum === 'number' ? s.maximum : 1e6, noNaN: true }));
        break;
      case 'boolean':
        options.push(fc.boolean());
        break;
      case 'null':
        options.push(fc.constant(null));
        break;
      case 'array':
        options.push(depth > 3 ? fc.constant([]) : fc.array(s.items ? valueFor(s.items as JsonSchema, depth + 1) : weird, { maxLength: 3 }));
        break;
      case 'object':
        options.push(depth > 3 ? fc.constant({}) : objectFor(s, depth + 1));
        break;
    }
  }
  return options.length > 0 ? fc.oneof(...options) : weird;
}

/** Some of the schema's properties (each left out or given a value), now and then an unknown one. */
function objectFor(s: Record<string, unknown>, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.entries((s.properties ?? {}) as Record<string, JsonSchema>);
  const chosen = properties.map(([k, sub]) => fc.option(valueFor(sub, depth).map((v) => [k, v] as const), { freq: 2 }));
  return fc.tuple(fc.tuple(...chosen), fc.option(fc.tuple(fc.constantFrom('unknown_option', '__proto__', 'constructor'), weird), { freq: 6 }))
    .map(([entries, extra]) => {
      const out: Record<string, unknown> = {};
      for (const e of entries) if (e) Object.defineProperty(out, e[0], { value: e[1], enumerable: true, writable: true, configurable: true });
      if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true, writable: true, configurable: true });
      return out;
    });
}

/** A component id: a registered type (sometimes with a name), or not quite one. */
function idFor(kind: ComponentKind): fc.Arbitrary<string> {
  const types = registry.types(kind);
  const known = types.length > 0 ? fc.constantFrom(...types) : fc.constant('none');
  return fc.oneof(
    { arbitrary: fc.tuple(known, fc.option(fc.constantFrom('a', 'b', 'main', 'x.y-z', 'bad name', ''))).map(([t, n]) => (n === null ? t : `${t}/${n}`)), weight: 8 },
    fc.constantFrom('Otlp', 'unknown_type', '1bad', 'otlp/', '/x', ''),
  );
}

/** A section: ids mapped to configs drawn from each type's schema (or null, or something else entirely). */
function sectionFor(kind: ComponentKind): fc.Arbitrary<Record<string, unknown>> {
  const entry = idFor(kind).chain((id) => {
    const factory = registry.get(kind, id.split('/')[0]);
    const config = factory ? fc.oneof({ arbitrary: objectFor(effectiveSchema(factory) as Record<string, unknown>, 0), weight: 5 }, fc.constant(null), weird) : fc.oneof(fc.constant(null), weird);
    return config.map((c) => [id, c] as const);
  });
  return fc.array(entry, { maxLength: 3 }).map((entries) => Object.fromEntries(entries));
}

const shapedDocument: fc.Arbitrary<Record<string, unknown>> = fc.tuple(
  fc.option(sectionFor('receiver'), { freq: 5 }), fc.option(sectionFor('processor'), { freq: 5 }),
  fc.option(sectionFor('exporter'), { freq: 5 }), fc.option(sectionFor('extension'), { freq: 5 }),
  fc.array(fc.tuple(fc.constantFrom('p', 'traces', 'logs/x', ''), fc.record({
    receivers: fc.oneof(fc.array(idFor('receiver'), { maxLength: 2 }), weird),
    processors: fc.option(fc.oneof(fc.array(idFor('processor'), { maxLength: 2 }), weird)),
    exporters: fc.oneof(fc.array(idFor('exporter'), { maxLength: 2 }), weird),
  })), { maxLength: 2 }),
  fc.option(fc.record({ metrics: fc.option(fc.record({ level: fc.constantFrom('none', 'normal', 'detailed', 'loud') })), logs: fc.option(weird) })),
  fc.option(fc.oneof(fc.constantFrom(...DURATIONS), weird)),
  fc.option(weird, { freq: 8 }),
).map(([receivers, processors, exporters, extensions, pipelines, telemetry, shutdown, extra]) => {
  const doc: Record<string, unknown> = {};
  if (receivers) doc.receivers = receivers;
  if (processors) doc.processors = processors;
  if (exporters) doc.exporters = exporters;
  if (extensions) doc.extensions = extensions;
  const service: Record<string, unknown> = { pipelines: Object.fromEntries(pipelines.map(([n, p]) => [n, Object.fromEntries(Object.entries(p).filter(([, v]) => v !== null))])) };
  if (telemetry) service.telemetry = telemetry;
  if (shutdown !== null) service.shutdown_timeout = shutdown;
  doc.service = service;
  if (extra !== null) doc.extra_section = extra;
  return doc;
});


/** Documents of every kind: valid ones (from the defaults) with a few values made wrong, schema-shaped ones, random JSON. Called in a test (validDocument is defined below). */
function anyDocument(): fc.Arbitrary<unknown> {
  const damaged = fc.tuple(validDocument, fc.array(fc.tuple(fc.nat(), weird), { maxLength: 2 })).map(([doc, replacements]) => {
    const where = places(doc);
    for (const [at, value] of replacements) {
      const [container, key] = where[at % where.length];
      (container as Record<string | number, unknown>)[key] = value;
    }
    return doc;
  });
  return fc.oneof(
    { arbitrary: damaged, weight: 4 },
    { arbitrary: shapedDocument, weight: 4 },
    fc.jsonValue({ maxDepth: 4 }),
    fc.dictionary(fc.constantFrom('receivers', 'processors', 'exporters', 'extensions', 'service', 'x'), fc.jsonValue({ maxDepth: 3 })),
  );
}

const ENV = { FUZZ_SET: '4317', LITERAL: 'no' };



describe('fuzz: config validation', () => {
  it('any document is a resolved config that holds together or a CONFIG_INVALID ScopeError listing its problems (validateConfig and resolveConfig with env expansion)', () => {
    const tally = new Tally();
    fuzz(fc.property(anyDocument(), (doc) => {
      const copy = structuredClone(doc);
      const validated = attempt(() => validateConfig(copy), ['CONFIG_INVALID'], doc);
      if ('value' in validated) assertResolved(validated.value);
      const resolved = attempt(() => resolveConfig(structuredClone(doc), { env: ENV }), ['CONFIG_INVALID'], doc);
      if ('value' in resolved) assertResolved(resolved.value);
      tally.add('value' in resolved ? 'valid' : 'invalid');
    }), 600);
    tally.expect(runs(600), 0.05, 'valid', 'invalid');
  });

  it('any YAML text is a resolved config or a CONFIG_PARSE / CONFIG_INVALID ScopeError, never another exception', (t) => {
    const written = fc.oneof(validDocument, shapedDocument).map((d) => stringify(d));
    const yamlText = fc.oneof(
      written,
      // Damaged YAML: characters inserted, deleted or replaced (indentation, flow markers, anchors, tags).
      fc.tuple(written, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.constantFrom(':', ' ', '\n', '-', '{', '[', '&a ', '*a', '!!binary ', '!!set ', '? ', '<<: *a\n', '"', "'", '#', '---\n', '\t', '%YAML 1.1\n')), { minLength: 1, maxLength: 4 }))
        .map(([text, edits]) => {
          let t = text;
          for (const [at, del, ins] of edits) {
            const i = at % (t.length + 1);
            t = t.slice(0, i) + ins + t.slice(i + del);
          }
          return t;
        }),
      fc.constantFrom(
        '', '---', '~', '[]', 'a: &a [1, 2]\nb: *a\n', 'a: !!binary aGVsbG8=\n', 'a: !!set {x, y}\n', 'a: !!omap [{x: 1}]\n', 'a: 2001-12-14t21:59:43.10-05:00\n',

        'receivers: {a: 1, a: 2}\n', '<<: {service: 1}\n', '? [a]\n: b\n', '%YAML 1.1\n---\nx: yes\n', 'x: !custom 1\n',
      ),
      fc.string({ maxLength: 60 }),
    );
    const tally = new Tally();
    // yaml warns on stderr, once per occurrence, for complex keys (`? [a]: b`) it stringifies: quiet here, restored after.
    const emitWarning = process.emitWarning;
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      if (!String(typeof warning === 'string' ? warning : warning.message).startsWith('Keys with collection values')) (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
    t.after(() => {
      process.emitWarning = emitWarning;
    });
    fuzz(fc.property(yamlText, (text) => {
      const parsed = attempt(() => parseYamlText(text, 'fuzz.yaml'), ['CONFIG_PARSE'], text);
      if ('error' in parsed) {
        tally.add('unparsable');
        return;
      }
      const loaded = attempt(() => loadConfig({ yaml: [text], env: ENV }), ['CONFIG_PARSE', 'CONFIG_INVALID'], text);
      if ('value' in loaded) assertResolved(loaded.value);
      tally.add('value' in loaded ? 'valid' : 'invalid');
    }), 600, { maxSkipsPerRun: 10 });
    tally.expect(runs(600), 0.05, 'unparsable', 'invalid', 'valid');
  });

  it('YAML aliases that do not resolve, expand hugely or refer to themselves are a CONFIG_PARSE error like any other unreadable YAML', () => {
    // A bomb: each level an anchored list of `fanout` aliases of the one before, fanout^levels nodes from a few lines.
    const bomb = fc.tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 4, max: 12 })).map(([levels, fanout]) => {
      let text = 'l0: &l0 [lol]\n';
      for (let i = 1; i <= levels; i++) text += `l${i}: &l${i} [${Array.from({ length: fanout }, () => `*l${i - 1}`).join(', ')}]\n`;
      return text;
    });
    // A cycle: an anchored node that contains an alias of itself, at some depth.
    const cycle = fc.tuple(fc.constantFrom('a', 'service', 'receivers'), fc.array(fc.constantFrom('list', 'map'), { maxLength: 3 })).map(([key, path]) => {
      let inner = '*x';
      for (const p of path.reverse()) inner = p === 'list' ? `[${inner}]` : `{k: ${inner}}`;
      return `${key}: &x {pipelines: ${inner}}\n`;
    });
    const unresolved = fc.constantFrom('*x\n', 'a: *x\n', '*!', 'a: [*b, &b 1]\n', 'service: *s\n');
    fuzz(fc.property(fc.oneof(bomb, cycle, unresolved), fc.constantFrom('', 'receivers:\n  jsonl:\n    path: x\n'), (yaml, prefix) => {
      const text = yaml.startsWith('receivers') ? yaml : prefix + yaml;
      const parsed = attempt(() => parseYamlText(text, 'aliases.yaml'), ['CONFIG_PARSE'], text);
      if ('value' in parsed) attempt(() => loadConfig({ yaml: [text], env: ENV }), ['CONFIG_PARSE', 'CONFIG_INVALID'], text);
    }), 100);
  });
});

// ---- YAML round trips of valid configs ---------------------------------------------------------

/** What a type needs beyond its defaults to be valid on its own. */
const REQUIRED: Record<string, Record<string, unknown>> = {
  'receiver:jsonl': { path: 'capture.jsonl' },
  'receiver:otlp': { protocols: { grpc: null, http: null } },
  'processor:memory_limiter': { limit_mib: 512 },
};

/** The types that are valid with their defaults (and REQUIRED), checked here so a new type is included or noticed. */
function usable(kind: ComponentKind): string[] {
  return registry.types(kind).filter((type) => {
    const config = structuredClone(REQUIRED[`${kind}:${type}`] ?? null);
    const section = kind + 's';
    const receivers = kind === 'receiver' ? { [type]: config } : { jsonl: { path: 'x' } };
    const exporters = kind === 'exporter' ? { [type]: config } : { debug: null };
    const doc: Record<string, unknown> = {
      receivers, exporters,
      service: { pipelines: { p: { receivers: [Object.keys(receivers)[0]], exporters: [Object.keys(exporters)[0]], processors: kind === 'processor' ? [type] : [] } }, extensions: kind === 'extension' ? [type] : [] },
    };
    if (kind === 'processor' || kind === 'extension') doc[section] = { [type]: config };
    try {
      validateConfig(doc);
      return true;
    } catch {
      return false;
    }
  });
}

const USABLE = { receiver: usable('receiver'), processor: usable('processor'), exporter: usable('exporter'), extension: usable('extension') };

/** Components by id (`type` or `type/name`) with their minimal configs. */
function components(kind: ComponentKind, min: number): fc.Arbitrary<Record<string, unknown>> {
  if (USABLE[kind].length === 0) return fc.constant({});
  const id = fc.tuple(fc.constantFrom(...USABLE[kind]), fc.option(fc.constantFrom('a', 'b', 'main', 'x.y-z'))).map(([t, n]) => (n === null ? t : `${t}/${n}`));
  return fc.uniqueArray(id, { minLength: min, maxLength: 3 }).map((ids) => Object.fromEntries(ids.map((i) => [i, structuredClone(REQUIRED[`${kind}:${i.split('/')[0]}`] ?? null)])));
}

const validDocument: fc.Arbitrary<Record<string, unknown>> = fc.tuple(
  components('receiver', 1), components('processor', 0), components('exporter', 1), components('extension', 0),
  fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.constantFrom('p', 'traces', 'logs/x', 'metrics/2')), { minLength: 1, maxLength: 3 }),
  fc.constantFrom('none', 'normal', 'detailed'), fc.constantFrom(...DURATIONS),
).map(([receivers, processors, exporters, extensions, pipes, level, shutdown]) => {
  const pick = (ids: string[], seed: number, min: number): string[] => ids.filter((_, i) => ((seed >> i) & 1) === 1 || (min > 0 && i === seed % ids.length));
  const r = Object.keys(receivers);
  const p = Object.keys(processors);
  const e = Object.keys(exporters);
  const pipelines = Object.fromEntries(pipes.map(([a, b, c, name]) => [name, { receivers: pick(r, a, 1), processors: pick(p, b, 0), exporters: pick(e, c, 1) }]));
  const doc: Record<string, unknown> = {
    receivers, exporters,
    service: { pipelines, extensions: Object.keys(extensions), telemetry: { metrics: { level } }, shutdown_timeout: shutdown },
  };
  if (p.length > 0) doc.processors = processors;
  if (Object.keys(extensions).length > 0) doc.extensions = extensions;
  return doc;
});

/** The shipped configs that load on their own or as overlays on pipeline.yaml (production.yaml, development.yaml). */
function shippedConfigs(): ResolvedConfig[] {
  const files = readdirSync(CONFIG_DIR).filter((f) => f.endsWith('.yaml')).sort();
  const out: ResolvedConfig[] = [];
  for (const f of files) {
    for (const combo of f === 'pipeline.yaml' ? [[f]] : [[f], ['pipeline.yaml', f]]) {
      try {
        out.push(loadConfig({ files: combo.map((x) => CONFIG_DIR + x), env: {} }));
        break;
      } catch (error) {
        if (!(error instanceof ScopeError)) throw error;
      }
    }
  }
  assert.ok(out.length >= Math.min(files.length, 2), `only ${out.length} of ${files.length} shipped configs load`);
  return out;
}

describe('fuzz: config YAML round trip', () => {
  it('every component type is valid with its defaults (and the few options it requires)', () => {
    for (const kind of ['receiver', 'processor', 'exporter', 'extension'] as const) {
      assert.deepEqual(USABLE[kind], registry.types(kind), `${kind} types that are not valid with their defaults and REQUIRED: add what they need to REQUIRED`);
    }
  });

  it('a config built from defaults is valid, and the same config after YAML stringify and parse (resolved, or as written)', () => {
    const shipped = shippedConfigs();
    const doc = fc.oneof({ arbitrary: validDocument, weight: 5 }, fc.constantFrom(...shipped.map((c) => c as unknown as Record<string, unknown>)));
    fuzz(fc.property(doc, (input) => {
      const resolved = validateConfig(structuredClone(input));
      assertResolved(resolved);
      // The resolved config, written out and read back, resolves to itself.
      const text = stringify(resolved);
      const again = validateConfig(parseYamlText(text, 'resolved.yaml'));
      assert.deepStrictEqual(again, resolved, text);
      // As the user wrote it (empty entries as null): loads to the same config.
      const loaded = loadConfig({ yaml: [stringify(input)], env: {} });
      assert.deepStrictEqual(loaded, resolved, stringify(input));
    }), 300);
  });
});
