/**
 * Secrets in every place BEAM data carries them — attributes, rendered Erlang
 * terms (inside binaries and charlists too), traced arguments, the distribution
 * cookie, SQL, URLs, span events, resources — go through the privacy processor
 * into the debug (JSON lines) and parquet exporters; none survives in either
 * output, and the non-secret data (nanosecond times included) is as it was.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { queryArchive } from '../../src/archive/query.js';
import { resolveConfig } from '../../src/config/load.js';
import { createPipeline, silentLogger, type Batch } from '../../src/index.js';
import { event, tempDir } from '../helpers.js';

const SECRETS = [
  'ada@example.com', '4111111111111111', '4111 1111 1111 1111', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-NATURE_1', 'Bearer q8Zt2LmN0pX4',
  'AKIAIOSFODNN7EXAMPLE', 'hunter2', 'sup3r-s3cret-t0ken', 'reset-tok-998877', "O'Hara-secret-literal", 'cookie-value-xyz',
  'ERVWXYZABCDEFGHIJKLM', 'arg-pass-4711', 'bob@example.org', 'form-pass-0815', 'k8Qz-release-c00kie',
];
/** A nanosecond time that passes the Luhn check: a card-shaped number that is none. */
const LUHN_TIME = '1764000000123456782';
const COOKIE = 'k8Qz-release-c00kie';

function secretBatch(): Batch {
  const time = 1_764_000_000_000_000_000n;
  return {
    events: [
      event({
        type: 'message.send', time,
        attributes: {
          'beam.peer_pid': '<0.81.0>',
          'beam.message': "{login,#{email => <<\"ada@example.com\">>,password => <<\"hunter2\">>,card => <<\"4111 1111 1111 1111\">>}}",
        },
      }),
      event({
        type: 'state.change', time: time + 1n,
        attributes: { new_state: '%{token: "sup3r-s3cret-t0ken", user: "ada@example.com", items: 3}', old_state: '%{items: 2}', kind: 'call' },
      }),
      event({
        type: 'function.call', time: time + 3n,
        attributes: { 'beam.mfa': 'my_auth:check_password/2', 'beam.args': '[<<"ada">>,<<"arg-pass-4711">>]' },
      }),
      event({
        type: 'message.receive', time: time + 4n,
        attributes: {
          'beam.message': `{#Ref<0.1.2.3>,'ERVWXYZABCDEFGHIJKLM'}`,
          'beam.reply': '{http,<<"{\\"email\\":\\"bob@example.org\\",\\"password\\":\\"hunter2\\"}">>,"password=form-pass-0815&user=bob"}',
          'beam.trace_message': `{cfg,'${COOKIE}'}`,
          'scope.crash.last_messages': [{ message: '{ping,1}', from: '<0.81.0>', time: LUHN_TIME }],
        },
      }),
      event({
        type: 'telemetry.phoenix.endpoint.stop', time: time + 2n,
        attributes: { method: 'GET', path: '/reset', 'url.full': 'https://shop.example.com/reset?token=reset-tok-998877', user_agent: 'curl/8.5', 'http.request.header.cookie': 'cookie-value-xyz' },
      }),
    ],
    spans: [{
      traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b173', name: 'select users', spanKind: 'client',
      startTimeUnixNano: time, endTimeUnixNano: time + 1000n,
      attributes: {
        'db.query.text': "SELECT * FROM users WHERE email = 'ada@example.com' AND name = 'O''Hara-secret-literal'",
        'db.collection.name': 'users', 'http.request.header.authorization': 'Bearer q8Zt2LmN0pX4', note: 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-NATURE_1',
      },
      events: [{ name: 'exception', timeUnixNano: time, attributes: { 'exception.message': 'bad key AKIAIOSFODNN7EXAMPLE for 4111111111111111' } }],
      links: [], status: { code: 'error', message: 'login failed for ada@example.com' },
      resource: { 'service.name': 'shop', 'deployment.owner': 'ada@example.com' },
    }],
    metrics: [],
  };
}

