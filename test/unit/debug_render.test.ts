import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readableLines, Tally } from '../../src/exporters/debug/readable.js';
import { formatNanos, renderBatch } from '../../src/exporters/debug/render.js';
import { parseJsonLine } from '../../src/model/jsonl.js';
import type { Batch, MetricPoint, ScopeEvent, Span } from '../../src/model/types.js';

const T = 1_764_000_000_123_456_789n;

const event: ScopeEvent = {
  id: 'ev-1', type: 'message.send', schemaVersion: 1, time: T,
  source: { node: 'app@host', component: 'beam_trace_port' }, pid: '<0.80.0>',
  attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': '{ping,<0.80.0>}', n: 3 },
};
const span: Span = {
  traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', parentSpanId: 'eee19b7ec3c1b173',
  name: 'GET /users/:id', spanKind: 'server', startTimeUnixNano: T, endTimeUnixNano: T + 1_500_000n,
  attributes: { 'http.route': '/users/:id' }, events: [{ name: 'e', timeUnixNano: T + 1n, attributes: {} }], links: [],
  status: { code: 'error', message: 'boom' }, resource: { 'service.name': 'shop' },
};
const metric: MetricPoint = {
  name: 'beam.process.message_queue_len', type: 'gauge', unit: '{message}', timeUnixNano: T, value: 12,
  attributes: { 'beam.pid': '<0.90.0>' }, resource: {},
};
const batch: Batch = { events: [event, { ...event, id: 'ev-2', type: 'process.exit', attributes: {} }], spans: [span], metrics: [metric] };
const itemCount = batch.events.length + batch.spans.length + batch.metrics.length;

describe('formatNanos', () => {
  const cases: Array<[bigint, string]> = [
    [0n, '1970-01-01T00:00:00.000000000Z'],
    [1n, '1970-01-01T00:00:00.000000001Z'],
    [999_999_999n, '1970-01-01T00:00:00.999999999Z'],
    [1_000_000_000n, '1970-01-01T00:00:01.000000000Z'],
    [T, `${new Date(Number(T / 1_000_000_000n) * 1000).toISOString().slice(0, 19)}.123456789Z`],
  ];
  for (const [ns, expected] of cases) {
    it(`renders ${ns} as ${expected}`, () => {
      assert.equal(formatNanos(ns), expected);
    });
  }

  it('keeps every nanosecond digit that a millisecond Date would lose', () => {
    const a = formatNanos(T);
    const b = formatNanos(T + 1n);
    assert.notEqual(a, b);
    assert.match(a, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(Date.parse(a.replace(/\.\d{9}Z$/, '.123Z')), Number(T / 1_000_000n));
  });
});

describe('renderBatch json', () => {
  const text = renderBatch(batch, 'json', 'normal');
  const lines = text.split('\n');

  it('writes one line per item, ending in a newline', () => {
    assert.ok(text.endsWith('\n'));
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, itemCount);
  });

  it('writes lines that parse back to the same items, events then spans then metrics', () => {
    const parsed = text.trimEnd().split('\n').map(parseJsonLine);
    assert.deepEqual(parsed.map((p) => p.kind), ['event', 'event', 'span', 'metric']);
    assert.deepEqual(parsed.map((p) => p.item), [...batch.events, ...batch.spans, ...batch.metrics]);
  });

  it('ignores verbosity', () => {
    assert.equal(renderBatch(batch, 'json', 'detailed'), text);
  });
});

describe('renderBatch text', () => {
  it('normal writes one line per item with its essentials', () => {
    const text = renderBatch(batch, 'text', 'normal');
    assert.ok(text.endsWith('\n'));
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, itemCount);
    const stamp = formatNanos(T);

    assert.ok(lines[0].startsWith(`${stamp} event message.send app@host <0.80.0> `), lines[0]);
    assert.ok(lines[0].includes('beam.peer_pid=<0.81.0>'), lines[0]);
    assert.ok(lines[0].includes('beam.message={ping,<0.80.0>}'), lines[0]);
    assert.ok(lines[0].includes('n=3'), lines[0]);
    assert.equal(lines[1], `${stamp} event process.exit app@host <0.80.0>`);

    assert.ok(lines[2].startsWith(`${stamp} span "GET /users/:id" server 1.500ms `), lines[2]);
    for (const part of [`trace=${span.traceId}`, `span=${span.spanId}`, `parent=${span.parentSpanId}`, 'status=error(boom)', 'service=shop', 'http.route=/users/:id']) {
      assert.ok(lines[2].includes(part), `${part} in ${lines[2]}`);
    }

    assert.equal(lines[3], `${stamp} metric beam.process.message_queue_len gauge 12 {message} beam.pid=<0.90.0>`);
  });

  it('detailed writes every field as indented JSON', () => {
    const text = renderBatch({ events: [event], spans: [], metrics: [] }, 'text', 'detailed');
    assert.ok(text.split('\n').length > 3, 'several lines for one item');
    const parsed = JSON.parse(text);
    assert.equal(parsed.kind, 'event');
    assert.equal(parsed.time, T.toString());
    assert.deepEqual(parsed.attributes, event.attributes);
  });

  it('writes nothing for an empty batch', () => {
    for (const format of ['text', 'json'] as const) {
      for (const verbosity of ['normal', 'detailed'] as const) {
        assert.equal(renderBatch({ events: [], spans: [], metrics: [] }, format, verbosity), '');
      }
    }
  });
});

