/**
 * The messages between some processes, in time order: each traced send
 * whose receiver is one of them, the receiver known by pid, by a name it
 * was registered under, or — for a gen_server reply, sent to the caller's
 * alias — by the call it answers.
 */
import { listValue } from '../util/duckdb.js';
import { ScopeError } from '../util/errors.js';
import type { ArchiveReader } from './archive_reader.js';
import type { ProcessRef, Range } from './processes.js';
import { attributesOf, text } from './rows.js';
import { when } from './time.js';
import type { MessageSequence, SequenceMessage } from './types.js';

export const MAX_SEQUENCE_PROCESSES = 8;
const MAX_TIME = 9_223_372_036_854_775_807n;

const key = (node: string, pid: string): string => `${node}|${pid}`;

/** `<other@host.98.0>` (a pid as another node renders it) → [other@host, <0.98.0>]. */
function remotePid(pid: string): [string, string] | null {
  const m = /^<(.+@[^.>]+(?:\.[^.>]+)*)\.(\d+)\.(\d+)>$/.exec(pid);
  return m ? [m[1], `<0.${m[2]}.${m[3]}>`] : null;
}

export async function messageSequence(reader: ArchiveReader, refs: readonly ProcessRef[], range: Range = {}): Promise<MessageSequence> {
  if (refs.length < 2 || refs.length > MAX_SEQUENCE_PROCESSES) {
    throw new ScopeError('QUERY_FAILED', `a message sequence is between 2 and ${MAX_SEQUENCE_PROCESSES} processes (got ${refs.length})`);
  }
  const inSet = new Set(refs.map((r) => key(r.node, r.pid)));
  const pids = listValue([...new Set(refs.map((r) => r.pid))]);
  const nodes = listValue([...new Set(refs.map((r) => r.node))]);

  // Names each had, from when (a restarted process takes its predecessor's name); call tags each received
  // (a reply to that tag goes to the caller).
  const owners = new Map<string, Array<{ since: bigint; pid: string }>>();
  const callers = new Map<string, string>();
  const meta = await reader.rows(
    `SELECT node, pid, "type", epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events
     WHERE list_contains($1::VARCHAR[], pid) AND list_contains($2::VARCHAR[], node)
       AND ("type" IN ('process.register', 'process.snapshot') OR ("type" = 'message.receive' AND json_extract_string(attributes, '$."beam.message.kind"') = 'call'))
     ORDER BY "time"`,
    [pids, nodes],
  );
  const names = new Map<string, string | null>();
  for (const row of meta) {
    const node = String(row.node);
    const k = key(node, String(row.pid));
    if (!inSet.has(k)) continue;
    const a = attributesOf(row);
    if (row.type === 'message.receive') {
      const tag = text(a['beam.call.tag']);
      const from = text(a['beam.call.from']);
      if (tag && from) callers.set(`${node}|${tag}`, from);
    } else {
      const name = text(a['beam.registered_name']);
      if (name) {
        let owned = owners.get(key(node, name));
        if (!owned) owners.set(key(node, name), (owned = []));
        owned.push({ since: BigInt(String(row.t)), pid: String(row.pid) });
        names.set(k, name);
      }
    }
  }

  const rows = await reader.rows(
    // Only sends that can reach one of them: to their pids or names, replies (matched by tag below), remote pids.
    `SELECT node, pid, epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events
     WHERE "type" = 'message.send' AND list_contains($1::VARCHAR[], pid) AND list_contains($2::VARCHAR[], node)
       AND epoch_ns("time") BETWEEN $3 AND $4
       AND (list_contains($5::VARCHAR[], json_extract_string(attributes, '$."beam.peer_pid"'))
            OR json_extract_string(attributes, '$."beam.message.kind"') = 'reply'
            OR json_extract_string(attributes, '$."beam.peer_pid"') LIKE '<%@%')
     ORDER BY "time", id`,
    [pids, nodes, range.from ?? 0n, range.to ?? MAX_TIME, listValue([...new Set([...refs.map((r) => r.pid), ...[...owners.keys()].map((k) => k.slice(k.indexOf('|') + 1))])])],
  );
  const messages: SequenceMessage[] = [];
  let total = 0;
  const limit = range.limit ?? 500;
  for (const row of rows) {
    const node = String(row.node);
    const from = String(row.pid);
    if (!inSet.has(key(node, from))) continue;
    const a = attributesOf(row);
    const kind = text(a['beam.message.kind']) ?? 'info';
    const t = BigInt(String(row.t));
    const to = receiver(node, text(a['beam.peer_pid']) ?? '', t, kind === 'reply' ? callers.get(`${node}|${text(a['beam.call.tag'])}`) : undefined);
    if (to === null || !inSet.has(key(to.node, to.pid))) continue;
    total += 1;
    if (messages.length < limit) {
      messages.push({ time: when(t), from, fromNode: node, to: to.pid, toNode: to.node, kind, message: text(a['beam.message']) ?? '' });
    }
  }
  return { processes: refs.map((r) => ({ pid: r.pid, node: r.node, name: names.get(key(r.node, r.pid)) ?? null })), messages, total };

  function receiver(node: string, peer: string, at: bigint, caller: string | undefined): ProcessRef | null {
    if (caller) return { node, pid: caller };
    if (/^<0\.\d+\.\d+>$/.test(peer)) return { node, pid: peer };
    const remote = remotePid(peer);
    if (remote) return { node: remote[0], pid: remote[1] };
    // The name's owner at the time of the send: the last of the set to take it before then.
    let owner: string | undefined;
    for (const o of owners.get(key(node, peer)) ?? []) if (o.since <= at) owner = o.pid;
    return owner ? { node, pid: owner } : null;
  }
}
