/**
 * OTLP/protobuf trace requests read straight from the wire into `Span`s.
 *
 * The general path (protobufjs decode, then convertTraces) builds a message
 * object for every span, key-value and AnyValue and then converts it again;
 * for 20-attribute spans that is about 22 µs a span. This reader walks the
 * protobuf encoding once (field numbers from opentelemetry-proto v1.x,
 * trace.proto / common.proto / resource.proto) and gives exactly what
 * convertTraces gives for the same request — the property test holds it to
 * that, refusals and cuts included (the same checks, in the same order: see
 * convert.ts). Unknown fields are skipped, as protobuf requires. A malformed
 * encoding throws a RangeError, like protobufjs's decode; nesting deeper than
 * MAX_DEPTH throws an InvalidRequest (a RangeError) naming where.
 */
import type { AttributeValue, Attributes, Span, SpanKind, StatusCode } from '../../model/types.js';
import { markInvalid, setTruncation, type Converted } from './convert.js';
import { setOwn } from '../../util/own.js';
import {
  DEFAULT_LIMITS, MAX_DEPTH, at, idBytesProblem, markDropped, timeProblem, tooDeep, utf8PrefixLength, type ItemLimits,
} from './limits.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text; throws (a malformed request) when they are not valid UTF-8. */
function utf8(buf: Buffer, from: number, to: number): string {
  // ASCII, the common case, needs no check.
  let ascii = true;
  for (let i = from; i < to; i++) {
    if (buf[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', from, to);
  try {
    return strictUtf8.decode(buf.subarray(from, to));
  } catch {
    throw new RangeError(`a string field at byte ${from} is not valid UTF-8`);
  }
}

const SPAN_KINDS: readonly SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS: readonly StatusCode[] = ['unset', 'ok', 'error'];

const VARINT = 0;
const FIXED64 = 1;
export const LEN = 2;
const FIXED32 = 5;

export class Reader {
  pos: number;
  private readonly view: DataView;

  constructor(readonly buf: Buffer, start = 0) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** An unsigned varint up to 2^53 as a number; longer ones as a BigInt of the low 64 bits (see varint64). */
  uint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError('truncated varint');
      const b = buf[this.pos++];
      if (shift < 28) result |= (b & 0x7f) << shift;
      else if (shift < 70) result += (b & 0x7f) * 2 ** shift;
      else throw new RangeError('varint too long');
      if (b < 0x80) return shift < 28 ? result >>> 0 : result;
      shift += 7;
    }
  }

  /** A varint as a signed 64-bit integer. */
  int64(): bigint {
    const buf = this.buf;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= buf.length) throw new RangeError('truncated varint');
      const b = buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
    }
    throw new RangeError('varint too long');
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.buf.length) throw new RangeError('truncated fixed64');
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) throw new RangeError('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** The end of a length-delimited field that starts here. */
  end(): number {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.buf.length) throw new RangeError('length-delimited field runs past the end');
    return end;
  }

  /** A string field; invalid UTF-8 makes the request malformed, as protobufjs and the Collector (Go) refuse it. */
  string(): string {
    const end = this.end();
    const s = utf8(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** A string field cut to at most `max` UTF-8 bytes (on a character boundary); `cx` counts the cut. */
  stringAtMost(max: number, cx: Limits): string {
    const end = this.end();
    let stop = end;
    if (end - this.pos > max) {
      stop = this.pos + utf8PrefixLength(this.buf, this.pos, end, max);
      cx.cutValues++;
    }
    // The whole field is checked, not only what is kept: a cut never hides invalid bytes.
    if (stop < end) utf8(this.buf, stop, end);
    const s = utf8(this.buf, this.pos, stop);
    this.pos = end;
    return s;
  }

  /**
   * An id field (`len` bytes): its hex when it has `len` bytes, undefined
   * when empty, else its byte length (which makes the span invalid). Read
   * straight from the buffer: no view, no concatenation.
   */
  id(len: number): string | number | undefined {
    const end = this.end();
    const n = end - this.pos;
    const from = this.pos;
    this.pos = end;
    if (n === 0) return undefined;
    return n === len ? this.buf.toString('hex', from, end) : n;
  }

  /** A key: interned (see KEYS), so the attributes of a request's spans share their key strings. */
  key(): string {
    const end = this.end();
    const s = KEYS.get(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** An int64 varint as an attribute value: a number when exact, else its decimal text (intValue). */
  intValue(): number | string {
    const buf = this.buf;
    // Up to 7 bytes (below 2^49) the varint is a non-negative number exactly: no BigInt.
    let result = 0;
    let scale = 1;
    for (let i = this.pos; i < buf.length && i < this.pos + 7; i++) {
      const b = buf[i];
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = i + 1;
        return result;
      }
      scale *= 128;
    }
    return intValue(this.int64());
  }

  /** The bytes of a length-delimited field, as a view. */
  bytes(): Buffer {
    const end = this.end();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.uint32();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LEN:
        this.pos = this.end();
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`wire type ${wireType} is not valid here`);
    }
    if (this.pos > this.buf.length) throw new RangeError('truncated field');
  }
}