describe('privacy processor end to end', () => {
  it('no secret reaches the debug or parquet output; everything else is untouched', async (t) => {
    const dir = tempDir(t);
    const jsonl = join(dir, 'out.jsonl');
    const archive = join(dir, 'archive');
    const pipeline = createPipeline({
      receivers: { push: {} },
      processors: { privacy: { hash_salt: 'test-salt', secrets: [COOKIE] } },
      exporters: { debug: { path: jsonl, format: 'json' }, parquet: { path: archive, max_file_age: '1s' } },
      service: { pipelines: { p: { receivers: ['push'], processors: ['privacy'], exporters: ['debug', 'parquet'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    assert.equal((await pipeline.push(secretBatch())).status, 'accepted');
    const redactions = await pipeline.metrics.sum('scope_privacy_redactions');
    await pipeline.shutdown();

    const written = readFileSync(jsonl, 'utf8');
    const parquetRows = await Promise.all(['spans', 'events'].map((table) => queryArchive(archive, `select * from ${table}`)));
    const archived = JSON.stringify(parquetRows.map((r) => r.rows));
    assert.ok(written.length > 0 && parquetRows[0].rows.length === 1 && parquetRows[1].rows.length === 5, 'everything was written');
    for (const secret of SECRETS) {
      assert.equal(written.includes(secret), false, `${secret} in the debug output`);
      assert.equal(archived.includes(secret), false, `${secret} in the parquet archive`);
    }

    const lines = written.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const span = lines.find((l) => l.kind === 'span')!;
    assert.equal(span.attributes['db.query.text'], 'SELECT * FROM users WHERE email = ? AND name = ?');
    assert.equal(span.attributes['db.collection.name'], 'users');
    assert.equal(span.attributes['http.request.header.authorization'], '****');
    assert.equal(span.resource['service.name'], 'shop');
    assert.equal(span.status.message, 'login failed for ****');
    assert.ok(span.attributes['scope.redacted.count'] >= 4);
    const [send, state, call, reply, http] = lines.filter((l) => l.kind === 'event');
    assert.equal(send.attributes['beam.message'], '{login,#{email => <<"****">>,password => <<"****">>,card => <<"****">>}}');
    assert.equal(send.attributes['beam.peer_pid'], '<0.81.0>');
    assert.equal(state.attributes.new_state, '%{token: "****", user: "****", items: 3}');
    assert.equal(call.attributes['beam.args'], '[<<"****">>,<<"****">>]');
    assert.equal(call.attributes['beam.mfa'], 'my_auth:check_password/2');
    assert.equal(reply.attributes['beam.message'], "{#Ref<0.1.2.3>,'****'}");
    assert.equal(reply.attributes['beam.reply'], '{http,<<"{\\"email\\":\\"****\\",\\"password\\":\\"****\\"}">>,"password=****&user=bob"}');
    assert.equal(reply.attributes['beam.trace_message'], "{cfg,'****'}");
    assert.deepEqual(reply.attributes['scope.crash.last_messages'], [{ message: '{ping,1}', from: '<0.81.0>', time: LUHN_TIME }], 'a time is no card');
    assert.equal(state.attributes.old_state, '%{items: 2}');
    assert.equal(state.attributes['scope.redacted.count'], 1);
    assert.equal(http.attributes['url.full'], 'https://shop.example.com/reset?token=?');
    assert.equal(http.attributes.user_agent, 'curl/8.5');
    assert.equal(http.attributes.path, '/reset');
    assert.ok(redactions >= 10, `redactions counted: ${redactions}`);
  });

  it('secrets come from the environment, as ${env:…}; an unset one with a default is ignored; short ones are refused', () => {
    const doc = (secrets: string[]) => ({
      receivers: { push: {} }, processors: { privacy: { secrets } }, exporters: { debug: {} },
      service: { pipelines: { p: { receivers: ['push'], processors: ['privacy'], exporters: ['debug'] } } },
    });
    const resolved = resolveConfig(doc(['${env:RELEASE_COOKIE}', '${env:NUMERIC_COOKIE}', '${env:UNSET_COOKIE:-}']), {
      env: { RELEASE_COOKIE: 'ERVWXYZABCDEFGHIJKLM', NUMERIC_COOKIE: '12345678' },
    });
    assert.deepEqual(resolved.processors.privacy.secrets, ['ERVWXYZABCDEFGHIJKLM', '12345678', '']);
    assert.deepEqual(resolved.processors.privacy.secret_functions, ['*password*', '*passwd*', '*secret*', '*credential*', '*token*', 'login', 'authenticate*']);
    assert.throws(() => resolveConfig(doc(['abc'])), /secrets\[0\]: a secret shorter than 4 characters/);
  });
});
