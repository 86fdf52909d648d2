/**
 * Crashes from the archive: the list (root causes first, what they took down
 * folded under them) and the story of one. Both read the `process.crash`
 * events the correlation processor wrote, and the spans around them.
 */
import type { Attributes } from '../model/types.js';
import { attributesOf, list, record, text } from './rows.js';
import type { ArchiveReader, Row } from './archive_reader.js';
import type { CascadeEntry, CrashStory, CrashSummary, MessageSeen, Restart, SpanRef, When } from './types.js';
import { stateChange } from './state.js';
import { when } from './time.js';

export interface CrashFilter {
  /** Unix nanoseconds: crashes at or after. */
  since?: bigint;
  node?: string;
  /** Root causes listed (their consequences come with them). */
  limit?: number;
}

const CRASH_COLUMNS = `id, epoch_ns("time")::VARCHAR AS t, node, pid, trace_id, span_id, attributes::VARCHAR AS attributes`;

function summary(row: Row, a: Attributes): CrashSummary {
  const pid = String(row.pid ?? '');
  return {
    id: String(row.id),
    time: when(BigInt(String(row.t))),
    node: String(row.node),
    pid,
    registeredName: text(a['beam.registered_name']),
    initialCall: text(a['beam.initial_call']),
    reason: text(a['beam.reason']) ?? '',
    rule: text(a['scope.crash.rule']) ?? '',
    rootCause: a['scope.crash.root_cause'] === true,
    rootPid: text(a['scope.crash.root_pid']) ?? pid,
    poisonMessage: text(a['scope.crash.poison_message']),
    traceId: row.trace_id === null || row.trace_id === undefined ? null : String(row.trace_id),
    consequences: [],
  };
}

/** Root causes in time order, each with the crashes of its cascade; a consequence whose root is not in range stands alone. */
export async function listCrashes(reader: ArchiveReader, filter: CrashFilter = {}): Promise<CrashSummary[]> {
  const rows = await reader.rows(
    `SELECT ${CRASH_COLUMNS} FROM events
     WHERE "type" = 'process.crash' AND epoch_ns("time") >= $1 AND ($2::VARCHAR IS NULL OR node = $2)
     ORDER BY "time", id`,
    [filter.since ?? 0n, filter.node ?? null],
  );
  const all = rows.map((r) => summary(r, attributesOf(r)));
  const roots = new Map<string, CrashSummary>();
  for (const c of all) if (c.rootCause) roots.set(`${c.node}|${c.pid}`, c);
  const out: CrashSummary[] = [];
  for (const c of all) {
    if (c.rootCause) out.push(c);
    else {
      const root = roots.get(`${c.node}|${c.rootPid}`);
      if (root) root.consequences.push(c);
      else out.push(c);
    }
  }
  return filter.limit !== undefined ? out.slice(-filter.limit) : out;
}

const SPAN_COLUMNS = `trace_id, span_id, name, pid, epoch_ns(start_time)::VARCHAR AS s, (epoch_ns(end_time) - epoch_ns(start_time))::VARCHAR AS d, status_code`;

function spanRef(row: Row): SpanRef {
  return {
    traceId: String(row.trace_id), spanId: String(row.span_id), name: String(row.name),
    pid: row.pid === null || row.pid === undefined ? null : String(row.pid),
    start: when(BigInt(String(row.s))), durationNs: String(row.d), status: String(row.status_code),
  };
}

/**
 * One crash's story. `which`: a pid (its latest crash), `latest` (the latest
 * root cause), or a process.crash event id.
 */
