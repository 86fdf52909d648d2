/**
 * A batch's attribute documents as JSON text, made with one JSON.stringify of
 * the whole batch's documents rather than one call per item: V8 serialises an
 * array of 8 192 attribute maps in about half the time of 8 192 calls, which
 * on the trace port's path is the largest single cost of building a row.
 *
 * The array's text, with a separator string between documents, is written to
 * UTF-8 once, split where the separators are (or, when a document holds the
 * separator too, by a byte scan of its top-level commas), and packed in
 * place into a column's bytes and offsets.
 * Whatever that fast path cannot take — a document with bytes, a value
 * JSON.stringify throws on (a BigInt, a cycle), a lone UTF-16 surrogate that
 * DuckDB's JSON reader rejects — sends the batch through the per-item path,
 * where each item's problem is its own and the others are written.
 */
import type { AttributeValue } from '../../model/types.js';
import { EMPTY_ATTRIBUTES } from '../../archive/event_keys.js';
import { containsBytes, jsonText } from '../../archive/tables.js';
import { utf8Payload } from './chunks.js';

/** Why an item's document cannot be written, and the value, shortened by the caller. */
export interface DocumentProblem {
  problem: string;
  value: unknown;
}

/** Item i's JSON is bytes[offsets[i]] … bytes[offsets[i + 1]]; `problems` holds the items that have none. */
export interface BatchDocuments {
  bytes: Uint8Array;
  offsets: Int32Array;
  problems?: Map<number, DocumentProblem>;
}

/**
 * A `\uD800`–`\uDFFF` escape that is an escape (after an even number of
 * backslashes). JSON.stringify writes surrogate pairs as they are and escapes
 * only lone ones, which DuckDB's JSON parser rejects, failing every query
 * that reads the column.
 */
export const LONE_SURROGATE_ESCAPE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;
export const LONE_SURROGATE_PROBLEM = 'holds a string with a lone UTF-16 surrogate, which DuckDB\'s JSON reader rejects';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Packs the elements of a JSON array's UTF-8 text in place: the brackets and
 * the top-level commas go, offsets[i] is where element i starts. Returns the
 * packed length, or -1 when the text does not hold `count` elements.
 */
export function packArrayElements(bytes: Uint8Array, count: number, offsets: Int32Array): number {
  const length = bytes.length;
  if (length < 2 || bytes[0] !== OPEN_BRACKET) return -1;
  let depth = 0;
  let inString = false;
  let element = 0;
  // Bytes from `from` are element `element`'s, to be moved to `to`.
  let from = 1;
  let to = 0;
  offsets[0] = 0;
  for (let i = 1; i < length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) depth--;
    else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      if (to !== from) bytes.copyWithin(to, from, i);
      to += i - from;
      from = i + 1;
      if (++element > count) return -1;
      offsets[element] = to;
      if (c === CLOSE_BRACKET) return element === count && i === length - 1 ? to : -1;
    }
  }
  return -1;
}

/** An empty array's text has no element to find. */
function empty(): BatchDocuments {
  return { bytes: new Uint8Array(0), offsets: new Int32Array(1) };
}

/**
 * The text's UTF-8 in its own ArrayBuffer (never the Buffer pool's: the
 * column is transferred to the worker), after `room` bytes left unwritten.
 */
function utf8Bytes(text: string, room: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(room + Buffer.byteLength(text, 'utf8'));
  buffer.write(text, room, 'utf8');
  return buffer;
}

/**
 * Between documents in the array that is serialised: the string DEL DEL.
 * `,"\x7f\x7f",` in JSON text can only be an array element of exactly this
 * string (a quote inside a string is escaped, and a key is followed by a
 * colon), so when the text holds it exactly n − 1 times, those are the
 * separators; a document holding the same string in a list makes one more,
 * and the batch takes the byte scan instead. Searching the UTF-8 bytes for
 * it (Buffer.indexOf; DEL is rare, so the search skips ahead) costs about a
 * third of scanning every byte in JavaScript.
 */
const SEPARATOR = '\x7f\x7f';
const FOUND = Buffer.from('\x7f\x7f",', 'latin1');

/**
 * Where each document's bytes start and end in the serialised array's UTF-8
 * (document i is bytes[bounds[2i]] … bytes[bounds[2i + 1]]), when it holds
 * the n − 1 separators alone; otherwise undefined.
 */
