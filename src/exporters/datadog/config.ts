import type { JsonSchema } from '../../model/schemas.js';

export interface DatadogExporterConfig {
  endpoint: string;
  service?: string;
  env?: string;
  version?: string;
  timeout: string;
  max_payload_bytes: string | number;
  headers: Record<string, string>;
  metrics: boolean;
  statsd_endpoint: string;
  max_tag_sets_per_metric: number;
}

export const datadogExporterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: 'string', default: 'http://127.0.0.1:8126',
      description: 'The Datadog Agent\'s trace intake (spans are PUT to <endpoint>/v0.4/traces as msgpack).',
    },
    service: { type: 'string', minLength: 1, description: 'service for every span (default: the span\'s service.name, else "beam").' },
    env: { type: 'string', minLength: 1, description: 'env tag (default: the resource\'s deployment.environment.name).' },
    version: { type: 'string', minLength: 1, description: 'version tag (default: the resource\'s service.version).' },
    timeout: { type: 'string', format: 'duration', default: '10s', description: 'Per request; a timeout is retried.' },
    max_payload_bytes: {
      type: ['string', 'integer'], format: 'size', default: '8MiB',
      description: 'A batch is split into payloads of whole traces below this (the agent refuses payloads over its limit, 25 MiB by default).',
    },
    headers: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra HTTP headers.' },
    metrics: {
      type: 'boolean', default: false,
      description: 'Also send metric points (gauges; cumulative sums as count deltas) and anomaly.detected counts to DogStatsD over UDP.',
    },
    statsd_endpoint: { type: 'string', format: 'endpoint', default: '127.0.0.1:8125', description: 'host:port of DogStatsD (the agent\'s UDP port).' },
    max_tag_sets_per_metric: {
      type: 'integer', minimum: 1, default: 1000,
      description: 'Distinct tag sets per metric name; beyond it points are sent with the resource tags only (counted), so a pid-per-tag metric cannot flood Datadog.',
    },
  },
};
