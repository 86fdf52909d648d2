/** The privacy processor's detectors, sanitizers and term truncation. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PrivacyConfig } from '../../src/processors/privacy/config.js';
import { luhnValid } from '../../src/processors/privacy/detectors.js';
import { Redactor } from '../../src/processors/privacy/privacy.js';
import { truncateTerm } from '../../src/beam/rendered_text.js';
import { sanitizeSql, sanitizeUrl } from '../../src/processors/privacy/sanitize.js';

function config(overrides: Partial<PrivacyConfig> = {}): PrivacyConfig {
  return {
    action: 'mask', mask: '****', blocked_keys: [], blocked_values: [], detectors: {},
    db_sanitizer: { enabled: true, keys: ['db.query.text'] }, url_sanitizer: { enabled: true, keys: ['url.full'] },
    max_term_bytes: 1024, max_state_bytes: 4096, term_keys: ['beam.message'], state_keys: ['new_state'],
    ...overrides,
  };
}

const scan = (text: string, c = config()): string | null => new Redactor(c).scanString(text);

describe('privacy detectors', () => {
  it('emails, Luhn-valid cards (not other long numbers), JWTs, auth headers, AWS keys', () => {
    assert.equal(scan('mail ada@example.com now'), 'mail **** now');
    assert.equal(scan('card 4111 1111 1111 1111 ok'), 'card **** ok');
    assert.equal(scan('card 4111-1111-1111-1112'), 'card 4111-1111-1111-1112', 'fails the Luhn check');
    assert.equal(scan('order 1764000000123456789'), 'order 1764000000123456789', 'a timestamp is no card');
    assert.ok(luhnValid('378282246310005') && !luhnValid('378282246310006'));
    assert.equal(scan('t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123'), 't=****');
    assert.equal(scan('Authorization: Bearer abc123DEF456ghi'), 'Authorization: **** ****', 'the scheme (after a secret key) and the credential');
    assert.equal(scan('auth Bearer abc123DEF456ghi'), 'auth Bearer ****');
    assert.equal(scan('key AKIAIOSFODNN7EXAMPLE used'), 'key **** used');
  });

  it('password-like keys anywhere in a rendered Erlang or Elixir term: the value masked, of the same kind', () => {
    assert.equal(scan('#{password => <<"hunter2">>,user => <<"ada">>}'), '#{password => <<"****">>,user => <<"ada">>}');
    assert.equal(scan('%{"token" => "s3cr3t", "id" => 7}'), '%{"token" => "****", "id" => 7}');
    assert.equal(scan('[password: "hunter2", remember: true]'), '[password: "****", remember: true]');
    assert.equal(scan('{login,[{password,"hunter2"},{user,"ada"}]}'), '{login,[{password,"****"},{user,"ada"}]}');
    assert.equal(scan('{login,[{:password, ~c"hunter2"}, {:user, "ada"}]}'), '{login,[{:password, ~c"****"}, {:user, "ada"}]}');
    assert.equal(scan("{'$gen_call',{<0.90.0>,#Ref<0.1.2.3>},{auth,#{api_key => secret_atom}}}"), "{'$gen_call',{<0.90.0>,#Ref<0.1.2.3>},{auth,#{api_key => '****'}}}");
    assert.equal(scan('%{api_key: :secret_atom, token: nil}'), '%{api_key: :"****", token: nil}', 'an atom stays an atom; nil says nothing');
    assert.equal(scan('#{db_password => <<104,117,110,116,101,114,50>>}'), '#{db_password => <<"****">>}', 'a binary written as bytes');
    assert.equal(scan('#{password => 1234}'), '#{password => 1234}', 'numbers are never secrets');
    assert.equal(scan('user=ada&password=hunter2'), 'user=ada&password=****');
    assert.equal(scan('{"user":"ada","password":"hunter2"}'), '{"user":"ada","password":"****"}', 'JSON');
  });

  it('hash: salted, equal values hash equal; drop removes the attribute', () => {
    const r = new Redactor(config({ action: 'hash', hash_salt: 'pepper' }));
    const a = r.attributes({ who: 'ada@example.com', also: 'ada@example.com', other: 'bob@example.com' }).attributes;
    assert.match(String(a.who), /^sha256:[0-9a-f]{32}$/);
    assert.equal(a.who, a.also);
    assert.notEqual(a.who, a.other);
    const d = new Redactor(config({ detectors: { email: { action: 'drop' } } })).attributes({ who: 'ada@example.com', n: 1 });
    assert.deepEqual(d.attributes, { n: 1 });
    assert.equal(d.redacted, 1);
  });

  it('keys: secret-named keys, blocked keys, allowed keys; nested maps and lists', () => {
    const r = new Redactor(config({ blocked_keys: ['user.ssn', { key: '/^internal\\./', action: 'drop' }], allowed_keys: ['*'] }));
    const { attributes, redacted } = r.attributes({
      password: 'x', 'http.request.header.authorization': 'anything', 'user.ssn': '078-05-1120', 'internal.debug': 'x',
      keep: 'plain', nested: { token: 'abc', fine: 1, list: ['ada@example.com', 'ok'] },
    });
    assert.deepEqual(attributes, {
      password: '****', 'http.request.header.authorization': '****', 'user.ssn': '****', keep: 'plain',
      nested: { token: '****', fine: 1, list: ['****', 'ok'] },
    });
    assert.equal(redacted, 5);
    const only = new Redactor(config({ allowed_keys: ['beam.*', 'keep'] })).attributes({ 'beam.pid': '<0.1.0>', keep: 1, other: 2 });
    assert.deepEqual(only.attributes, { 'beam.pid': '<0.1.0>', keep: 1 });
  });
});

describe('sanitizers and truncation', () => {
  it('SQL literals become ?, identifiers and placeholders stay', () => {
    assert.equal(sanitizeSql(`SELECT u0."id" FROM "users" AS u0 WHERE u0."email" = 'ada@example.com' AND u0.age > 42 AND t1 = $1`),
      `SELECT u0."id" FROM "users" AS u0 WHERE u0."email" = ? AND u0.age > ? AND t1 = $1`);
    assert.equal(sanitizeSql("INSERT INTO t (a,b) VALUES ('it''s', 3.5e2), (TRUE, 0xFF)"), 'INSERT INTO t (a,b) VALUES (?, ?), (?, ?)');
    const r = new Redactor(config());
    assert.equal(r.attributes({ 'db.query.text': "SELECT * FROM users WHERE email = 'ada@example.com'" }).attributes['db.query.text'], 'SELECT * FROM users WHERE email = ?');
  });

  it('URL query values become ?', () => {
    assert.equal(sanitizeUrl('https://shop.example.com/reset?token=abc123&user=ada#top'), 'https://shop.example.com/reset?token=?&user=?#top');
    assert.equal(sanitizeUrl('/plain/path'), '/plain/path');
  });

  it('rendered terms are cut at an element boundary and stay well formed', () => {
    const term = '{cart,[{apple,5},{pear,3},{fig,9}],#{owner => <<"ada">>}}';
    const cut = truncateTerm(term, 24);
    assert.equal(cut, '{cart,[{apple,5},...]}');
    assert.ok(cut.length <= 24);
    for (let max = 8; max < term.length; max++) {
      const t = truncateTerm(term, max);
      assert.ok(t.length <= max, `${t} within ${max}`);
      const opens = (t.match(/[{[]/g) ?? []).length;
      const closes = (t.match(/[}\]]/g) ?? []).length;
      assert.ok(t.endsWith('...') || opens === closes, `${t} is balanced`);
    }
    assert.equal(truncateTerm(term, 1000), term);
    assert.equal(truncateTerm('"a long quoted string without commas"', 10), '"a lon..."', 'cut inside the string, which stays closed');
    assert.equal(truncateTerm('a long plain text without commas', 10), 'a long ...', 'text that is no term is cut plainly');
    const r = new Redactor(config({ max_term_bytes: 24 }));
    assert.equal(r.attributes({ 'beam.message': term }).attributes['beam.message'], '{cart,[{apple,5},...]}');
  });
});

describe('values remembered clean', () => {
  it('a value clean under one key is still sanitized, truncated or taken as a secret where its key or function says so', () => {
    const r = new Redactor(config({ max_term_bytes: 16, secret_functions: ['check_password'] }));
    const sql = "SELECT * FROM users WHERE name = 'ada'";
    const url = 'https://shop.example/cart?item=42';
    const term = '{order,12345,placed,today}';
    const literal = '"plain-looking-literal"';
    // Seen first under a plain key: nothing to redact, and remembered as such.
    const plain = r.attributes({ note: sql, link: url, text: term, arg: literal });
    assert.equal(plain.redacted, 0);
    assert.equal(r.attributes({ note: sql }).redacted, 0, 'the same again: still untouched');
    assert.deepEqual(r.attributes({ 'db.query.text': sql }).attributes, { 'db.query.text': 'SELECT * FROM users WHERE name = ?' });
    assert.equal(r.attributes({ 'url.full': url }).attributes['url.full'], 'https://shop.example/cart?item=?');
    assert.equal(r.attributes({ 'beam.message': term }).attributes['beam.message'], truncateTerm(term, 16), 'truncated to max_term_bytes');
    const attrs = { 'beam.mfa': 'auth:check_password/1', 'beam.args': literal };
    const secret = r.attributes(attrs, r.secretKeysOf('function.call', attrs));
    assert.equal(secret.attributes['beam.args'], '"****"', 'a secret function\'s literal is masked though seen clean elsewhere');
  });
});