export async function explainCrash(reader: ArchiveReader, which: string, filter: Pick<CrashFilter, 'node' | 'since'> = {}): Promise<CrashStory | null> {
  const latest = which === 'latest';
  const rows = await reader.rows(
    `SELECT ${CRASH_COLUMNS} FROM events
     WHERE "type" = 'process.crash' AND epoch_ns("time") >= $1 AND ($2::VARCHAR IS NULL OR node = $2)
       AND ($3 OR pid = $4 OR id = $4)
       AND (NOT $3 OR json_extract(attributes, '$."scope.crash.root_cause"')::BOOLEAN)
     ORDER BY "time" DESC, id DESC LIMIT 1`,
    [filter.since ?? 0n, filter.node ?? null, latest, latest ? '' : which],
  );
  if (rows.length === 0) return null;
  const row = rows[0];
  const a = attributesOf(row);
  const crash = summary(row, a);
  const crashNs = BigInt(crash.time.unixNano);

  const senderSpanId = text(a['scope.crash.poison_sender_span_id']);
  const senderSpan = senderSpanId ? await oneSpan(reader, senderSpanId) : null;
  const openSpans = (await reader.rows(
    `SELECT ${SPAN_COLUMNS} FROM spans WHERE pid = $1 AND (beam_node IS NULL OR beam_node = $3) AND epoch_ns(start_time) <= $2 AND epoch_ns(end_time) >= $2 ORDER BY start_time`,
    [crash.pid, crashNs, crash.node],
  )).map(spanRef);
  let trace: CrashStory['trace'] = null;
  if (crash.traceId) {
    const [t] = await reader.rows(`SELECT count(*)::INTEGER AS spans, count(DISTINCT pid)::INTEGER AS processes FROM spans WHERE trace_id = $1`, [crash.traceId]);
    trace = { traceId: crash.traceId, spans: Number(t?.spans ?? 0), processes: Number(t?.processes ?? 0) };
  }
  const [lastState] = await reader.rows(
    `SELECT epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events
     WHERE "type" = 'state.change' AND pid = $1 AND node = $2 AND epoch_ns("time") <= $3 ORDER BY "time" DESC LIMIT 1`,
    [crash.pid, crash.node, crashNs],
  );
  const stateBefore = lastState ? stateChange(lastState) : null;
  const poison = crash.poisonMessage === null ? null : { message: crash.poisonMessage, sender: text(a['scope.crash.poison_sender']), senderSpanId, senderSpan };
  const causedBy = text(a['scope.crash.caused_by']);
  return {
    crash,
    reasonClass: text(a['beam.reason.class']),
    exception: text(a['beam.exception.error']),
    poison,
    stack: list(a['scope.crash.stack']).map((f) => String(f)),
    lastMessages: list(a['scope.crash.last_messages']).map((m): MessageSeen => {
      const r = record(m);
      const t = text(r.time);
      return { message: text(r.message) ?? '', from: text(r.from), time: t && /^-?\d+$/.test(t) ? when(BigInt(t)) : null, traceId: text(r.trace_id), spanId: text(r.span_id) };
    }),
    openSpans,
    diedNext: list(a['scope.crash.died_next']).map((d): CascadeEntry => {
      const r = record(d);
      return { pid: text(r.pid) ?? '', reason: text(r.reason) ?? '', registeredName: text(r.registered_name), causedBy: text(r.caused_by) };
    }),
    restarts: list(a['scope.crash.restarts']).map((x): Restart => {
      const r = record(x);
      return { supervisor: text(r.supervisor) ?? '', oldPid: text(r.old_pid) ?? '', newPid: text(r.new_pid) ?? '', initialCall: text(r.initial_call) };
    }),
    causedBy: causedBy ? { pid: causedBy, inferred: a['scope.crash.cause_inferred'] === true } : null,
    trace,
    stateBefore: stateBefore ? { state: stateBefore.newState, seq: stateBefore.seq, time: stateBefore.time } : null,
  };
}

async function oneSpan(reader: ArchiveReader, spanId: string): Promise<SpanRef | null> {
  const [row] = await reader.rows(`SELECT ${SPAN_COLUMNS} FROM spans WHERE span_id = $1 LIMIT 1`, [spanId]);
  return row ? spanRef(row) : null;
}

export type { When };
