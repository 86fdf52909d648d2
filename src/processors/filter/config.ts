import type { JsonSchema } from '../../model/schemas.js';
import { compilePattern } from '../../util/match.js';

export type AttributeCondition = Record<string, string | number | boolean>;

export interface EventMatch { types?: string[]; nodes?: string[]; attributes?: AttributeCondition }
export interface SpanMatch { names?: string[]; services?: string[]; status?: Array<'unset' | 'ok' | 'error'>; attributes?: AttributeCondition }
export interface MetricMatch { names?: string[]; attributes?: AttributeCondition }

export interface FilterRules<M> { include?: M; exclude?: M }

export interface FilterConfig {
  events: FilterRules<EventMatch>;
  spans: FilterRules<SpanMatch>;
  metrics: FilterRules<MetricMatch>;
}

const patterns = (what: string): JsonSchema => ({
  type: 'array', minItems: 1, items: { type: 'string', minLength: 1 },
  description: `${what}: exact, glob with * (\`message.*\`), or /regex/; any one may match.`,
});
const attributes: JsonSchema = {
  type: 'object',
  additionalProperties: { type: ['string', 'number', 'boolean'] },
  description: 'Attribute key → value (string values may be globs or /regex/); all must match.',
};

function rules(match: JsonSchema, what: string): JsonSchema {
  const block = { type: 'object', additionalProperties: false, minProperties: 1, properties: match };
  return {
    type: 'object', additionalProperties: false, default: {},
    description: `Rules for ${what}. An item is kept when it matches include (if given) and does not match exclude. Within a block every field given must match.`,
    properties: {
      include: { ...block, description: `Keep only ${what} that match.` },
      exclude: { ...block, description: `Drop ${what} that match.` },
    },
  };
}

export const filterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    events: rules({ types: patterns('Event types'), nodes: patterns('source.node values'), attributes }, 'events'),
    spans: rules({
      names: patterns('Span names'),
      services: patterns('Resource service.name values'),
      status: { type: 'array', minItems: 1, items: { enum: ['unset', 'ok', 'error'] }, description: 'Status codes; any one may match.' },
      attributes,
    }, 'spans'),
    metrics: rules({ names: patterns('Metric names'), attributes }, 'metrics'),
  },
};

/** Regexes are checked here so a typo fails at load, with its path. */
export function validateFilterConfig(config: FilterConfig): string[] {
  const problems: string[] = [];
  for (const signal of ['events', 'spans', 'metrics'] as const) {
    for (const side of ['include', 'exclude'] as const) {
      const block = config[signal][side] as Record<string, unknown> | undefined;
      if (!block) continue;
      for (const [field, value] of Object.entries(block)) {
        const list = Array.isArray(value) ? value.map((v, i) => [`${field}[${i}]`, v] as const)
          : field === 'attributes' ? Object.entries(value as object).map(([k, v]) => [`${field}.${k}`, v] as const) : [];
        for (const [path, v] of list) {
          if (typeof v !== 'string') continue;
          try {
            compilePattern(v);
          } catch (error) {
            problems.push(`${signal}.${side}.${path}: ${(error as Error).message}`);
          }
        }
      }
    }
  }
  return problems;
}
