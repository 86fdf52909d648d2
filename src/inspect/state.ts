/**
 * A watched GenServer's state at a past instant, from its state.change
 * history (ScopeBeam.watch/1 reports every handled message with the state
 * before and after): the last change at or before T gives the state, and is
 * the change that led to it.
 */
import { ScopeError } from '../util/errors.js';
import type { ArchiveReader, Row } from './archive_reader.js';
import type { ProcessRef } from './processes.js';
import { attributesOf, list, record, text } from './rows.js';
import { when } from './time.js';
import type { StateAt, StateChange } from './types.js';

const COLUMNS = `epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes`;

export function stateChange(row: Row): StateChange {
  const a = attributesOf(row);
  const diff: StateChange['diff'] = {};
  for (const [key, value] of Object.entries(record(a.diff))) {
    const d = record(value);
    diff[key] = { old: text(d.old), new: text(d.new) };
  }
  return {
    seq: Number(a.seq ?? 0),
    time: when(BigInt(String(row.t))),
    kind: text(a.kind) ?? '',
    message: text(a['beam.message']),
    from: text(a['beam.from']),
    reply: text(a['beam.reply']),
    changed: a.changed === true,
    changedKeys: list(a.changed_keys).map(String),
    diff,
    oldState: text(a.old_state) ?? '',
    // A tracker other than ScopeBeam.watch may report only the state it reached (`beam.state`).
    newState: text(a.new_state) ?? text(a['beam.state']) ?? '',
  };
}

/** Every recorded change of the process, in order. */
export async function stateHistory(reader: ArchiveReader, ref: ProcessRef): Promise<StateChange[]> {
  const rows = await reader.rows(
    `SELECT ${COLUMNS} FROM events WHERE "type" = 'state.change' AND pid = $1 AND node = $2
     ORDER BY json_extract(attributes, '$.seq')::BIGINT, "time"`,
    [ref.pid, ref.node],
  );
  return rows.map(stateChange);
}

export async function stateAt(reader: ArchiveReader, ref: ProcessRef, at: bigint): Promise<StateAt> {
  const [counts] = await reader.rows(
    `SELECT count(*)::INTEGER AS n, any_value(json_extract_string(attributes, '$."beam.module"')) AS module
     FROM events WHERE "type" = 'state.change' AND pid = $1 AND node = $2`,
    [ref.pid, ref.node],
  );
  const changes = Number(counts?.n ?? 0);
  if (changes === 0) {
    throw new ScopeError('QUERY_FAILED', `${ref.pid} on ${ref.node} has no recorded state: it was not watched (ScopeBeam.watch/1 in the node, then reproduce)`);
  }
  const [before] = await reader.rows(
    `SELECT ${COLUMNS} FROM events WHERE "type" = 'state.change' AND pid = $1 AND node = $2 AND epoch_ns("time") <= $3
     ORDER BY "time" DESC, json_extract(attributes, '$.seq')::BIGINT DESC LIMIT 1`,
    [ref.pid, ref.node, at],
  );
  const [after] = await reader.rows(
    `SELECT ${COLUMNS} FROM events WHERE "type" = 'state.change' AND pid = $1 AND node = $2 AND epoch_ns("time") > $3
     ORDER BY "time", json_extract(attributes, '$.seq')::BIGINT LIMIT 1`,
    [ref.pid, ref.node, at],
  );
  const [exit] = await reader.rows(
    `SELECT epoch_ns("time")::VARCHAR AS t FROM events WHERE "type" = 'process.exit' AND pid = $1 AND node = $2 AND epoch_ns("time") <= $3 LIMIT 1`,
    [ref.pid, ref.node, at],
  );
  const [known] = await reader.rows(
    `SELECT min(epoch_ns("time"))::VARCHAR AS t FROM events WHERE pid = $1 AND node = $2 AND "type" IN ('process.snapshot', 'process.spawned', 'state.change')`,
    [ref.pid, ref.node],
  );
  const change = before ? stateChange(before) : null;
  const next = after ? stateChange(after) : null;
  // Before the process was seen at all (spawned, or alive at the attach), its state is not known.
  const unknown = !change && known?.t !== null && known?.t !== undefined && at < BigInt(String(known.t));
  return {
    pid: ref.pid,
    node: ref.node,
    module: text(counts?.module),
    at: when(at),
    // Before the first change: the state the watch began with, which held from the watch until that change.
    state: change ? change.newState : next && !unknown ? next.oldState : null,
    change,
    next: next ? { seq: next.seq, time: next.time } : null,
    changes,
    exitedAt: exit ? when(BigInt(String(exit.t))) : null,
  };
}
