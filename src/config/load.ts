/** Reading YAML files, merging them (later files override earlier), expanding env references, validating. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import type { ComponentRegistry } from '../component/registry.js';
import { ScopeError } from '../util/errors.js';
import { expandEnv } from './expand.js';
import type { ResolvedConfig } from './types.js';
import { validateConfig } from './validate.js';

export interface LoadConfigOptions {
  /** YAML files, merged in order: maps merge key by key, anything else is replaced. */
  files?: readonly string[];
  /** YAML texts, merged after the files (tests, embedders). */
  yaml?: readonly string[];
  /** Environment for `${env:VAR}`; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  registry?: ComponentRegistry;
}

/** The default config shipped with the package, used when no --config is given. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../../config/pipeline.yaml', import.meta.url));

export function parseYamlText(text: string, origin: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `${origin}: ${e.message.split('\n')[0]}`);
    throw new ScopeError('CONFIG_PARSE', problems.join('\n'), problems);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias to nothing, or more aliases than maxAliasCount (an alias bomb).
    const message = `${origin}: ${(error as Error).message.split('\n')[0]}`;
    throw new ScopeError('CONFIG_PARSE', message, [message]);
  }
  if (isCyclic(value)) {
    const message = `${origin}: a YAML alias refers to a map or list that contains it (a config cannot be circular)`;
    throw new ScopeError('CONFIG_PARSE', message, [message]);
  }
  return value;
}

function isCyclic(value: unknown, ancestors: Set<object> = new Set()): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (ancestors.has(value)) return true;
  ancestors.add(value);
  for (const v of Object.values(value)) if (isCyclic(v, ancestors)) return true;
  ancestors.delete(value);
  return false;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergeConfigs(base: unknown, override: unknown): unknown {
  if (!isMap(base) || !isMap(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in base ? mergeConfigs(base[k], v) : v;
  return out;
}

/** Reads, merges and expands, without validating (print-config shows this on errors too). */
export function readConfig(options: LoadConfigOptions): unknown {
  let merged: unknown = {};
  for (const file of options.files ?? []) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ScopeError('CONFIG_READ', `cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    merged = mergeConfigs(merged, parseYamlText(text, file));
  }
  (options.yaml ?? []).forEach((text, i) => {
    merged = mergeConfigs(merged, parseYamlText(text, `yaml[${i}]`));
  });
  return merged;
}

/** Loads and validates; throws ScopeError (CONFIG_READ, CONFIG_PARSE, CONFIG_INVALID) listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const files = options.files ?? (options.yaml ? [] : [DEFAULT_CONFIG_PATH]);
  const raw = readConfig({ ...options, files });
  return resolveConfig(raw, options);
}

/** Expands env references in a config object and validates it, reporting every problem at once. */
export function resolveConfig(raw: unknown, options: Pick<LoadConfigOptions, 'env' | 'registry'> = {}): ResolvedConfig {
  const { value, problems } = expandEnv(raw, options.env ?? process.env);
  let config: ResolvedConfig | undefined;
  try {
    config = validateConfig(value, options.registry);
  } catch (error) {
    if (!(error instanceof ScopeError && error.code === 'CONFIG_INVALID')) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !config) {
    throw new ScopeError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, problems);
  }
  return config;
}