/**
 * Attribute keys as strings made once: a request's spans (and the next
 * request's) repeat the same few keys, and a fresh string per key per span
 * was a tenth of what the receiver allocated. Looked up by a hash of the
 * bytes and checked byte for byte; ASCII keys of up to `maxLength` bytes
 * only, at most `max` of them (the first seen: a client sending random keys
 * fills it and gets fresh strings after).
 */
export class KeyStrings {
  private readonly strings = new Map<number, string>();
  constructor(private readonly max: number, private readonly maxLength: number) {}

  get(buf: Buffer, from: number, to: number): string {
    const n = to - from;
    if (n > this.maxLength) return utf8(buf, from, to);
    let h = 0x811c9dc5 ^ n;
    for (let i = from; i < to; i++) {
      const c = buf[i];
      if (c > 0x7f) return utf8(buf, from, to);
      h = Math.imul(h ^ c, 0x01000193);
    }
    const known = this.strings.get(h);
    if (known !== undefined && known.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (known.charCodeAt(i) !== buf[from + i]) {
          same = false;
          break;
        }
      }
      if (same) return known;
    }
    const s = buf.toString('latin1', from, to);
    if (known === undefined && this.strings.size < this.max) this.strings.set(h, s);
    return s;
  }
}

const KEYS = new KeyStrings(4096, 128);

function isZero(h: string): boolean {
  return /^0+$/.test(h);
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A signed 64-bit integer as a number when exact, else its decimal text (as convertTraces does). */
function intValue(v: bigint): number | string {
  return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
}

/** The limits of one request and what they cut. */
class Limits {
  droppedAttributes = 0;
  cutValues = 0;
  readonly maxAttributes: number;
  readonly maxValueBytes: number;

  constructor(limits: ItemLimits) {
    this.maxAttributes = limits.maxAttributes;
    this.maxValueBytes = limits.maxValueBytes;
  }
}

/** AnyValue { string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7 }: the last member on the wire wins. */
function anyValue(r: Reader, end: number, depth: number, cx: Limits): AttributeValue {
  if (depth > MAX_DEPTH) throw tooDeep();
  let value: AttributeValue = null;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === LEN) value = r.stringAtMost(cx.maxValueBytes, cx);
    else if (field === 2 && wire === VARINT) value = r.uint32() !== 0;
    else if (field === 3 && wire === VARINT) value = r.intValue();
    else if (field === 4 && wire === FIXED64) value = r.double();
    else if (field === 5 && wire === LEN) {
      const arrayEnd = r.end();
      const values: AttributeValue[] = [];
      while (r.pos < arrayEnd) {
        const t = r.uint32();
        if (t >>> 3 === 1 && (t & 7) === LEN) values.push(anyValue(r, r.end(), depth + 1, cx));
        else r.skip(t & 7);
      }
      value = values;
    } else if (field === 6 && wire === LEN) {
      const listEnd = r.end();
      const kv: Attributes = {};
      while (r.pos < listEnd) {
        const t = r.uint32();
        if (t >>> 3 === 1 && (t & 7) === LEN) keyValue(r, r.end(), kv, depth + 1, cx);
        else r.skip(t & 7);
      }
      value = kv;
    } else if (field === 7 && wire === LEN) {
      const b = r.bytes();
      if (b.length > cx.maxValueBytes) {
        cx.cutValues++;
        value = new Uint8Array(b.subarray(0, cx.maxValueBytes));
      } else {
        value = new Uint8Array(b);
      }
    } else r.skip(wire);
  }
  if (r.pos !== end) throw new RangeError('AnyValue runs past its length');
  return value;
}

