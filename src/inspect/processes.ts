/**
 * Processes from the archive: which pid a name or pid means, one process's
 * life (`inspect process`) and the process tree alive at an instant
 * (`inspect processes --at`), from the trace's process.* and message.*
 * events and the snapshot ScopeBeam.Tracer takes when it attaches.
 */
import { listValue } from '../util/duckdb.js';
import { messageLabel, tupleElements } from '../beam/rendered_text.js';
import { ScopeError } from '../util/errors.js';
import type { ArchiveReader, Row } from './archive_reader.js';
import { attributesOf, list, text } from './rows.js';
import { when } from './time.js';
import type { ProcessInfo, ProcessTimeline, ProcessTree, TimelineEntry, TimelineKind, TreeNode } from './types.js';

export interface ProcessRef {
  pid: string;
  node: string;
}

export interface Range {
  node?: string;
  /** Unix nanoseconds, inclusive. */
  from?: bigint;
  to?: bigint;
  /** Entries kept (the first ones in time). */
  limit?: number;
}

const PID = /^<\d+\.\d+\.\d+>$/;
const MAX_TIME = 9_223_372_036_854_775_807n;

/** The spellings a registered name has in the archive: Erlang's `Elixir.Shop.Cart`, Elixir's `Shop.Cart`. */
function nameSpellings(name: string): string[] {
  const bare = name.replace(/^:"?|"$/g, '');
  const elixir = bare.replace(/^Elixir\./, '');
  return [...new Set([bare, elixir, `Elixir.${elixir}`])];
}

/**
 * A pid (`<0.123.0>`) or a registered name (`Shop.Cart`, `Elixir.Shop.Cart`,
 * `my_server`) as the process it means: for a name, the process that had it
 * at `at` (else the latest to take it). A pid on several nodes needs `node`.
 */
export async function resolveProcess(reader: ArchiveReader, which: string, options: { node?: string; at?: bigint } = {}): Promise<ProcessRef> {
  const node = options.node ?? null;
  if (PID.test(which)) {
    const nodes = (await reader.rows(
      `SELECT DISTINCT node FROM events WHERE pid = $1 AND ($2::VARCHAR IS NULL OR node = $2) ORDER BY node`,
      [which, node],
    )).map((r) => String(r.node));
    if (nodes.length === 0) throw new ScopeError('QUERY_FAILED', `no events of ${which} in the archive${node ? ` on ${node}` : ''}`);
    if (nodes.length > 1) throw new ScopeError('QUERY_FAILED', `${which} is a pid on ${nodes.length} nodes (${nodes.join(', ')}): say which with --node`);
    return { pid: which, node: nodes[0] };
  }
  // The last to take the name at `at`; else (the name was taken only later) the latest to take it.
  const [found] = await reader.rows(
    `SELECT pid, node FROM events
     WHERE "type" IN ('process.register', 'process.snapshot') AND ($2::VARCHAR IS NULL OR node = $2)
       AND list_contains($1::VARCHAR[], json_extract_string(attributes, '$."beam.registered_name"'))
     ORDER BY (epoch_ns("time") <= $3) DESC, "time" DESC LIMIT 1`,
    [listValue(nameSpellings(which)), node, options.at ?? MAX_TIME],
  );
  if (!found) throw new ScopeError('QUERY_FAILED', `no process registered as ${which} in the archive${node ? ` on ${node}` : ''} (give its pid, as <0.123.0>)`);
  return { pid: String(found.pid), node: String(found.node) };
}

/** Sends to a process matched to its receives at most (beyond, receives show no sender). */
const MAX_SENDS_MATCHED = 200_000;

const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);

const LIFE_TYPES = ['process.snapshot', 'process.spawned', 'process.register', 'process.exit', 'process.crash'];

