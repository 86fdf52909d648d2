/** Matchers compiled once from config (filter, privacy): exact strings, globs with `*`, and `/regex/`. */
import type { AttributeValue, Attributes } from '../model/types.js';

export type StringMatcher = (value: string) => boolean;

export function compilePattern(pattern: string): StringMatcher {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(1, -1));
    } catch (error) {
      throw new Error(`invalid regular expression ${pattern}: ${(error as Error).message}`);
    }
    return (v) => re.test(v);
  }
  if (pattern.includes('*')) {
    const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    return (v) => re.test(v);
  }
  return (v) => v === pattern;
}

export function anyOf(patterns: readonly string[]): StringMatcher {
  const exact = new Set(patterns.filter((p) => !p.includes('*') && !(p.length > 2 && p.startsWith('/') && p.endsWith('/'))));
  const others = patterns.filter((p) => !exact.has(p)).map(compilePattern);
  if (others.length === 0) return (v) => exact.has(v);
  return (v) => exact.has(v) || others.some((m) => m(v));
}

export type AttributesMatcher = (attributes: Attributes) => boolean;

export function attributesMatcher(condition: Record<string, string | number | boolean>): AttributesMatcher {
  const checks = Object.entries(condition).map(([key, expected]) => {
    if (typeof expected !== 'string') return (a: Attributes) => a[key] === expected;
    const match = compilePattern(expected);
    return (a: Attributes) => {
      const v: AttributeValue | undefined = a[key];
      return v !== undefined && v !== null && typeof v !== 'object' && match(String(v));
    };
  });
  return (a) => checks.every((c) => c(a));
}
