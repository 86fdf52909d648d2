/** What the anomaly processor flagged: its anomaly.detected events, newest first. */
import type { ArchiveReader } from './archive_reader.js';
import { attributesOf, text } from './rows.js';
import { when } from './time.js';
import type { AnomalySeen } from './types.js';

export interface AnomalyFilter {
  since?: bigint;
  node?: string;
  /** latency, error_burst, crash_burst, message_storm, spawn_storm, mailbox_growth, memory_growth. */
  kind?: string;
  limit?: number;
}

const scalar = (v: unknown): number | string | null => (typeof v === 'number' || typeof v === 'string' ? v : null);

export async function listAnomalies(reader: ArchiveReader, filter: AnomalyFilter = {}): Promise<AnomalySeen[]> {
  const rows = await reader.rows(
    `SELECT id, node, pid, trace_id, span_id, epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events
     WHERE "type" = 'anomaly.detected' AND epoch_ns("time") >= $1 AND ($2::VARCHAR IS NULL OR node = $2)
       AND ($3::VARCHAR IS NULL OR json_extract_string(attributes, '$."anomaly.kind"') = $3)
     ORDER BY "time" DESC, id DESC LIMIT ${Math.max(1, Math.floor(filter.limit ?? 100))}`,
    [filter.since ?? 0n, filter.node ?? null, filter.kind ?? null],
  );
  return rows.map((row) => {
    const a = attributesOf(row);
    const score = a['anomaly.score'];
    return {
      id: String(row.id),
      time: when(BigInt(String(row.t))),
      node: String(row.node),
      kind: text(a['anomaly.kind']) ?? '',
      key: text(a['anomaly.key']) ?? '',
      score: typeof score === 'number' ? score : null,
      observed: scalar(a['anomaly.observed']),
      expected: scalar(a['anomaly.expected']),
      pid: text(row.pid),
      traceId: text(row.trace_id),
      spanId: text(row.span_id),
    };
  });
}
