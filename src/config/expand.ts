/**
 * `${env:VAR}` and `${env:VAR:-default}` expansion in string values, `$$` for a literal `$`,
 * as the OpenTelemetry Collector does. A value that is exactly one reference
 * becomes a number or boolean when its text is exactly one (`${env:PORT}` → 4317);
 * any other text is kept verbatim (a password with ` #` in it stays whole).
 */
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
    if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(whole)) return Number(whole);
    if (whole === 'true' || whole === 'false') return whole === 'true';
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