/** KeyValue { key 1, value 2 } into `into`. */
function keyValue(r: Reader, end: number, into: Attributes, depth: number, cx: Limits): void {
  let key = '';
  let value: AttributeValue = null;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === LEN) key = r.key();
    else if (field === 2 && wire === LEN) value = anyValue(r, r.end(), depth, cx);
    else r.skip(wire);
  }
  if (r.pos !== end) throw new RangeError('KeyValue runs past its length');
  setOwn(into, key, value);
}

/**
 * The `index`-th attribute of an item (a KeyValue field starting here): read
 * into `into` while under the limit, else skipped and counted. Returns whether it was kept.
 */
function itemAttribute(r: Reader, into: Attributes, index: number, cx: Limits): boolean {
  const end = r.end();
  if (index >= cx.maxAttributes) {
    r.pos = end;
    return false;
  }
  try {
    keyValue(r, end, into, 0, cx);
  } catch (error) {
    throw at(error, `attributes[${index}].value`);
  }
  return true;
}

/** After an item's attributes: records those dropped by the limit on the item. */
function attributesDone(attributes: Attributes, count: number, cx: Limits): void {
  if (count > cx.maxAttributes) {
    cx.droppedAttributes += count - cx.maxAttributes;
    markDropped(attributes, count - cx.maxAttributes);
  }
}

/** Every `field` (a KeyValue) of the message ending at `end`, as attributes. */
function attributesOf(r: Reader, end: number, field: number, cx: Limits): Attributes {
  const out: Attributes = {};
  let count = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === LEN) itemAttribute(r, out, count++, cx);
    else r.skip(tag & 7);
  }
  attributesDone(out, count, cx);
  return out;
}

/** An id as Reader.id reads it: hex, undefined (empty), or the wrong length in bytes. */
type RawId = string | number | undefined;

interface RawLink { traceId?: RawId; spanId?: RawId; traceState: string; attributes: Attributes }

function event(r: Reader, end: number, cx: Limits): Span['events'][number] {
  let name = '';
  let time = 0n;
  const attributes: Attributes = {};
  let count = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === FIXED64) time = r.fixed64();
    else if (field === 2 && wire === LEN) name = r.string();
    else if (field === 3 && wire === LEN) itemAttribute(r, attributes, count++, cx);
    else r.skip(wire);
  }
  attributesDone(attributes, count, cx);
  return { name, timeUnixNano: time, attributes };
}

function link(r: Reader, end: number, cx: Limits): RawLink {
  const l: RawLink = { traceState: '', attributes: {} };
  let count = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === LEN) l.traceId = r.id(16);
    else if (field === 2 && wire === LEN) l.spanId = r.id(8);
    else if (field === 3 && wire === LEN) l.traceState = r.string();
    else if (field === 4 && wire === LEN) itemAttribute(r, l.attributes, count++, cx);
    else r.skip(wire);
  }
  attributesDone(l.attributes, count, cx);
  return l;
}

function reject(out: Converted<Span>, reason: string): void {
  out.rejected++;
  if (out.errors.length < 3) out.errors.push(reason);
}