/** Who the process was: its spawn (or snapshot), names, initial call and exit. */
export async function processInfo(reader: ArchiveReader, ref: ProcessRef): Promise<ProcessInfo> {
  const rows = await reader.rows(
    `SELECT id, "type", epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events
     WHERE pid = $1 AND node = $2 AND list_contains($3::VARCHAR[], "type") ORDER BY "time", id`,
    [ref.pid, ref.node, listValue(LIFE_TYPES)],
  );
  const info: ProcessInfo = {
    pid: ref.pid, node: ref.node, names: [], initialCall: null, behaviour: null, callbackModule: null,
    spawnedBy: null, spawnedAt: null, exit: null, crashId: null,
  };
  for (const row of rows) {
    const a = attributesOf(row);
    const t = when(BigInt(String(row.t)));
    const name = text(a['beam.registered_name']);
    if (name !== null && !info.names.includes(name) && row.type !== 'process.crash') info.names.push(name);
    info.initialCall ??= text(a['beam.initial_call']) ?? (row.type === 'process.spawned' ? text(a['beam.mfa']) : null);
    info.behaviour ??= text(a['beam.behaviour']);
    info.callbackModule ??= text(a['beam.callback_module']);
    if (row.type === 'process.spawned') {
      info.spawnedBy = text(a['beam.peer_pid']);
      info.spawnedAt = t;
    } else if (row.type === 'process.snapshot') {
      info.spawnedBy ??= text(list(a['beam.ancestors'])[0]);
    } else if (row.type === 'process.exit') {
      info.exit = { time: t, reason: text(a['beam.reason']) ?? '' };
    } else if (row.type === 'process.crash') {
      info.crashId = String(row.id);
    }
  }
  // A snapshot's ancestor is a pid or a registered name (a supervisor's): the name as the pid that had it.
  if (info.spawnedBy !== null && !PID.test(info.spawnedBy)) {
    const parent = await resolveProcess(reader, info.spawnedBy, { node: ref.node }).catch(() => null);
    if (parent) info.spawnedBy = parent.pid;
  }
  return info;
}

/**
 * Who sent each message the process received: the traced sends to its pid or
 * to a name it had, matched to its receives in order by the message (a
 * receive event names no sender; a gen_server call names its caller).
 */
async function sendersTo(reader: ArchiveReader, ref: ProcessRef, names: readonly string[], range: Range): Promise<Map<string, string[]>> {
  const rows = await reader.rows(
    `SELECT pid, json_extract_string(attributes, '$."beam.message"') AS message FROM events
     WHERE "type" = 'message.send' AND node = $1 AND list_contains($2::VARCHAR[], json_extract_string(attributes, '$."beam.peer_pid"'))
       AND epoch_ns("time") BETWEEN $3 AND $4
     ORDER BY "time", id LIMIT ${MAX_SENDS_MATCHED}`,
    [ref.node, listValue([ref.pid, ...names]), range.from ?? 0n, range.to ?? MAX_TIME],
  );
  const senders = new Map<string, string[]>();
  for (const row of rows) {
    const message = String(row.message);
    let queue = senders.get(message);
    if (!queue) senders.set(message, (queue = []));
    queue.push(String(row.pid));
  }
  return senders;
}

const TIMELINE_TYPES: Record<string, TimelineKind> = {
  'process.snapshot': 'snapshot', 'process.spawned': 'spawned', 'process.spawn': 'spawn',
  'process.register': 'register', 'process.unregister': 'unregister',
  'process.link': 'link', 'process.getting_linked': 'link', 'process.unlink': 'unlink', 'process.getting_unlinked': 'unlink',
  'message.send': 'send', 'message.send_to_dead': 'send', 'message.receive': 'receive',
  'function.call': 'call', 'function.return': 'return', 'function.exception': 'exception',
  'state.change': 'state', 'process.exit': 'exit', 'process.crash': 'crash',
};