describe('readable text (verbosity basic)', () => {
  const crash: ScopeEvent = {
    id: 'c1', type: 'process.crash', schemaVersion: 1, time: T, source: { node: 'app@host', component: 'correlation' }, pid: '<0.95.0>',
    attributes: {
      'beam.registered_name': 'Elixir.Shop.Cart', 'beam.reason': '{badarg,[]}', 'scope.crash.root_cause': true,
      'scope.crash.poison_message': '{remove,1}', 'scope.crash.poison_sender': '<0.80.0>',
      'scope.crash.stack': ['Shop.Cart.handle_call/3 (lib/cart.ex:12)', 'gen_server:try_handle_call/4 (gen_server.erl:1149)', 'x'],
      'scope.crash.restarts': [{ supervisor: '<0.70.0>', old_pid: '<0.95.0>', new_pid: '<0.99.0>' }],
      'scope.crash.died_next': [{ pid: '<0.96.0>' }],
    },
  };
  const anomaly: ScopeEvent = {
    id: 'a1', type: 'anomaly.detected', schemaVersion: 1, time: T, source: { node: 'app@host', component: 'anomaly' },
    attributes: { 'anomaly.kind': 'latency', 'anomaly.key': 'shop GET /', 'anomaly.score': 2.5, 'anomaly.observed': 900, 'anomaly.expected': 40 },
  };
  const stamp = formatNanos(T).slice(0, 23).replace('T', ' ');

  it('shows a crash as a block, an anomaly and the root and error spans as lines; counts the rest', () => {
    const tally = new Tally();
    const inner: Span = { ...span, spanId: 'aaaaaaaaaaaaaaaa', status: { code: 'ok' } };
    const root: Span = { ...span, parentSpanId: undefined, status: { code: 'unset' } };
    const lines = readableLines({ events: [event, crash, anomaly, event], spans: [inner, root, span], metrics: [metric, metric] }, tally);
    assert.deepEqual(lines, [
      `${stamp}  CRASH  <0.95.0> (Shop.Cart) on app@host`,
      '    reason     {badarg,[]}',
      '    poison     {remove,1} from <0.80.0>',
      '    where      Shop.Cart.handle_call/3 (lib/cart.ex:12)',
      '    restarted  by <0.70.0> as <0.99.0>',
      '    took down  1 more process',
      '    story      scope-pipeline inspect crash <0.95.0>',
      `${stamp}  ANOMALY  latency  shop GET / score 2.50 (observed 900, expected 40)`,
      `${stamp}  span  GET /users/:id  1.5 ms  shop  trace ${span.traceId.slice(0, 8)}`,
      `${stamp}  span  GET /users/:id  1.5 ms  shop  trace ${span.traceId.slice(0, 8)}  ERROR boom`,
    ]);
    const summary = tally.take(Number(T / 1_000_000n));
    assert.equal(summary, `${' '.repeat(23)}  … since ${formatNanos(T).slice(11, 19)}: 2 events, 1 inner spans, 2 metric points (message.send 2)`);
    assert.equal(tally.empty, true, 'cleared once written');
  });

  it('keeps every line within 100 columns', () => {
    const long: ScopeEvent = { ...crash, attributes: { ...crash.attributes, 'beam.reason': 'x'.repeat(500), 'scope.crash.poison_message': 'y\n'.repeat(300) } };
    const lines = readableLines({ events: [long], spans: [{ ...span, name: 'n'.repeat(300) }], metrics: [] }, new Tally());
    for (const line of lines) assert.ok([...line].length <= 100, line);
    assert.ok(lines.every((l) => !l.includes('\n')));
    // A short value with a line break is one line too (it used to keep the break when not cut).
    const short = readableLines({ events: [{ ...crash, attributes: { ...crash.attributes, 'beam.reason': '{badarg,\n[x]}' } }], spans: [], metrics: [] }, new Tally());
    assert.ok(short.includes('    reason     {badarg, [x]}'), short.join('\n'));
  });
});