function separated(bytes: Buffer, n: number): Int32Array | undefined {
  const bounds = new Int32Array(2 * n);
  bounds[0] = 1;
  let k = 0;
  for (let at = bytes.indexOf(FOUND); at !== -1; at = bytes.indexOf(FOUND, at + 1)) {
    if (bytes[at - 1] !== QUOTE || bytes[at - 2] !== COMMA) continue;
    if (++k === n) return undefined;
    bounds[2 * k - 1] = at - 2;
    bounds[2 * k] = at + FOUND.length;
  }
  if (k !== n - 1) return undefined;
  bounds[2 * n - 1] = bytes.length - 1;
  return bounds;
}

/**
 * The documents of a batch's items (`of(item)` each), as JSON text. A
 * document that is EMPTY_ATTRIBUTES (an event whose keys are all in their
 * columns: most sends and receives) is written as `{}` without serialising.
 */
export function batchDocuments<T>(items: readonly T[], of: (item: T) => AttributeValue): BatchDocuments {
  const n = items.length;
  if (n === 0) return empty();
  const docs: AttributeValue[] = [];
  // blank[i] = 1: item i's document is EMPTY_ATTRIBUTES.
  const blank = new Uint8Array(n);
  let blanks = 0;
  for (let i = 0; i < n; i++) {
    const doc = of(items[i]);
    if (doc === EMPTY_ATTRIBUTES) {
      blank[i] = 1;
      blanks++;
      continue;
    }
    // No document is a problem of the item's, and bytes are written as {"$bytes": base64}
    // (as JSON lines has them): the per-item path does both.
    if (doc === undefined || (typeof doc === 'object' && doc !== null && containsBytes(doc))) return eachDocument(items, of);
    if (docs.length > 0) docs.push(SEPARATOR);
    docs.push(doc);
  }
  const m = n - blanks;
  let text = '';
  if (m > 0) {
    try {
      text = JSON.stringify(docs);
    } catch {
      return eachDocument(items, of);
    }
    if (text.includes('\\u') && LONE_SURROGATE_ESCAPE.test(text)) return eachDocument(items, of);
  }
  // The text goes after room for the blanks' `{}`, so gathering the documents in place never overtakes it.
  const room = 2 * blanks;
  const buffer = utf8Bytes(text, room);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let bounds = m > 0 ? separated(buffer.subarray(room), m) : new Int32Array(0);
  if (bounds === undefined) {
    // Every other element is a separator: document j is element 2j.
    bounds = new Int32Array(2 * m);
    if (packArrayElements(bytes.subarray(room), 2 * m - 1, bounds) < 0) throw new Error(`JSON.stringify made no array of ${2 * m - 1} elements`);
  }
  return gather(bytes, room, blank, bounds);
}

/**
 * The batch's documents moved together, in place: a blank item's is `{}`,
 * the j-th other item's bytes[room + bounds[2j]] … bytes[room + bounds[2j + 1]].
 */
function gather(bytes: Uint8Array, room: number, blank: Uint8Array, bounds: Int32Array): BatchDocuments {
  const n = blank.length;
  const offsets = new Int32Array(n + 1);
  let to = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (blank[i] === 1) {
      bytes[to++] = OPEN_BRACE;
      bytes[to++] = CLOSE_BRACE;
    } else {
      const from = room + bounds[2 * j];
      const end = room + bounds[2 * j + 1];
      j++;
      if (to !== from) bytes.copyWithin(to, from, end);
      to += end - from;
    }
    offsets[i + 1] = to;
  }
  return { bytes: bytes.subarray(0, to), offsets };
}

/** The per-item path: each item's document on its own, its problem its own. */
export function eachDocument<T>(items: readonly T[], of: (item: T) => AttributeValue | undefined): BatchDocuments {
  const n = items.length;
  const texts = new Array<string>(n);
  let problems: Map<number, DocumentProblem> | undefined;
  const problem = (i: number, p: DocumentProblem): void => {
    (problems ??= new Map()).set(i, p);
    texts[i] = '';
  };
  for (let i = 0; i < n; i++) {
    let doc: AttributeValue | undefined;
    try {
      doc = of(items[i]);
      const text = jsonText(doc);
      if (text === null) problem(i, { problem: 'is required', value: doc });
      else if (text.includes('\\u') && LONE_SURROGATE_ESCAPE.test(text)) problem(i, { problem: LONE_SURROGATE_PROBLEM, value: text });
      else texts[i] = text;
    } catch (error) {
      problem(i, { problem: `cannot be encoded: ${(error as Error).message}`, value: doc });
    }
  }
  const { bytes, offsets } = utf8Payload(texts, false);
  return { bytes, offsets, ...(problems ? { problems } : {}) };
}
