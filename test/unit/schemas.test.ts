import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { builtinEventSchemas, EventSchemaRegistry } from '../../src/model/schemas.js';
import type { ScopeEvent } from '../../src/model/types.js';
import { ScopeError } from '../../src/util/errors.js';

/** A valid-envelope event; overriding a field with undefined leaves it out. */
function event(type: string, overrides: Partial<ScopeEvent> = {}): ScopeEvent {
  const e: ScopeEvent = {
    id: `ev-${type}`,
    type,
    schemaVersion: 1,
    time: 1_764_000_000_000_000_000n,
    source: { node: 'app@host', component: 'test' },
    pid: '<0.80.0>',
    attributes: {},
    ...overrides,
  };
  for (const [k, v] of Object.entries(e)) if (v === undefined) delete (e as unknown as Record<string, unknown>)[k];
  return e;
}

/** A copy of `e` without `key` at the top level or in attributes. */
function without(e: ScopeEvent, key: string): ScopeEvent {
  const copy = structuredClone(e);
  if (key in copy.attributes) delete copy.attributes[key];
  else delete (copy as unknown as Record<string, unknown>)[key];
  return copy;
}

describe('EventSchemaRegistry: valid events of each family', () => {
  const registry = new EventSchemaRegistry();
  const valid: ScopeEvent[] = [
    event('process.spawn', { attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.mfa': 'm:f/0' } }),
    event('process.exit', { attributes: { 'beam.reason': 'normal' } }),
    event('process.crash'),
    event('message.send', { attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': '{ping,<0.80.0>}' } }),
    event('message.receive', { attributes: { 'beam.message': 'pong' } }),
    event('message.send_to_dead'),
    event('function.call', { attributes: { 'beam.mfa': 'lists:reverse/1' } }),
    event('function.exception', { attributes: { 'beam.mfa': 'm:f/1', 'beam.reason': 'badarg' } }),
    event('state.change', { attributes: { 'beam.state': '#{}' } }),
    event('telemetry.phoenix.endpoint.stop', { pid: undefined, attributes: { duration: 1200 } }),
    event('scheduler.in'),
    event('gc.minor_start'),
    event('port.open'),
    event('seq_trace.send'),
    event('trace.dropped', { pid: undefined, attributes: { count: 10 } }),
    event('otel.log', { pid: undefined, body: 'hello', resource: { 'service.name': 'shop' } }),
    event('anomaly.detected', { pid: undefined }),
    event('custom.anything', { pid: undefined, attributes: { nested: { a: [1, 2] }, n: 1, ok: true } }),
    event('message.send', {
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      causationId: 'ev-0',
      source: { node: 'app@host', app: 'shop', component: 'beam_trace_port' },
      attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': 'x' },
    }),
  ];
  for (const e of valid) {
    it(`accepts ${e.type}`, () => {
      assert.equal(registry.validate(e), null);
    });
  }

  it('lists every built-in family', () => {
    assert.deepEqual(registry.list().map((d) => `${d.name}.v${d.version}`), builtinEventSchemas.map((d) => `${d.name}.v${d.version}`));
  });
});

describe('EventSchemaRegistry: rejections', () => {
  const registry = new EventSchemaRegistry();
  const send = event('message.send', { attributes: { 'beam.peer_pid': '<0.81.0>', 'beam.message': 'x' } });
  const call = event('function.call', { attributes: { 'beam.mfa': 'm:f/0' } });

  const cases: Array<{ name: string; event: ScopeEvent; schema: string; path: string; message?: RegExp }> = [
    { name: 'message.send without beam.peer_pid', event: without(send, 'beam.peer_pid'), schema: 'message_flow.v1', path: '/attributes/beam.peer_pid', message: /is required/ },
    { name: 'message.send without beam.message', event: without(send, 'beam.message'), schema: 'message_flow.v1', path: '/attributes/beam.message' },
    { name: 'message.receive without beam.message', event: event('message.receive'), schema: 'message_flow.v1', path: '/attributes/beam.message' },
    { name: 'message.send without pid', event: without(send, 'pid'), schema: 'message_flow.v1', path: '/pid' },
    { name: 'function.call without beam.mfa', event: without(call, 'beam.mfa'), schema: 'function_call.v1', path: '/attributes/beam.mfa' },
    { name: 'function.call with a non-string beam.mfa', event: event('function.call', { attributes: { 'beam.mfa': 3 } }), schema: 'function_call.v1', path: '/attributes/beam.mfa' },
    { name: 'process.exit without pid', event: without(event('process.exit'), 'pid'), schema: 'process_lifecycle.v1', path: '/pid', message: /is required/ },
    { name: 'state.change without pid', event: without(event('state.change'), 'pid'), schema: 'state_change.v1', path: '/pid' },
    { name: 'an unknown type', event: event('foo.bar'), schema: 'none', path: '/type', message: /unknown event type "foo\.bar"/ },
    { name: 'schemaVersion 2', event: { ...send, schemaVersion: 2 }, schema: 'none', path: '/schemaVersion', message: /no schema version 2 .*message_flow\.v1/ },
    { name: 'a number time', event: { ...send, time: 1_764_000_000_000 as unknown as bigint }, schema: 'message_flow.v1', path: '/time', message: /Unix nanoseconds/ },
    { name: 'a negative time', event: { ...send, time: -1n }, schema: 'message_flow.v1', path: '/time' },
    { name: 'a missing source.node', event: { ...send, source: { component: 'x' } as ScopeEvent['source'] }, schema: 'message_flow.v1', path: '/source/node' },
    { name: 'an upper-case traceId', event: { ...send, traceId: '5B8EFFF798038103D269B633813FC60C' }, schema: 'message_flow.v1', path: '/traceId' },
    { name: 'a missing id', event: without(send, 'id'), schema: 'message_flow.v1', path: '/id' },
    { name: 'attributes that are not an object', event: { ...event('custom.x'), attributes: 'x' as unknown as ScopeEvent['attributes'] }, schema: 'custom.v1', path: '/attributes' },
    { name: 'a non-string type', event: { ...send, type: 7 as unknown as string }, schema: 'none', path: '/type' },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      const rejection = registry.validate(c.event);
      assert.ok(rejection, 'expected a rejection');
      assert.equal(rejection.schema, c.schema);
      assert.equal(rejection.path, c.path);
      assert.equal(typeof rejection.message, 'string');
      if (c.message) assert.match(rejection.message, c.message);
    });
  }

  it('does not throw on garbage', () => {
    assert.notEqual(registry.validate({} as ScopeEvent), null);
    assert.notEqual(registry.validate({ type: 'custom.x' } as ScopeEvent), null);
  });
});

describe('EventSchemaRegistry: register()', () => {
  it('adds a new family, with its own required attributes', () => {
    const registry = new EventSchemaRegistry();
    const query = event('ecto.query', { pid: undefined, attributes: { 'db.statement': 'SELECT 1' } });
    assert.equal(registry.validate(query)?.schema, 'none', 'unknown before registration');
    registry.register({
      name: 'ecto',
      version: 1,
      types: ['ecto.*'],
      schema: { properties: { attributes: { required: ['db.statement'] } } },
    });
    assert.equal(registry.validate(query), null);
    const missing = registry.validate(event('ecto.query', { attributes: {} }));
    assert.deepEqual(missing && { schema: missing.schema, path: missing.path }, { schema: 'ecto.v1', path: '/attributes/db.statement' });
    assert.ok(registry.list().some((d) => d.name === 'ecto'));
  });

  it('adds a new version of an existing family', () => {
    const registry = new EventSchemaRegistry();
    const v2 = event('message.send', { schemaVersion: 2, attributes: {} });
    assert.equal(registry.validate(v2)?.path, '/schemaVersion');
    registry.register({ name: 'message_flow', version: 2, types: ['message.send'], schema: { required: ['causationId'] } });
    assert.equal(registry.validate({ ...v2, causationId: 'c1' }), null);
    assert.deepEqual(registry.validate(v2), { schema: 'message_flow.v2', path: '/causationId', message: 'is required' });
    // version 1 is still checked by its own schema
    assert.equal(registry.validate(event('message.send', { attributes: {} }))?.schema, 'message_flow.v1');
  });

  it('prefers the longest prefix', () => {
    const registry = new EventSchemaRegistry();
    registry.register({ name: 'phoenix', version: 1, types: ['telemetry.phoenix.*'], schema: { properties: { attributes: { required: ['route'] } } } });
    assert.equal(registry.validate(event('telemetry.phoenix.endpoint.stop'))?.schema, 'phoenix.v1');
    assert.equal(registry.validate(event('telemetry.ecto.repo.query')), null);
  });

  it('throws SCHEMA_DUPLICATE for a family and version registered twice', () => {
    const registry = new EventSchemaRegistry();
    assert.throws(
      () => registry.register({ name: 'message_flow', version: 1, types: ['message.other'], schema: {} }),
      (error: unknown) => error instanceof ScopeError && error.code === 'SCHEMA_DUPLICATE' && /message_flow\.v1/.test(error.message),
    );
    registry.register({ name: 'mine', version: 1, types: ['mine.x'], schema: {} });
    assert.throws(() => registry.register({ name: 'mine', version: 1, types: ['mine.y'], schema: {} }), ScopeError);
  });

  it('keeps registries independent', () => {
    const a = new EventSchemaRegistry();
    const b = new EventSchemaRegistry();
    a.register({ name: 'only_a', version: 1, types: ['only.a'], schema: {} });
    assert.equal(a.validate(event('only.a')), null);
    assert.equal(b.validate(event('only.a'))?.schema, 'none');
  });
});
