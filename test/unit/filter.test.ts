import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { of, lastValueFrom, toArray } from 'rxjs';
import { filterOperator } from '../../src/processors/filter/filter.js';
import { anyOf, attributesMatcher, compilePattern } from '../../src/util/match.js';
import { validateFilterConfig, type FilterConfig } from '../../src/processors/filter/config.js';
import { loadConfig } from '../../src/config/load.js';
import { ScopeError } from '../../src/util/errors.js';
import type { Attributes, Batch, MetricPoint, ScopeEvent, Span, StatusCode } from '../../src/model/types.js';

const ev = (type: string, node = 'app@host', attributes: Attributes = {}): ScopeEvent => ({
  id: `${type}@${node}`, type, schemaVersion: 1, time: 1n, source: { node, component: 'c' }, pid: '<0.1.0>', attributes,
});
const span = (name: string, service: string | undefined, code: StatusCode = 'unset', attributes: Attributes = {}): Span => ({
  traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name, spanKind: 'server',
  startTimeUnixNano: 1n, endTimeUnixNano: 2n, attributes, events: [], links: [], status: { code },
  resource: service === undefined ? {} : { 'service.name': service },
});
const metric = (name: string, attributes: Attributes = {}): MetricPoint => ({
  name, type: 'gauge', timeUnixNano: 1n, value: 1, attributes, resource: {},
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const sample = (): Batch => ({
  events: [
    ev('message.send', 'app@host', { 'beam.peer_pid': '<0.2.0>', 'beam.message': 'ping' }),
    ev('message.receive', 'app@host', { 'beam.message': 'pong' }),
    ev('scheduler.in', 'app@host'),
    ev('gc.minor_start', 'db@host'),
    ev('process.exit', 'db@host', { 'beam.reason': 'killed', exit_code: 137, crashed: true }),
  ],
  spans: [
    span('GET /users/:id', 'shop', 'ok', { 'http.status_code': 200 }),
    span('GET /health', 'shop', 'unset'),
    span('POST /orders', 'checkout', 'error', { 'http.status_code': 500 }),
    span('Ecto.Repo.query', undefined),
  ],
  metrics: [
    metric('beam.process.message_queue_len', { 'beam.pid': '<0.90.0>' }),
    metric('beam.memory.total'),
    metric('http.server.duration', { route: '/users/:id' }),
  ],
});

const noRules = (): FilterConfig => ({ events: {}, spans: {}, metrics: {} });

/** Runs one frozen batch through the filter; returns what came out and every countDropped call. */
async function run(config: Partial<FilterConfig>, input: Batch = sample()) {
  const drops: Array<[number, string]> = [];
  deepFreeze(input);
  const [out] = await lastValueFrom(
    of(input).pipe(filterOperator({ ...noRules(), ...config }, { countDropped: (n, reason) => drops.push([n, reason]) }), toArray()),
  );
  return { input, out, drops };
}

const eventTypes = (b: Batch) => b.events.map((e) => e.type);
const spanNames = (b: Batch) => b.spans.map((s) => s.name);
const metricNames = (b: Batch) => b.metrics.map((m) => m.name);

describe('compilePattern / anyOf / attributesMatcher', () => {
  const cases: Array<[string, string, boolean]> = [
    ['message.send', 'message.send', true],
    ['message.send', 'message.sendx', false],
    ['message.*', 'message.receive', true],
    ['message.*', 'messageXreceive', false], // the dot is literal in a glob
    ['*.stop', 'telemetry.phoenix.endpoint.stop', true],
    ['gc.*_start', 'gc.minor_start', true],
    ['gc.*_start', 'gc.minor_end', false],
    ['/^(scheduler|gc)\\./', 'gc.major_start', true],
    ['/^(scheduler|gc)\\./', 'process.gc.x', false],
    ['/end/', 'telemetry.endpoint', true], // unanchored regex
    ['a+b', 'a+b', true], // regex characters are literal outside /…/
    ['a+b', 'aab', false],
    ['/', '/', true],
  ];
  for (const [pattern, value, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${value}`, () => {
      assert.equal(compilePattern(pattern)(value), expected);
      assert.equal(anyOf([pattern])(value), expected);
    });
  }

  it('anyOf matches when any one pattern does', () => {
    const m = anyOf(['process.exit', 'gc.*', '/^scheduler\\./']);
    assert.deepEqual(['process.exit', 'gc.minor_start', 'scheduler.out', 'process.spawn'].map(m), [true, true, true, false]);
  });

  it('attributesMatcher needs every condition, compares non-strings exactly', () => {
    const m = attributesMatcher({ 'beam.reason': 'kill*', exit_code: 137, crashed: true });
    assert.equal(m({ 'beam.reason': 'killed', exit_code: 137, crashed: true }), true);
    assert.equal(m({ 'beam.reason': 'killed', exit_code: '137', crashed: true }), false);
    assert.equal(m({ 'beam.reason': 'killed', exit_code: 137 }), false);
    assert.equal(m({ 'beam.reason': 'normal', exit_code: 137, crashed: true }), false);
    assert.equal(attributesMatcher({ code: '/^5\\d\\d$/' })({ code: 503 }), true, 'string patterns see numbers as text');
    assert.equal(attributesMatcher({ k: '*' })({ k: { nested: 1 } }), false, 'objects never match a string pattern');
    assert.equal(attributesMatcher({ k: '*' })({}), false, 'a missing attribute never matches');
  });

  it('throws a readable error for an invalid regex', () => {
    assert.throws(() => compilePattern('/[a/'), /invalid regular expression \/\[a\//);
  });
});

describe('filterOperator', () => {
  const cases: Array<{ name: string; config: Partial<FilterConfig>; events?: string[]; spans?: string[]; metrics?: string[] }> = [
    { name: 'events exclude by glob', config: { events: { exclude: { types: ['scheduler.*', 'gc.*'] } } }, events: ['message.send', 'message.receive', 'process.exit'] },
    { name: 'events include by glob', config: { events: { include: { types: ['message.*'] } } }, events: ['message.send', 'message.receive'] },
    { name: 'events include by regex', config: { events: { include: { types: ['/^(gc|process)\\./'] } } }, events: ['gc.minor_start', 'process.exit'] },
    { name: 'events include by node', config: { events: { include: { nodes: ['db@*'] } } }, events: ['gc.minor_start', 'process.exit'] },
    { name: 'events include by attribute', config: { events: { include: { attributes: { 'beam.message': 'p*ng' } } } }, events: ['message.send', 'message.receive'] },
    { name: 'events include by non-string attributes', config: { events: { include: { attributes: { exit_code: 137, crashed: true } } } }, events: ['process.exit'] },
    {
      name: 'events include and exclude together',
      config: { events: { include: { types: ['message.*', 'process.*'] }, exclude: { attributes: { 'beam.message': 'pong' } } } },
      events: ['message.send', 'process.exit'],
    },
    {
      name: 'events: every field of a block must match',
      config: { events: { exclude: { types: ['*'], nodes: ['db@host'] } } },
      events: ['message.send', 'message.receive', 'scheduler.in'],
    },
    { name: 'spans include by name', config: { spans: { include: { names: ['GET *'] } } }, spans: ['GET /users/:id', 'GET /health'] },
    { name: 'spans exclude by service', config: { spans: { exclude: { services: ['shop'] } } }, spans: ['POST /orders', 'Ecto.Repo.query'] },
    { name: 'spans include by status', config: { spans: { include: { status: ['error', 'ok'] } } }, spans: ['GET /users/:id', 'POST /orders'] },
    { name: 'spans exclude by attribute regex', config: { spans: { exclude: { attributes: { 'http.status_code': '/^5/' } } } }, spans: ['GET /users/:id', 'GET /health', 'Ecto.Repo.query'] },
    { name: 'metrics include by name', config: { metrics: { include: { names: ['beam.*'] } } }, metrics: ['beam.process.message_queue_len', 'beam.memory.total'] },
    { name: 'metrics exclude by attribute', config: { metrics: { exclude: { attributes: { route: '/users/*' } } } }, metrics: ['beam.process.message_queue_len', 'beam.memory.total'] },
  ];

  for (const c of cases) {
    it(`keeps the right items: ${c.name}`, async () => {
      const all = sample();
      const { out, drops } = await run(c.config);
      const expectEvents = c.events ?? eventTypes(all);
      const expectSpans = c.spans ?? spanNames(all);
      const expectMetrics = c.metrics ?? metricNames(all);
      assert.deepEqual(eventTypes(out), expectEvents);
      assert.deepEqual(spanNames(out), expectSpans);
      assert.deepEqual(metricNames(out), expectMetrics);
      const dropped = eventTypes(all).length - expectEvents.length + spanNames(all).length - expectSpans.length + metricNames(all).length - expectMetrics.length;
      assert.deepEqual(drops, [[dropped, 'filtered']]);
    });
  }

  it('counts drops across all three signals in one call', async () => {
    const { out, drops } = await run({
      events: { include: { types: ['message.send'] } },
      spans: { exclude: { status: ['unset'] } },
      metrics: { exclude: { names: ['http.*'] } },
    });
    assert.deepEqual([out.events.length, out.spans.length, out.metrics.length], [1, 2, 2]);
    assert.deepEqual(drops, [[4 + 2 + 1, 'filtered']]);
  });

  it('passes the batch itself on, uncounted, when nothing is dropped', async () => {
    const { input, out, drops } = await run({ events: { exclude: { types: ['nothing.matches'] } } });
    assert.equal(out, input);
    assert.deepEqual(drops, []);
  });

  it('passes everything with no rules', async () => {
    const { input, out, drops } = await run({});
    assert.equal(out, input);
    assert.deepEqual(drops, []);
  });

  it('does not mutate its (frozen) input and keeps untouched arrays', async () => {
    const before = sample();
    const { input, out } = await run({ events: { exclude: { types: ['*'] } } }, sample());
    assert.deepEqual(input, before, 'input unchanged');
    assert.notEqual(out.events, input.events);
    assert.equal(out.events.length, 0);
    assert.equal(out.spans, input.spans, 'spans passed through untouched');
    assert.equal(out.metrics, input.metrics);
  });

  it('filters every batch of a stream', async () => {
    const drops: number[] = [];
    const out = await lastValueFrom(
      of(sample(), sample()).pipe(filterOperator({ ...noRules(), events: { include: { types: ['process.*'] } } }, { countDropped: (n) => drops.push(n) }), toArray()),
    );
    assert.deepEqual(out.map(eventTypes), [['process.exit'], ['process.exit']]);
    assert.deepEqual(drops, [4, 4]);
  });
});

describe('validateFilterConfig', () => {
  it('accepts valid patterns', () => {
    assert.deepEqual(validateFilterConfig({ ...noRules(), events: { include: { types: ['a.*', '/^b\\./'], attributes: { k: '/x+/', n: 1 } } } }), []);
  });

  it('reports invalid regexes with their paths', () => {
    const problems = validateFilterConfig({
      events: { exclude: { types: ['ok.*', '/[unclosed/'] } },
      spans: { include: { attributes: { 'http.route': '/(/' } } },
      metrics: { include: { names: ['/*/'] } },
    });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems[0], /^events\.exclude\.types\[1\]: invalid regular expression \/\[unclosed\//);
    assert.match(problems[1], /^spans\.include\.attributes\.http\.route: invalid regular expression/);
    assert.match(problems[2], /^metrics\.include\.names\[0\]: invalid regular expression/);
  });

  it('is applied by config validation, with the component path', () => {
    const yaml = `
receivers: { jsonl: { path: a } }
processors:
  filter/x:
    events:
      include:
        types: ["/(/"]
exporters: { debug: }
service: { pipelines: { p: { receivers: [jsonl], processors: [filter/x], exporters: [debug] } } }
`;
    assert.throws(() => loadConfig({ yaml: [yaml], env: {} }), (error: unknown) => {
      assert.ok(error instanceof ScopeError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.equal(error.problems.length, 1);
      assert.match(error.problems[0], /^processors\.filter\/x\.events\.include\.types\[0\]: invalid regular expression \/\(\//);
      return true;
    });
  });

  it('rejects an empty rule block through the schema', () => {
    const yaml = `
receivers: { jsonl: { path: a } }
processors: { filter: { spans: { include: {} } } }
exporters: { debug: }
service: { pipelines: { p: { receivers: [jsonl], processors: [filter], exporters: [debug] } } }
`;
    assert.throws(() => loadConfig({ yaml: [yaml], env: {} }), (error: unknown) =>
      error instanceof ScopeError && error.problems.some((p) => p.startsWith('processors.filter.spans.include: ')));
  });
});
