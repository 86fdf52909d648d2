import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, eventToJson, metricToJson, parseJsonLine, spanToJson } from '../../src/model/jsonl.js';
import type { MetricPoint, ScopeEvent, Span } from '../../src/model/types.js';

// Above 2^53, so a lossy number conversion anywhere would show.
const T = 1_764_000_000_123_456_789n;

const fullEvent: ScopeEvent = {
  id: 'ev-1',
  type: 'message.send',
  schemaVersion: 1,
  time: T,
  source: { node: 'app@host', app: 'shop', component: 'beam_trace_port' },
  pid: '<0.80.0>',
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'eee19b7ec3c1b174',
  causationId: 'ev-0',
  attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': '{ping,<0.80.0>}', n: 3, ok: true, list: [1, 'a'], nested: { k: null } },
  body: { text: 'hello' },
  resource: { 'service.name': 'shop' },
};

const minimalEvent: ScopeEvent = {
  id: 'ev-2',
  type: 'custom.x',
  schemaVersion: 1,
  time: 0n,
  source: { node: 'n', component: 'c' },
  attributes: {},
};

const fullSpan: Span = {
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'eee19b7ec3c1b174',
  parentSpanId: 'eee19b7ec3c1b173',
  traceState: 'k=v',
  name: 'GET /users/:id',
  spanKind: 'server',
  startTimeUnixNano: T,
  endTimeUnixNano: T + 1_500_000n,
  attributes: { 'http.route': '/users/:id', 'http.status_code': 500 },
  events: [{ name: 'exception', timeUnixNano: T + 10n, attributes: { 'exception.type': 'RuntimeError' } }],
  links: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceState: 'a=b', attributes: { why: 'retry' } }],
  status: { code: 'error', message: 'boom' },
  resource: { 'service.name': 'shop' },
  scope: { name: 'scope_beam', version: '0.1.0' },
};

const minimalSpan: Span = {
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'eee19b7ec3c1b174',
  name: 'root',
  spanKind: 'internal',
  startTimeUnixNano: 1n,
  endTimeUnixNano: 2n,
  attributes: {},
  events: [],
  links: [],
  status: { code: 'unset' },
  resource: {},
};

const gauge: MetricPoint = {
  name: 'beam.process.message_queue_len',
  type: 'gauge',
  timeUnixNano: T,
  value: 12,
  attributes: { 'beam.pid': '<0.90.0>' },
  resource: {},
};

const histogram: MetricPoint = {
  name: 'http.server.duration',
  type: 'histogram',
  unit: 'ms',
  description: 'request time',
  timeUnixNano: T,
  startTimeUnixNano: T - 60_000_000_000n,
  value: 42.5,
  histogram: { count: 3, sum: 42.5, explicitBounds: [10, 100], bucketCounts: [1, 2, 0], min: 1.5, max: 30 },
  attributes: {},
  resource: { 'service.name': 'shop' },
};

const monotonicSum: MetricPoint = { ...gauge, name: 'beam.reductions', type: 'sum', monotonic: true, value: 1e9 };

describe('JSON lines: round trips', () => {
  const items: Array<[string, 'event' | 'span' | 'metric', ScopeEvent | Span | MetricPoint, string]> = [
    ['a full event', 'event', fullEvent, eventToJson(fullEvent)],
    ['a minimal event', 'event', minimalEvent, eventToJson(minimalEvent)],
    ['a full span', 'span', fullSpan, spanToJson(fullSpan)],
    ['a minimal span', 'span', minimalSpan, spanToJson(minimalSpan)],
    ['a gauge', 'metric', gauge, metricToJson(gauge)],
    ['a histogram', 'metric', histogram, metricToJson(histogram)],
    ['a monotonic sum', 'metric', monotonicSum, metricToJson(monotonicSum)],
  ];
  for (const [name, kind, item, line] of items) {
    it(`${name} comes back equal, bigints restored`, () => {
      assert.ok(!line.includes('\n'), 'one line');
      const parsed = parseJsonLine(line);
      assert.equal(parsed.kind, kind);
      assert.deepEqual(parsed.item, item);
    });
  }

  it('writes the kind first, ids as hex strings and times as decimal strings', () => {
    const event = JSON.parse(eventToJson(fullEvent));
    assert.equal(Object.keys(event)[0], 'kind');
    assert.equal(event.kind, 'event');
    assert.equal(event.time, T.toString());
    assert.equal(event.traceId, fullEvent.traceId);

    const span = JSON.parse(spanToJson(fullSpan));
    assert.equal(span.kind, 'span');
    assert.equal(span.startTimeUnixNano, '1764000000123456789');
    assert.equal(span.endTimeUnixNano, (T + 1_500_000n).toString());
    assert.equal(span.events[0].timeUnixNano, (T + 10n).toString());
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.match(span.spanId, /^[0-9a-f]{16}$/);

    const metric = JSON.parse(metricToJson(histogram));
    assert.equal(metric.kind, 'metric');
    assert.equal(metric.timeUnixNano, T.toString());
    assert.equal(metric.startTimeUnixNano, (T - 60_000_000_000n).toString());
    assert.equal(typeof metric.value, 'number');
  });

  it('does not modify the item it writes', () => {
    const copy = structuredClone(fullSpan);
    spanToJson(fullSpan);
    assert.deepEqual(fullSpan, copy);
  });

  it('fills defaults for optional span and metric fields', () => {
    const span = parseJsonLine('{"kind":"span","traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}');
    assert.deepEqual(span.item, { ...minimalSpan, name: 'x' });
    const metric = parseJsonLine('{"kind":"metric","name":"m","type":"gauge","timeUnixNano":"5"}');
    assert.deepEqual(metric.item, { name: 'm', type: 'gauge', timeUnixNano: 5n, value: 0, attributes: {}, resource: {} });
    const event = parseJsonLine('{"kind":"event","id":"e","type":"custom.x","schemaVersion":1,"time":"7","source":{"node":"n","component":"c"}}');
    assert.deepEqual((event.item as ScopeEvent).attributes, {});
    assert.equal((event.item as ScopeEvent).time, 7n);
  });
});

