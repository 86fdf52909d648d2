/**
 * One trace as a waterfall: its spans in tree order (each under its parent,
 * siblings by start), with the processes and nodes they ran in as lanes.
 */
import { listValue } from '../util/duckdb.js';
import { ScopeError } from '../util/errors.js';
import type { ArchiveReader, Row } from './archive_reader.js';
import { text } from './rows.js';
import { when } from './time.js';
import type { TraceView, WaterfallSpan } from './types.js';

/** Spans shown at most (a trace of a long-lived process can hold many more). */
export const MAX_TRACE_SPANS = 2000;

const COLUMNS = `trace_id, span_id, parent_span_id, name, kind, pid, beam_node, status_code, status_message,
  epoch_ns(start_time)::VARCHAR AS s, (epoch_ns(end_time) - epoch_ns(start_time))::VARCHAR AS d`;

/** The trace of the latest span that ended in error (on `node`, since `since`); null when none did. */
export async function latestErrorTrace(reader: ArchiveReader, options: { node?: string; since?: bigint } = {}): Promise<string | null> {
  const [row] = await reader.rows(
    `SELECT trace_id FROM spans WHERE status_code = 'error' AND epoch_ns(start_time) >= $1 AND ($2::VARCHAR IS NULL OR beam_node = $2)
     ORDER BY end_time DESC LIMIT 1`,
    [options.since ?? 0n, options.node ?? null],
  );
  return row ? String(row.trace_id) : null;
}

export async function traceView(reader: ArchiveReader, traceId: string): Promise<TraceView> {
  if (!/^[0-9a-f]{32}$/.test(traceId)) throw new ScopeError('QUERY_FAILED', `"${traceId}" is not a trace id (32 lowercase hex digits)`);
  const rows = await reader.rows(`SELECT ${COLUMNS} FROM spans WHERE trace_id = $1 ORDER BY start_time, span_id LIMIT ${MAX_TRACE_SPANS}`, [traceId]);
  if (rows.length === 0) throw new ScopeError('QUERY_FAILED', `no spans of trace ${traceId} in the archive`);
  const [{ n }] = rows.length < MAX_TRACE_SPANS ? [{ n: rows.length }] : await reader.rows(`SELECT count(*)::INTEGER AS n FROM spans WHERE trace_id = $1`, [traceId]);
  const names = await processNames(reader, rows);
  const start = rows.reduce((m, r) => (BigInt(String(r.s)) < m ? BigInt(String(r.s)) : m), BigInt(String(rows[0].s)));
  const end = rows.reduce((m, r) => {
    const e = BigInt(String(r.s)) + BigInt(String(r.d));
    return e > m ? e : m;
  }, start);

  const ids = new Set(rows.map((r) => String(r.span_id)));
  const children = new Map<string | null, Row[]>();
  for (const r of rows) {
    // A parent outside the trace's stored spans (sampled away, or not ended yet): shown as a root.
    const parent = text(r.parent_span_id);
    const key = parent !== null && ids.has(parent) ? parent : null;
    let c = children.get(key);
    if (!c) children.set(key, (c = []));
    c.push(r);
  }
  const spans: WaterfallSpan[] = [];
  const visit = (parent: string | null, depth: number): void => {
    for (const r of children.get(parent) ?? []) {
      const s = BigInt(String(r.s));
      spans.push({
        traceId, spanId: String(r.span_id), parentSpanId: text(r.parent_span_id), name: String(r.name), kind: String(r.kind),
        pid: text(r.pid), node: text(r.beam_node), start: when(s), durationNs: String(r.d), offsetNs: (s - start).toString(),
        status: String(r.status_code), statusMessage: text(r.status_message), depth,
      });
      visit(String(r.span_id), depth + 1);
    }
  };
  visit(null, 0);

  const lanes = new Map<string, TraceView['lanes'][number]>();
  for (const s of spans) {
    const key = `${s.node ?? ''}|${s.pid ?? ''}`;
    const lane = lanes.get(key);
    if (lane) lane.spans += 1;
    else lanes.set(key, { pid: s.pid, node: s.node, name: names.get(key) ?? null, spans: 1 });
  }
  return {
    traceId, start: when(start), durationNs: (end - start).toString(), spans, total: Number(n), lanes: [...lanes.values()],
    errors: spans.filter((s) => s.status === 'error').length,
  };
}

/** The registered names of the pids the spans ran in (the latest each took), by `node|pid`. */
async function processNames(reader: ArchiveReader, rows: readonly Row[]): Promise<Map<string, string>> {
  const pids = [...new Set(rows.map((r) => text(r.pid)).filter((p): p is string => p !== null))];
  const out = new Map<string, string>();
  if (pids.length === 0) return out;
  const named = await reader.rows(
    `SELECT node, pid, arg_max(json_extract_string(attributes, '$."beam.registered_name"'), "time") AS name FROM events
     WHERE "type" IN ('process.register', 'process.snapshot') AND list_contains($1::VARCHAR[], pid)
       AND json_extract_string(attributes, '$."beam.registered_name"') IS NOT NULL
     GROUP BY node, pid`,
    [listValue(pids)],
  );
  for (const r of named) out.set(`${String(r.node)}|${String(r.pid)}`, String(r.name));
  return out;
}
