/**
 * `${env:VAR}` and `${env:VAR:-default}` expansion in string values, `$$` for a literal `$`,
 * as the OpenTelemetry Collector does. A value that is exactly one reference takes
 * the type its expansion reads as in YAML (`${env:PORT}` → a number).
 */
import { parse as parseYaml } from 'yaml';

const reference = /\$\$|\$\{([^}]*)\}/g;
const envReference = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

export interface ExpandResult {
  value: unknown;
  problems: string[];
}

function expandString(text: string, path: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (!text.includes('$')) return text;
  let whole: string | undefined;
  const out = text.replace(reference, (match: string, inner: string | undefined, offset: number) => {
    if (match === '$$') return '$';
    const m = envReference.exec(inner ?? '');
    if (!m) {
      problems.push(`${path}: unsupported reference "${match}" (use \${env:NAME}, \${env:NAME:-default} or $$ for a literal $)`);
      return match;
    }
    const value = env[m[1]] ?? m[2];
    if (value === undefined) {
      problems.push(`${path}: environment variable ${m[1]} is not set (give a default with \${env:${m[1]}:-value})`);
      return '';
    }
    if (offset === 0 && match.length === text.length) whole = value;
    return value;
  });
  if (whole !== undefined) {
    try {
      const typed: unknown = parseYaml(whole);
      if (typed === null || ['string', 'number', 'boolean'].includes(typeof typed)) return typed ?? whole;
    } catch {
      // not a YAML scalar: keep the text
    }
    return whole;
  }
  return out;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

export function expandEnv(value: unknown, env: NodeJS.ProcessEnv = process.env, path = ''): ExpandResult {
  const problems: string[] = [];
  const walk = (v: unknown, p: string): unknown => {
    if (typeof v === 'string') return expandString(v, p, env, problems);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, join(p, i)));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, join(p, k))]));
    }
    return v;
  };
  return { value: walk(value, path), problems };
}