describe('JSON lines: malformed lines', () => {
  const span = JSON.parse(spanToJson(minimalSpan));
  const metric = JSON.parse(metricToJson(gauge));
  const event = JSON.parse(eventToJson(minimalEvent));
  const line = (o: Record<string, unknown>): string => JSON.stringify(o);

  const cases: Array<[string, string, string]> = [
    ['bad JSON', '{"kind":"event",', ''],
    ['an empty line', '', ''],
    ['a JSON array', '[1,2]', ''],
    ['a JSON string', '"event"', ''],
    ['a missing kind', line({ ...event, kind: undefined }), '/kind'],
    ['an unknown kind', line({ ...event, kind: 'log' }), '/kind'],
    ['an event time that is a number', line({ ...event, time: 7 }), '/time'],
    ['an event time that is not decimal', line({ ...event, time: '0x10' }), '/time'],
    ['an event without time', line({ ...event, time: undefined }), '/time'],
    ['a bad traceId', line({ ...span, traceId: 'XYZ' }), '/traceId'],
    ['an upper-case spanId', line({ ...span, spanId: 'EEE19B7EC3C1B174' }), '/spanId'],
    ['a missing span name', line({ ...span, name: undefined }), '/name'],
    ['a span start time that is a number', line({ ...span, startTimeUnixNano: 1 }), '/startTimeUnixNano'],
    ['a bad spanKind', line({ ...span, spanKind: 'sideways' }), '/spanKind'],
    ['a bad link traceId', line({ ...span, links: [{ traceId: 'x', spanId: 'eee19b7ec3c1b174' }] }), '/links/0/traceId'],
    ['a metric time that is not a string', line({ ...metric, timeUnixNano: 5 }), '/timeUnixNano'],
    ['a bad metric type', line({ ...metric, type: 'histogramm' }), '/type'],
    ['a metric value that is a string', line({ ...metric, value: '12' }), '/value'],
  ];
  for (const [name, text, path] of cases) {
    it(`throws DecodeError at ${JSON.stringify(path)} for ${name}`, () => {
      assert.throws(() => parseJsonLine(text), (error: unknown) => {
        assert.ok(error instanceof DecodeError, `got ${String(error)}`);
        assert.equal(error.path, path);
        assert.equal(error.name, 'DecodeError');
        if (path) assert.ok(error.message.startsWith(`${path}: `), error.message);
        return true;
      });
    });
  }
});

describe('JSON lines: bytes attributes', () => {
  it('write bytes as {"$bytes": base64} and read them back as Uint8Array', () => {
    const e: ScopeEvent = {
      id: 'b', type: 'custom.bytes', schemaVersion: 1, time: 1n, source: { node: 'n', component: 'c' },
      attributes: { raw: new Uint8Array([1, 2, 255]), buf: Buffer.from([9]), plain: { $bytes: 'x', other: 1 } },
    };
    const line = eventToJson(e);
    assert.match(line, /"raw":\{"\$bytes":"AQL\/"\}/);
    assert.match(line, /"buf":\{"\$bytes":"CQ=="\}/);
    const back = parseJsonLine(line);
    assert.equal(back.kind, 'event');
    assert.deepEqual(back.item.attributes.raw, new Uint8Array([1, 2, 255]));
    assert.deepEqual(back.item.attributes.buf, new Uint8Array([9]));
    assert.deepEqual(back.item.attributes.plain, { $bytes: 'x', other: 1 }, 'only a lone $bytes key means bytes');
  });
});