/** One process's life in time order: spawn, names, links, messages in and out with their peers, calls, state changes, exit. */
export async function processTimeline(reader: ArchiveReader, ref: ProcessRef, range: Range = {}): Promise<ProcessTimeline> {
  const process = await processInfo(reader, ref);
  const limit = range.limit ?? 500;
  const params = [ref.pid, ref.node, listValue(Object.keys(TIMELINE_TYPES)), range.from ?? 0n, range.to ?? MAX_TIME];
  const where = `pid = $1 AND node = $2 AND list_contains($3::VARCHAR[], "type") AND epoch_ns("time") BETWEEN $4 AND $5`;
  const [{ n }] = await reader.rows(`SELECT count(*)::INTEGER AS n FROM events WHERE ${where}`, params);
  const rows = await reader.rows(
    `SELECT id, "type", epoch_ns("time")::VARCHAR AS t, attributes::VARCHAR AS attributes FROM events WHERE ${where} ORDER BY "time", id LIMIT ${Number(limit)}`,
    params,
  );
  // Sends by name reach this process only while it is alive (a restarted process takes its predecessor's name).
  // And only up to the last entry shown.
  const last = rows.length > 0 ? BigInt(String(rows[rows.length - 1].t)) : MAX_TIME;
  const alive = {
    from: maxOf(range.from ?? 0n, process.spawnedAt ? BigInt(process.spawnedAt.unixNano) : 0n),
    to: minOf(minOf(range.to ?? MAX_TIME, last), process.exit ? BigInt(process.exit.time.unixNano) : MAX_TIME),
  };
  const senders = await sendersTo(reader, ref, process.names, alive);
  // A reply goes to the caller's alias (a reference): its tag names the call it answers, and so the caller.
  const callers = new Map<string, string>();
  const entries = rows.map((row): TimelineEntry => {
    const a = attributesOf(row);
    const type = String(row.type);
    const kind = TIMELINE_TYPES[type];
    const system = type === 'message.receive' ? systemCall(text(a['beam.message']) ?? '') : null;
    const tag = text(a['beam.call.tag']) ?? system?.tag ?? null;
    const from = text(a['beam.call.from']) ?? system?.from ?? null;
    if (tag !== null && from !== null) callers.set(tag, from);
    const sender = type === 'message.receive' ? senders.get(text(a['beam.message']) ?? '')?.shift() : undefined;
    const peer = sender ?? system?.from ?? peerOf(type, a, tag === null ? undefined : callers.get(tag));
    return { time: when(BigInt(String(row.t))), kind, type, peer, text: describe(type, a) };
  });
  return { process, entries, total: Number(n) };
}

/** `{system,{From,Tag},Request}` (sys's calls: suspend, get_state, install…) → its caller and tag. */
function systemCall(message: string): { from: string; tag: string } | null {
  if (!message.startsWith('{system,')) return null;
  const from = tupleElements(tupleElements(message)?.[1] ?? '');
  return from && from.length === 2 && PID.test(from[0]) ? { from: from[0], tag: from[1] } : null;
}

function peerOf(type: string, a: Record<string, unknown>, caller: string | undefined): string | null {
  if (type === 'message.receive') return text(a['beam.call.from']) ?? text(a['beam.from']);
  if (type === 'message.send' && text(a['beam.message.kind']) === 'reply' && caller) return caller;
  if (type === 'state.change') return text(a['beam.from']);
  return text(a['beam.peer_pid']);
}

function describe(type: string, a: Record<string, unknown>): string {
  const message = text(a['beam.message']) ?? '';
  const kind = text(a['beam.message.kind']);
  switch (type) {
    case 'process.snapshot': return `alive at the attach${a['beam.initial_call'] ? `: ${text(a['beam.initial_call'])}` : ''}`;
    case 'process.spawned': return `started as ${text(a['beam.initial_call']) ?? text(a['beam.mfa']) ?? '?'}`;
    case 'process.spawn': return `spawned ${text(a['beam.mfa']) ?? ''}`.trim();
    case 'process.register': return `registered as ${text(a['beam.registered_name'])}`;
    case 'process.unregister': return `unregistered ${text(a['beam.registered_name'])}`;
    case 'process.link': case 'process.getting_linked': return 'linked';
    case 'process.unlink': case 'process.getting_unlinked': return 'unlinked';
    case 'message.send_to_dead': return `to a dead process: ${message}`;
    case 'message.send': case 'message.receive': return kind ? `${kind} ${messageLabel(kind, message)}` : message;
    case 'function.call': return `${text(a['beam.mfa'])} ${text(a['beam.args']) ?? ''}`.trim();
    case 'function.return': return `${text(a['beam.mfa'])} → ${text(a['beam.return']) ?? ''}`;
    case 'function.exception': return `${text(a['beam.mfa'])} raised ${text(a['beam.exception']) ?? text(a['beam.reason']) ?? ''}`;
    case 'state.change': {
      const keys = list(a.changed_keys).map(String);
      const what = a.changed === true ? `changed${keys.length ? ` ${keys.join(', ')}` : ''}` : 'unchanged';
      return `${text(a.kind) ?? ''} ${message}: state ${what} (#${text(a.seq)})`.trim();
    }
    case 'process.exit': return `exit ${text(a['beam.reason']) ?? ''}`;
    case 'process.crash': return `crash (${text(a['scope.crash.root_cause']) === 'true' ? 'root cause' : 'caused'}): ${text(a['beam.reason']) ?? ''}`;
    default: return type;
  }
}

