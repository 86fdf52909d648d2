import type { JsonSchema } from '../../model/schemas.js';

export type Compression = 'zstd' | 'snappy' | 'gzip' | 'none';
export type PartitionKey = 'beam_node' | 'service_name';

export interface ParquetExporterConfig {
  path: string;
  partition_by: PartitionKey[];
  max_file_rows: number;
  max_file_bytes: string | number;
  max_file_age: string;
  row_group_size: number;
  compression: Compression;
  retention: { spans: string; events: string; metrics: string; check_interval: string };
  promoted_attributes: { spans: string[]; events: string[]; metrics: string[] };
}

const keyList = (description: string, defaults: string[]): JsonSchema => ({
  type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, default: defaults, description,
});

const age = (description: string, defaults: string): JsonSchema => ({ type: 'string', format: 'duration', default: defaults, description });

export const parquetExporterConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: {
      type: 'string', minLength: 1, default: './data/archive',
      description: 'Archive directory (created if missing). One exporter per directory.',
    },
    partition_by: {
      type: 'array', items: { enum: ['beam_node', 'service_name'] }, uniqueItems: true, maxItems: 1, default: [],
      description: 'An extra partition level below date/hour: beam_node or service_name.',
    },
    max_file_rows: { type: 'integer', minimum: 1, default: 1_000_000, description: 'A file is completed when it holds this many rows.' },
    max_file_bytes: { type: ['string', 'integer'], format: 'size', default: '256MiB', description: 'A file is completed once it is this large.' },
    max_file_age: {
      type: 'string', format: 'duration', default: '1m',
      description: 'A file is completed this long after it was opened, so rows become readable within about this time.',
    },
    row_group_size: {
      type: 'integer', minimum: 1, default: 20_000,
      description: 'Rows per Parquet row group; also how many rows a partition holds in memory before writing.',
    },
    compression: { enum: ['zstd', 'snappy', 'gzip', 'none'], default: 'zstd', description: 'Page compression.' },
    retention: {
      type: 'object', additionalProperties: false, default: {},
      description: 'How long each table keeps whole hour partitions (0 keeps them forever).',
      properties: {
        spans: age('Age past which span partitions are deleted.', '7d'),
        events: age('Age past which event partitions are deleted.', '24h'),
        metrics: age('Age past which metric partitions are deleted.', '90d'),
        check_interval: age('How often expired partitions are looked for (also once at start).', '5m'),
      },
    },
    promoted_attributes: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Attribute keys that also get their own text column `attr_<key>` (dots become underscores), for fast filters.',
      properties: {
        spans: keyList('Span attribute keys to promote.', ['http.request.method', 'http.route', 'http.response.status_code', 'db.system', 'error.type']),
        events: keyList('Event attribute keys to promote (beam.mfa, beam.peer_pid and the other hot BEAM keys have beam_* columns of their own already).', []),
        metrics: keyList('Metric point attribute keys to promote.', []),
      },
    },
  },
};