/** Where span k of scopeSpans j of resourceSpans i is, in OTLP/JSON terms (built only for a message). */
function spanPath(i: number, j: number, k: number): string {
  return `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
}

/**
 * Span (trace.proto field numbers) → a Span, a rejection, or the request
 * marked invalid: the checks and their order are convertTraces's.
 */
function span(r: Reader, end: number, resource: Attributes, scope: Span['scope'], out: Converted<Span>, cx: Limits, i: number, j: number, k: number): void {
  let traceId: RawId;
  let spanId: RawId;
  let parent: RawId;
  let traceState = '';
  let name = '';
  let kind = 0;
  let start = 0n;
  let endTime = 0n;
  const attributes: Attributes = {};
  let attributeCount = 0;
  const events: Span['events'] = [];
  const links: RawLink[] = [];
  let statusCode = 0;
  let statusMessage = '';
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    switch (wire === LEN ? field : wire === VARINT ? -field : wire === FIXED64 ? 100 + field : 0) {
      case 1: traceId = r.id(16); break;
      case 2: spanId = r.id(8); break;
      case 3: traceState = r.string(); break;
      case 4: parent = r.id(8); break;
      case 5: name = r.string(); break;
      case -6: kind = r.uint32() | 0; break;
      case 107: start = r.fixed64(); break;
      case 108: endTime = r.fixed64(); break;
      case 9: itemAttribute(r, attributes, attributeCount++, cx); break;
      case 11: {
        const n = events.length;
        try {
          events.push(event(r, r.end(), cx));
        } catch (error) {
          throw at(error, `events[${n}]`);
        }
        break;
      }
      case 13: {
        const n = links.length;
        try {
          links.push(link(r, r.end(), cx));
        } catch (error) {
          throw at(error, `links[${n}]`);
        }
        break;
      }
      case 15: {
        const statusEnd = r.end();
        while (r.pos < statusEnd) {
          const t = r.uint32();
          if (t >>> 3 === 2 && (t & 7) === LEN) statusMessage = r.string();
          else if (t >>> 3 === 3 && (t & 7) === VARINT) statusCode = r.uint32() | 0;
          else r.skip(t & 7);
        }
        break;
      }
      default: r.skip(wire);
    }
  }
  if (r.pos !== end) throw new RangeError('span runs past its length');
  attributesDone(attributes, attributeCount, cx);
  const invalid = (f: string, problem: string): void => markInvalid(out, `${spanPath(i, j, k)}.${f}: ${problem} (span ${JSON.stringify(name)})`);
  if (typeof traceId === 'number') return invalid('traceId', idBytesProblem(traceId, 16));
  if (typeof spanId === 'number') return invalid('spanId', idBytesProblem(spanId, 8));
  if (typeof parent === 'number') return invalid('parentSpanId', idBytesProblem(parent, 8));
  const startProblem = timeProblem(start);
  if (startProblem) return invalid('startTimeUnixNano', startProblem);
  const endProblem = timeProblem(endTime);
  if (endProblem) return invalid('endTimeUnixNano', endProblem);
  for (let e = 0; e < events.length; e++) {
    const problem = timeProblem(events[e].timeUnixNano);
    if (problem) return invalid(`events[${e}].timeUnixNano`, problem);
  }
  const spanLinks: Span['links'] = [];
  let emptyLink = false;
  for (let l = 0; l < links.length; l++) {
    const lt = links[l].traceId;
    const ls = links[l].spanId;
    if (typeof lt === 'number') return invalid(`links[${l}].traceId`, idBytesProblem(lt, 16));
    if (typeof ls === 'number') return invalid(`links[${l}].spanId`, idBytesProblem(ls, 8));
    if (!lt || !ls) {
      emptyLink = true;
      continue;
    }
    const converted: Span['links'][number] = { traceId: lt, spanId: ls, attributes: links[l].attributes };
    if (links[l].traceState) converted.traceState = links[l].traceState;
    spanLinks.push(converted);
  }
  if (!traceId || isZero(traceId)) return reject(out, `span "${name}": trace_id must be 16 non-zero bytes`);
  if (!spanId || isZero(spanId)) return reject(out, `span "${name}": span_id must be 8 non-zero bytes`);
  if (emptyLink) return reject(out, `span "${name}": a link has an empty trace_id or span_id`);
  const result: Span = {
    traceId,
    spanId,
    name,
    spanKind: SPAN_KINDS[kind] ?? 'unspecified',
    startTimeUnixNano: start,
    endTimeUnixNano: endTime,
    attributes,
    events,
    links: spanLinks,
    status: { code: STATUS[statusCode] ?? 'unset' },
    resource,
  };
  if (parent && !isZero(parent)) result.parentSpanId = parent;
  if (traceState) result.traceState = traceState;
  if (statusMessage) result.status.message = statusMessage;
  if (scope) result.scope = scope;
  out.items.push(result);
}

/** InstrumentationScope { name 1, version 2 }: kept only with a name, as convertTraces does. */
function scopeOf(r: Reader, end: number): Span['scope'] {
  let name = '';
  let version = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LEN) name = r.string();
    else if (tag >>> 3 === 2 && (tag & 7) === LEN) version = r.string();
    else r.skip(tag & 7);
  }
  if (!name) return undefined;
  return version ? { name, version } : { name };
}

/** ExportTraceServiceRequest bytes → spans (and rejections), as convertTraces(decode(bytes)) would give. */
export function decodeTraceRequest(bytes: Uint8Array, limits: ItemLimits = DEFAULT_LIMITS): Converted<Span> {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf);
  const out: Converted<Span> = { items: [], rejected: 0, errors: [] };
  const cx = new Limits(limits);
  let i = -1;
  while (r.pos < buf.length) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1 || (tag & 7) !== LEN) {
      r.skip(tag & 7);
      continue;
    }
    i++;
    // ResourceSpans { resource 1, scope_spans 2 }. The resource may come after its spans on the wire.
    const rsEnd = r.end();
    let resource: Attributes = {};
    const scopeSpans: Array<[number, number]> = [];
    while (r.pos < rsEnd) {
      const t = r.uint32();
      if (t >>> 3 === 1 && (t & 7) === LEN) {
        const resEnd = r.end();
        try {
          resource = attributesOf(r, resEnd, 1, cx);
        } catch (error) {
          throw at(at(error, 'resource'), `resourceSpans[${i}]`);
        }
      } else if (t >>> 3 === 2 && (t & 7) === LEN) {
        const ssEnd = r.end();
        scopeSpans.push([r.pos, ssEnd]);
        r.pos = ssEnd;
      } else {
        r.skip(t & 7);
      }
    }
    if (r.pos !== rsEnd) throw new RangeError('resource_spans runs past its length');
    for (let j = 0; j < scopeSpans.length; j++) {
      const [start, ssEnd] = scopeSpans[j];
      // ScopeSpans { scope 1, spans 2 }: the scope, wherever it is, applies to every span.
      let scope: Span['scope'];
      const spans: Array<[number, number]> = [];
      r.pos = start;
      while (r.pos < ssEnd) {
        const t = r.uint32();
        if (t >>> 3 === 1 && (t & 7) === LEN) scope = scopeOf(r, r.end());
        else if (t >>> 3 === 2 && (t & 7) === LEN) {
          const spanEnd = r.end();
          spans.push([r.pos, spanEnd]);
          r.pos = spanEnd;
        } else r.skip(t & 7);
      }
      for (let k = 0; k < spans.length; k++) {
        r.pos = spans[k][0];
        try {
          span(r, spans[k][1], resource, scope, out, cx, i, j, k);
        } catch (error) {
          throw at(error, spanPath(i, j, k));
        }
      }
      r.pos = ssEnd;
    }
    r.pos = rsEnd;
  }
  if (r.pos !== buf.length) throw new RangeError('request runs past its end');
  setTruncation(out, cx.droppedAttributes, cx.cutValues);
  return out;
}