/** Processes a tree shows at most per question (a node with more is cut, and says so in `processes`). */
export const MAX_TREE_PROCESSES = 100_000;

const BIRTH = `"type" IN ('process.snapshot', 'process.spawned')`;
const NAME = `json_extract_string(attributes, '$."beam.registered_name"')`;

/**
 * The processes alive at `at` on each node, under the process that spawned
 * (or supervises) them. DuckDB folds each pid's lifecycle events up to `at`
 * into one row (its last birth, whether an exit came after it, the name it
 * held then), so only the living are read.
 */
export async function processTreeAt(reader: ArchiveReader, at: bigint, options: { node?: string } = {}): Promise<ProcessTree> {
  const rows = await reader.rows(
    `WITH folded AS (
       SELECT node, pid,
         arg_max("type", "time") FILTER (WHERE ${BIRTH} OR "type" = 'process.exit') AS last_life,
         arg_max("type", "time") FILTER (WHERE ${BIRTH}) AS birth_type,
         max(epoch_ns("time")) FILTER (WHERE ${BIRTH}) AS born,
         arg_max(attributes::VARCHAR, "time") FILTER (WHERE ${BIRTH}) AS attributes,
         arg_max_null(CASE WHEN "type" = 'process.unregister' THEN NULL ELSE ${NAME} END, "time")
           FILTER (WHERE "type" IN ('process.register', 'process.unregister') OR (${BIRTH} AND ${NAME} IS NOT NULL)) AS name
       FROM events
       WHERE list_contains($1::VARCHAR[], "type") AND epoch_ns("time") <= $2 AND ($3::VARCHAR IS NULL OR node = $3) AND pid IS NOT NULL
       GROUP BY node, pid
     )
     SELECT node, pid, birth_type, born::VARCHAR AS born, attributes, name, count(*) OVER (PARTITION BY node)::INTEGER AS alive
     FROM folded WHERE last_life <> 'process.exit'
     ORDER BY node, pid LIMIT ${MAX_TREE_PROCESSES}`,
    [listValue(['process.snapshot', 'process.spawned', 'process.exit', 'process.register', 'process.unregister']), at, options.node ?? null],
  );
  const byNode = new Map<string, Row[]>();
  for (const row of rows) {
    const node = String(row.node);
    let r = byNode.get(node);
    if (!r) byNode.set(node, (r = []));
    r.push(row);
  }
  const nodes = [...byNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, nodeRows]) => treeOf(node, nodeRows));
  return { at: when(at), nodes };
}

function treeOf(node: string, rows: readonly Row[]): ProcessTree['nodes'][number] {
  const alive = new Map<string, { node: TreeNode; parent: string | null }>();
  const nameOwner = new Map<string, string>();
  for (const row of rows) {
    const pid = String(row.pid);
    const a = attributesOf(row);
    const spawned = row.birth_type === 'process.spawned';
    const name = text(row.name);
    alive.set(pid, {
      parent: spawned ? text(a['beam.peer_pid']) : text(list(a['beam.ancestors'])[0]),
      node: {
        pid, name, initialCall: text(a['beam.initial_call']) ?? (spawned ? text(a['beam.mfa']) : null), behaviour: text(a['beam.behaviour']),
        spawnedAt: spawned ? when(BigInt(String(row.born))) : null, children: [],
      },
    });
    if (name) nameOwner.set(name, pid);
  }
  const roots: TreeNode[] = [];
  for (const { node: n, parent } of alive.values()) {
    // An ancestor is a pid or a registered name (a supervisor's).
    const parentPid = parent === null ? null : PID.test(parent) ? parent : nameOwner.get(parent) ?? null;
    const up = parentPid === null || parentPid === n.pid ? undefined : alive.get(parentPid);
    (up ? up.node.children : roots).push(n);
  }
  const sort = (ns: TreeNode[]): void => {
    ns.sort((x, y) => pidOrder(x.pid) - pidOrder(y.pid));
    for (const c of ns) sort(c.children);
  };
  sort(roots);
  return { node, processes: Number(rows[0]?.alive ?? alive.size), roots };
}

/** <0.123.0> → 123 (pids of one node sort by their number). */
function pidOrder(pid: string): number {
  const m = /^<(\d+)\.(\d+)\./.exec(pid);
  return m ? Number(m[1]) * 1e9 + Number(m[2]) : Number.MAX_SAFE_INTEGER;
}
