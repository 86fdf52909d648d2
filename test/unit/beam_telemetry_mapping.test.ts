/** The beam_telemetry receiver's mapping of the sampler's and the state tracker's terms (protocol 1). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErlFloat, ErlMap, ErlPid, ErlTuple } from '../../src/beam/etf.js';
import { TelemetryMapper } from '../../src/receivers/beam_telemetry/mapping.js';

const hello = { node: 'shop@host', app: 'shop', otpRelease: '25', nativeUnitsPerSecond: 1_000_000_000, timeOffsetNs: 0n };
const mapper = (): TelemetryMapper => new TelemetryMapper(hello, { node: 'shop@host', app: 'shop', component: 'beam_telemetry' }, 64);
const bin = (s: string): Uint8Array => new TextEncoder().encode(s);
const pid = new ErlPid('shop@host', 90, 0, 1);

describe('TelemetryMapper.read', () => {
  it('scope_metrics: gauges and sums with unit and attributes, the node and app as resource; malformed points left out', () => {
    const term = new ErlTuple(['scope_metrics', 1_764_000_000_000_000_000n, [
      new ErlTuple([bin('beam.process.message_queue_len'), 'gauge', bin('{message}'), 12, new ErlMap([['beam.pid', pid], ['beam.registered_name', 'worker']])]),
      new ErlTuple([bin('scope_beam.forwarder.dropped'), 'sum', bin('{item}'), 3, new ErlMap([['reason', 'queue_full']])]),
      new ErlTuple([bin('beam.scheduler.utilization'), 'gauge', bin('1'), new ErlFloat(0.25), new ErlMap([])]),
      new ErlTuple([bin('bad.type'), 'histogram', bin('1'), 1, new ErlMap([])]),
      new ErlTuple([bin('bad.value'), 'gauge', bin('1'), bin('x'), new ErlMap([])]),
      'not a point',
    ]]);
    const read = mapper().read(term);
    assert.ok(read && 'metrics' in read);
    assert.deepEqual(read.metrics.map((m) => [m.name, m.type, m.unit, m.value, m.monotonic]), [
      ['beam.process.message_queue_len', 'gauge', '{message}', 12, undefined],
      ['scope_beam.forwarder.dropped', 'sum', '{item}', 3, true],
      ['beam.scheduler.utilization', 'gauge', '1', 0.25, undefined],
    ]);
    assert.deepEqual(read.metrics[0].attributes, { 'beam.pid': '<0.90.0>', 'beam.registered_name': 'worker' });
    assert.deepEqual(read.metrics[0].resource, { 'beam.node': 'shop@host', 'service.name': 'shop' });
    assert.equal(read.metrics[0].timeUnixNano, 1_764_000_000_000_000_000n);
  });

  it('scope_state_change: a state.change event with pid and attributes', () => {
    const term = new ErlTuple(['scope_state_change', 1_764_000_000_000_000_001n, pid, new ErlMap([
      ['kind', 'call'], ['seq', 1], ['beam.module', 'Elixir.Shop.Cart'], ['beam.from', pid], ['changed', 'true'],
      ['old_state', bin('%{total: 0}')], ['new_state', bin('%{total: 5}')], ['changed_keys', [bin('total')]],
      ['diff', new ErlMap([[bin('total'), new ErlMap([['old', bin('0')], ['new', bin('5')]])]])],
    ])]);
    const read = mapper().read(term);
    assert.ok(read && 'event' in read);
    assert.equal(read.event.type, 'state.change');
    assert.equal(read.event.pid, '<0.90.0>');
    assert.equal(read.event.time, 1_764_000_000_000_000_001n);
    assert.deepEqual(read.event.attributes, {
      kind: 'call', seq: 1, 'beam.module': 'Shop.Cart', 'beam.from': '<0.90.0>', changed: true,
      old_state: '%{total: 0}', new_state: '%{total: 5}', changed_keys: ['total'], diff: { total: { old: '0', new: '5' } },
    });
  });

  it('malformed protocol terms are null (the receiver counts them)', () => {
    const m = mapper();
    assert.equal(m.read(new ErlTuple(['scope_state_change', 1, 'not_a_pid', new ErlMap([])])), null);
    assert.equal(m.read(new ErlTuple(['scope_state_change', bin('t'), pid, new ErlMap([])])), null);
    assert.equal(m.read(new ErlTuple(['scope_metrics', 1, 'not_a_list'])), null);
    assert.equal(m.read(new ErlTuple(['scope_metrics', bin('t'), []])), null);
    assert.equal(m.read(new ErlTuple(['scope_something', 1])), null);
    assert.equal(m.read([1, 2, 3]), null);
  });
});

describe('TelemetryMapper term_syntax and remote pids', () => {
  it('values that are not plain data in either syntax; another node\'s pid carries its name', () => {
    const remote = new ErlPid('cli@host', 98, 0, 1);
    const term = new ErlTuple(['scope_state_change', 1_764_000_000_000_000_002n, pid, new ErlMap([
      ['kind', 'cast'], ['beam.from', remote], ['request', new ErlTuple(['add', bin('apple'), 2])],
    ])]);
    const source = { node: 'shop@host', app: 'shop', component: 'beam_telemetry' };
    const erlang = new TelemetryMapper(hello, source, 64).read(term);
    const elixir = new TelemetryMapper(hello, source, 64, 'elixir').read(term);
    assert.ok(erlang && 'event' in erlang && elixir && 'event' in elixir);
    assert.equal(erlang.event.attributes.request, '{add,<<"apple">>,2}');
    assert.equal(elixir.event.attributes.request, '{:add, "apple", 2}');
    assert.equal(erlang.event.attributes['beam.from'], '<cli@host.98.0>');
    assert.equal(elixir.event.attributes['beam.from'], '<cli@host.98.0>', 'identifiers keep the Erlang form in both');
    assert.equal(erlang.event.pid, '<0.90.0>');
  });
});
