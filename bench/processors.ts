/**
 * processors: events/s through the privacy processor (all detectors on, and
 * with only its sanitizers and truncation) and through the correlation
 * processor, on a stream shaped like the trace port's (sends and receives of
 * rendered terms, calls and returns, a few telemetry events; 5 % carry a
 * secret). Anchor: JSON.stringify of the same events — what writing them as
 * JSON lines costs — run in the same process.
 */
import type { Attributes, ScopeEvent } from '../src/model/types.js';
import { Correlator } from '../src/processors/correlation/correlator.js';
import type { PrivacyConfig } from '../src/processors/privacy/config.js';
import { Redactor } from '../src/processors/privacy/privacy.js';
import { ratePerSecond, series, table, writeResult } from './lib.js';

const COUNT = 50_000;

export function stream(count: number): ScopeEvent[] {
  const source = { node: 'shop@host', component: 'beam_trace_port' };
  let time = 1_764_000_000_000_000_000n;
  const events: ScopeEvent[] = [];
  for (let i = 0; i < count; i++) {
    time += 2_000n;
    const pid = `<0.${100 + (i % 500)}.0>`;
    const peer = `<0.${100 + ((i * 7) % 500)}.0>`;
    const secret = i % 20 === 0;
    const message = secret
      ? `{login,#{email => <<"user${i}@example.com">>,password => <<"pw-${i}">>,remember => true}}`
      : `{'$gen_call',{${pid},#Ref<0.1.2.${i}>},{add_item,<<"sku-${i % 97}">>,${i % 5},#{source => web,cart => ${i % 1000}}}}`;
    // The structure the trace-port receiver reads from the decoded term.
    const shape: Attributes = secret
      ? { 'beam.message.kind': 'info', 'beam.request': 'login' }
      : { 'beam.message.kind': 'call', 'beam.request': 'add_item', 'beam.call.tag': `#Ref<0.1.2.${i}>`, 'beam.call.from': pid };
    let attributes: Attributes;
    let type: string;
    switch (i % 5) {
      case 0: type = 'message.send'; attributes = { 'beam.peer_pid': peer, 'beam.message': message, ...shape }; break;
      case 1: type = 'message.receive'; attributes = { 'beam.message': message, ...shape }; break;
      case 2: type = 'function.call'; attributes = { 'beam.mfa': "'Elixir.Shop.Cart':handle_call/3", 'beam.args': `[${message},{${peer},tag},#{items => []}]` }; break;
      case 3: type = 'function.return'; attributes = { 'beam.mfa': "'Elixir.Shop.Cart':handle_call/3", 'beam.return': '{reply,ok,#{items => [apple]}}' }; break;
      default:
        type = 'telemetry.shop.repo.query';
        attributes = {
          measurements: { total_time_ns: 1_200_000, query_time_ns: 900_000 }, repo: 'Shop.Repo', source: 'users',
          query: `SELECT u0."id" FROM "users" AS u0 WHERE u0."email" = '${secret ? `user${i}@example.com` : 'x'}' LIMIT 1`, result_rows: 1,
        };
    }
    events.push({ id: `b${i}`, type, schemaVersion: 1, time, source, pid, attributes });
  }
  return events;
}

const privacyConfig = (detectors: boolean): PrivacyConfig => ({
  action: 'mask', mask: '****', blocked_keys: [], blocked_values: [],
  detectors: detectors ? {} : { email: false, payment_card: false, jwt: false, auth_header: false, aws_key: false, password_keys: false },
  db_sanitizer: { enabled: true, keys: ['db.query.text', 'db.statement', 'query'] },
  url_sanitizer: { enabled: true, keys: ['url.full', 'url.query', 'http.url', 'http.target', 'uri', 'path'] },
  max_term_bytes: 1024, max_state_bytes: 4096,
  term_keys: ['beam.message', 'beam.args', 'beam.return', 'beam.reason'], state_keys: ['old_state', 'new_state'],
});

export async function run(): Promise<string> {
  const events = stream(COUNT);
  const runs = 7;
  const bigint = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
  const anchor = series('anchor: JSON.stringify of each event', 'events/s', ratePerSecond(COUNT, () => {
    for (const e of events) JSON.stringify(e, bigint);
  }, runs));
  const all = new Redactor(privacyConfig(true));
  let redacted = 0;
  const privacyAll = series('privacy, all detectors + sanitizers + truncation', 'events/s', ratePerSecond(COUNT, () => {
    redacted = 0;
    for (const e of events) redacted += all.attributes(e.attributes).redacted;
  }, runs));
  const sanitizers = new Redactor(privacyConfig(false));
  const privacySanitizers = series('privacy, sanitizers + truncation only', 'events/s', ratePerSecond(COUNT, () => {
    for (const e of events) sanitizers.attributes(e.attributes);
  }, runs));
  const correlation = series('correlation (spans, message matching)', 'events/s', ratePerSecond(COUNT, () => {
    const c = new Correlator({
      component: 'bench', callTimeoutMs: 30_000, crashWindowMs: 1_000, idleMs: 2_000, crashContextMessages: 10,
      maxTrackedProcesses: 100_000, maxPendingMessages: 200_000, maxSpansPerTrace: 10_000, maxStackDepth: 10_000,
      onEvict: () => undefined, onSpan: () => undefined, onCrash: () => undefined,
    });
    for (let i = 0; i < events.length; i += 8192) c.process(events.slice(i, i + 8192), i);
    c.flush();
  }, runs));
  writeResult('processors', {
    input: { events: COUNT, with_secret: COUNT / 20, mix: 'send, receive, call, return, Ecto query (1/5 each)' },
    anchor: 'JSON.stringify of each event, same process',
    redacted_values_per_pass: redacted,
    runs,
    series: [anchor, privacyAll, privacySanitizers, correlation],
  });
  return [`processors: ${COUNT} trace-port-shaped events, 5 % with secrets (${redacted} values redacted per pass)`, '',
    table([privacyAll, privacySanitizers, correlation], anchor)].join('\n');
}
