/**
 * The AnyValue nesting limit for OTLP/protobuf logs and metrics requests,
 * checked on the wire before protobufjs decodes them (protobufjs recurses once
 * per nested message, up to its own recursion limit, and names no place). One
 * iterative pass over the message structure, with an explicit stack: any
 * nesting is walked without recursion, and a value nested deeper than
 * MAX_DEPTH is refused naming where, as the trace wire reader and the JSON
 * path do: `resourceLogs[0].scopeLogs[0].logRecords[3].attributes[2].value: nested deeper than 64`.
 * Every place an AnyValue can be is checked, scope attributes and exemplars included.
 */
import { MAX_DEPTH, tooDeep } from './limits.js';
import { LEN, Reader } from './wire_traces.js';

type Type =
  | 'LogsRequest' | 'ResourceLogs' | 'ScopeLogs' | 'LogRecord'
  | 'MetricsRequest' | 'ResourceMetrics' | 'ScopeMetrics' | 'Metric' | 'NumberPoints' | 'HistogramPoints' | 'ExpHistogramPoints' | 'SummaryPoints'
  | 'NumberDataPoint' | 'HistogramDataPoint' | 'ExpHistogramDataPoint' | 'SummaryDataPoint' | 'Exemplar'
  | 'Resource' | 'Scope' | 'KeyValue' | 'AnyValue' | 'ArrayValue' | 'KeyValueList';

/** field number → [message type, OTLP/JSON name, repeated]: only the fields that are messages on the way to an AnyValue. */
type Fields = Record<number, readonly [Type, string, boolean]>;

const SCHEMA: Record<Type, Fields> = {
  LogsRequest: { 1: ['ResourceLogs', 'resourceLogs', true] },
  ResourceLogs: { 1: ['Resource', 'resource', false], 2: ['ScopeLogs', 'scopeLogs', true] },
  ScopeLogs: { 1: ['Scope', 'scope', false], 2: ['LogRecord', 'logRecords', true] },
  LogRecord: { 5: ['AnyValue', 'body', false], 6: ['KeyValue', 'attributes', true] },
  MetricsRequest: { 1: ['ResourceMetrics', 'resourceMetrics', true] },
  ResourceMetrics: { 1: ['Resource', 'resource', false], 2: ['ScopeMetrics', 'scopeMetrics', true] },
  ScopeMetrics: { 1: ['Scope', 'scope', false], 2: ['Metric', 'metrics', true] },
  Metric: {
    5: ['NumberPoints', 'gauge', false],
    7: ['NumberPoints', 'sum', false],
    9: ['HistogramPoints', 'histogram', false],
    10: ['ExpHistogramPoints', 'exponentialHistogram', false],
    11: ['SummaryPoints', 'summary', false],
    12: ['KeyValue', 'metadata', true],
  },
  NumberPoints: { 1: ['NumberDataPoint', 'dataPoints', true] },
  HistogramPoints: { 1: ['HistogramDataPoint', 'dataPoints', true] },
  ExpHistogramPoints: { 1: ['ExpHistogramDataPoint', 'dataPoints', true] },
  SummaryPoints: { 1: ['SummaryDataPoint', 'dataPoints', true] },
  NumberDataPoint: { 5: ['Exemplar', 'exemplars', true], 7: ['KeyValue', 'attributes', true] },
  HistogramDataPoint: { 8: ['Exemplar', 'exemplars', true], 9: ['KeyValue', 'attributes', true] },
  ExpHistogramDataPoint: { 1: ['KeyValue', 'attributes', true], 11: ['Exemplar', 'exemplars', true] },
  SummaryDataPoint: { 7: ['KeyValue', 'attributes', true] },
  Exemplar: { 7: ['KeyValue', 'filteredAttributes', true] },
  Resource: { 1: ['KeyValue', 'attributes', true] },
  Scope: { 3: ['KeyValue', 'attributes', true] },
  KeyValue: { 2: ['AnyValue', 'value', false] },
  AnyValue: { 5: ['ArrayValue', 'arrayValue', false], 6: ['KeyValueList', 'kvlistValue', false] },
  ArrayValue: { 1: ['AnyValue', 'values', true] },
  KeyValueList: { 1: ['KeyValue', 'values', true] },
};

interface Frame {
  type: Type;
  end: number;
  /** AnyValue nesting: of this value (AnyValue), of the values inside (ArrayValue, KeyValueList, KeyValue); 0 elsewhere. */
  depth: number;
  segment: string;
  /** Occurrences so far of each repeated field, for the indices in the path. */
  counts?: Record<number, number>;
}

const NESTED = new Set<Type>(['ArrayValue', 'KeyValueList', 'KeyValue']);

/** Throws an InvalidRequest naming where a value is nested deeper than MAX_DEPTH; a RangeError when the encoding is broken. */
export function checkNesting(signal: 'logs' | 'metrics', bytes: Uint8Array): void {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf);
  const stack: Frame[] = [{ type: signal === 'logs' ? 'LogsRequest' : 'MetricsRequest', end: buf.length, depth: 0, segment: '' }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (r.pos >= frame.end) {
      if (r.pos !== frame.end) throw new RangeError(`${frame.type} runs past its length`);
      stack.pop();
      continue;
    }
    const tag = r.uint32();
    const wire = tag & 7;
    const child = wire === LEN ? SCHEMA[frame.type][tag >>> 3] : undefined;
    if (!child) {
      r.skip(wire);
      continue;
    }
    const end = r.end();
    const [type, name, repeated] = child;
    let segment = name;
    if (repeated) {
      const counts = (frame.counts ??= {});
      const n = counts[tag >>> 3] ?? 0;
      counts[tag >>> 3] = n + 1;
      segment = `${name}[${n}]`;
    }
    const depth = frame.type === 'AnyValue' ? frame.depth + 1 : NESTED.has(frame.type) ? frame.depth : 0;
    if (type === 'AnyValue' && depth > MAX_DEPTH) throw located(stack);
    stack.push({ type, end, depth, segment });
  }
}

/** The error for the stack's top-level attribute value (or body): the path down to it, as the other paths name it. */
function located(stack: Frame[]): Error {
  const segments: string[] = [];
  for (let i = 1; i < stack.length; i++) {
    segments.push(stack[i].segment);
    if (stack[i].type === 'AnyValue') break;
  }
  const error = tooDeep();
  for (let i = segments.length - 1; i >= 0; i--) error.at(segments[i]);
  return error;
}
