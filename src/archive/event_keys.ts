/**
 * The events table's hot attribute keys: each also a text column of its own
 * (tables.ts builds them), a string stored there alone, and the SQL that
 * gives the views' `attributes` every key again.
 */
import type { AttributeValue, Attributes } from '../model/types.js';
import type { TableName } from './tables.js';

/**
 * The event attribute keys asked about most, each also a VARCHAR column of
 * its own named after it (`beam.peer_pid` → `beam_peer_pid`; the value as
 * tables.ts' promotedText gives it), so the common questions need no JSON operator.
 * Files written before a column existed read it as NULL (the views union by
 * name).
 *
 * A key whose value is a string is held in its column alone: the stored
 * `attributes` document leaves it out and `attributes_in_columns` has its
 * bit (1 << its index here), and the archive's views put it back
 * (withEventAttributesRestored), so `attributes` there holds every key as
 * before. The document was the larger half of writing a trace event (a
 * message written twice, once as JSON).
 *
 * `distinct`: nearly every value differs (rendered messages, refs), so the
 * column is written PLAIN, without a dictionary or min/max statistics.
 */
export const EVENT_KEY_COLUMNS: ReadonlyArray<{ key: string; distinct: boolean }> = [
  // The other process of a send, spawn, link or port event: who sent to X, X's children and links.
  { key: 'beam.peer_pid', distinct: false },
  // The function of a call, return or exception, and a spawn's entry point: what ran, what is slow.
  { key: 'beam.mfa', distinct: false },
  // Why a process exited or a function raised (and a crash's reason): grouping exits and crashes.
  { key: 'beam.reason', distinct: false },
  // A sent or received message, rendered: what was in flight, matching receives to sends.
  { key: 'beam.message', distinct: true },
  // call, cast, reply, exit, down, info…: the protocol of a message, for filtering GenServer traffic.
  { key: 'beam.message.kind', distinct: false },
  // The ref pairing a gen call with its reply: joining a call's send to the reply that answered it.
  { key: 'beam.call.tag', distinct: true },
  // The name a process registered (register events, attach snapshots, crashes): resolving names to pids.
  { key: 'beam.registered_name', distinct: false },
  // What a process was started as (snapshots, crashes): which kind of process, whatever its pid.
  { key: 'beam.initial_call', distinct: false },
];

/** `beam.peer_pid` → `beam_peer_pid`: the column an EVENT_KEY_COLUMNS key has. */
export function keyColumnName(key: string): string {
  return key.replace(/[^A-Za-z0-9]+/g, '_');
}

/**
 * The document of no attributes, as storedEventAttributes gives it when every
 * key is in its column: the exporter writes `{}` for it without serialising.
 */
export const EMPTY_ATTRIBUTES: Attributes = Object.freeze({});

const KEY_INDEX = new Map(EVENT_KEY_COLUMNS.map(({ key }, i) => [key, i]));

/** An event's EVENT_KEY_COLUMNS values (by index, undefined when absent) and its `attributes_in_columns`. */
export interface KeyValues {
  readonly values: ReadonlyArray<AttributeValue | undefined>;
  /** Bit i set when values[i] is a string, held in its column alone. */
  readonly inColumns: number;
}

const last = { of: undefined as Attributes | undefined, values: new Array<AttributeValue | undefined>(EVENT_KEY_COLUMNS.length), inColumns: 0 };

/**
 * The key columns' values of one event, read in one walk over its own keys
 * (two to six on the trace port's events) rather than eight lookups in
 * objects of a thousand shapes. A row's nine cells ask one after another, so
 * the last event's answer is kept (events are immutable); it is one object,
 * valid until the next call.
 */
export function keyValues(attributes: Attributes): KeyValues {
  if (attributes === last.of) return last;
  const values = last.values;
  values.fill(undefined);
  let bits = 0;
  for (const key in attributes) {
    const i = KEY_INDEX.get(key);
    if (i === undefined) continue;
    const value = attributes[key];
    values[i] = value;
    if (typeof value === 'string') bits |= 1 << i;
  }
  last.of = attributes;
  last.inColumns = bits;
  return last;
}

/** What an event's stored `attributes` document holds: every key but those `inColumns` marks. */
export function storedEventAttributes(attributes: Attributes): Attributes {
  let rest: Record<string, AttributeValue> | undefined;
  for (const key in attributes) {
    const value = attributes[key];
    if (typeof value === 'string' && KEY_INDEX.has(key)) continue;
    rest ??= {};
    // An own key named __proto__ stays a key (assigning it would set the prototype). A plain object, not
    // Object.create(null): V8 keeps those in dictionary mode, and serialises them half as fast.
    if (key === '__proto__') Object.defineProperty(rest, key, { value, enumerable: true, writable: true, configurable: true });
    else rest[key] = value;
  }
  return rest ?? EMPTY_ATTRIBUTES;
}

/**
 * An events SELECT with `attributes` whole again: the keys held in their
 * columns alone (attributes_in_columns) written back into the document's
 * text, in front of its own keys, and `attributes_in_columns` left out.
 * Rows from files before the split (NULL there) keep their document as is.
 */
function withEventAttributesRestored(select: string): string {
  const pairs = EVENT_KEY_COLUMNS.map(({ key }, i) =>
    `CASE WHEN (attributes_in_columns & ${1 << i}) <> 0 THEN '${JSON.stringify(key)}:' || to_json("${keyColumnName(key)}") END`);
  const restored = `CASE WHEN coalesce(attributes_in_columns, 0) = 0 THEN attributes ELSE ('{' || concat_ws(',', ${pairs.join(', ')}) || `
    + `CASE WHEN attributes::VARCHAR = '{}' THEN '}' ELSE ',' || substr(attributes::VARCHAR, 2) END)::JSON END`;
  return `SELECT * EXCLUDE (attributes_in_columns) REPLACE (${restored} AS attributes) FROM (${select})`;
}

/** A table's SELECT as its view reads it (archive and live window alike): events with `attributes` whole. */
export function tableView(table: TableName, select: string): string {
  return table === 'events' ? withEventAttributesRestored(select) : select;
}
