/**
 * The privacy processor on rendered Erlang and Elixir terms: the detectors
 * see the text inside binaries, charlists, atoms and byte lists; distribution
 * cookies; the arguments of functions that take secrets; numbers that are
 * never secrets; and the rendered-term readers (parse, tuples, truncation).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Batch, ScopeEvent, Span } from '../../src/model/types.js';
import type { PrivacyConfig } from '../../src/processors/privacy/config.js';
import { luhnValid } from '../../src/processors/privacy/detectors.js';
import { functionName, redactBatch, Redactor } from '../../src/processors/privacy/privacy.js';
import { privacyProcessor } from '../../src/processors/privacy/index.js';
import { exitSignal, firstElement, genCall, genCast, isPid, requestLabel, truncateTerm, tupleElements } from '../../src/beam/rendered_text.js';
import { parseTerm } from '../../src/beam/term_parse.js';
import { decodeQuoted, escapeQuoted } from '../../src/beam/term_strings.js';
import { prng } from '../helpers.js';

function config(overrides: Partial<PrivacyConfig> = {}): PrivacyConfig {
  return {
    action: 'mask', mask: '****', blocked_keys: [], blocked_values: [], detectors: {},
    db_sanitizer: { enabled: true, keys: ['db.query.text'] }, url_sanitizer: { enabled: true, keys: ['url.full'] },
    max_term_bytes: 1024, max_state_bytes: 4096, term_keys: ['beam.message', 'beam.args', 'beam.return'], state_keys: ['new_state'],
    ...overrides,
  };
}

const scan = (text: string, c = config()): string | null => new Redactor(c).scanString(text);
/** A binary written as its bytes, the ~w way (`<<104,105>>`) or inspect's (`<<104, 105>>`). */
const erlBytes = (s: string): string => `<<${[...Buffer.from(s)].join(',')}>>`;
const exBytes = (s: string): string => `<<${[...Buffer.from(s)].join(', ')}>>`;
const HASH = /sha256:[0-9a-f]{32}/;

let seq = 0;
function ev(type: string, attributes: ScopeEvent['attributes']): ScopeEvent {
  return { id: `t${++seq}`, type, schemaVersion: 1, time: 1_764_000_000_000_000_000n, source: { node: 'app@host', component: 'test' }, pid: '<0.80.0>', attributes };
}
function span(name: string, attributes: Span['attributes'], extra: Partial<Span> = {}): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b173', name, spanKind: 'internal',
    startTimeUnixNano: 1n, endTimeUnixNano: 2n, attributes, events: [], links: [], status: { code: 'unset' }, resource: {}, ...extra,
  } as Span;
}
function redacted(r: Redactor, events: ScopeEvent[], spans: Span[] = []): Batch {
  const batch: Batch = { events, spans, metrics: [] };
  redactBatch(r, batch);
  return batch;
}

describe('detectors see the text inside binaries and charlists', () => {
  it('Erlang syntax: binaries (escaped JSON in them), charlists, quoted atoms, UTF-8 binaries', () => {
    assert.equal(scan('<<"{\\"email\\":\\"ada@example.com\\",\\"password\\":\\"hunter2\\"}">>'), '<<"{\\"email\\":\\"****\\",\\"password\\":\\"****\\"}">>');
    assert.equal(scan('{http,#{body => <<"{\\"email\\":\\"ada@example.com\\",\\"n\\":2}">>,status => 200}}'), '{http,#{body => <<"{\\"email\\":\\"****\\",\\"n\\":2}">>,status => 200}}');
    assert.equal(scan('{form,"password=hunter2&user=ada"}'), '{form,"password=****&user=ada"}');
    assert.equal(scan('{req,<<"user ada@example.com said \\"hi\\"\\n">>}'), '{req,<<"user **** said \\"hi\\"\\n">>}');
    assert.equal(scan('{from,\'ada@example.com\'}'), "{from,'****'}");
    assert.equal(scan('<<"tëxt ada@example.com"/utf8>>'), '<<"tëxt ****"/utf8>>');
    assert.equal(scan('[<<"token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123">>]'), '[<<"token: ****">>]');
    assert.equal(scan('{h,<<"Authorization: Bearer abc123DEF456ghi">>}'), '{h,<<"Authorization: **** ****">>}');
    assert.equal(scan('#{<<"password">> => <<"hunter2">>,<<"user">> => <<"ada">>}'), '#{<<"password">> => <<"****">>,<<"user">> => <<"ada">>}');
    assert.equal(scan(`#{${erlBytes('password')} => <<"hunter2">>}`), `#{${erlBytes('password')} => <<"****">>}`, 'a key written as bytes');
    assert.equal(scan('<<"{\\"email\\":\\"ada\\\\u0040example.com\\"}">>'), '<<"{\\"email\\":\\"****\\"}">>', 'an @ written as a JSON escape');
    assert.equal(scan('"mail ada\\x{40}example.com"'), '"mail ****"', 'an @ written as an Erlang escape');
    // ssh's daemon options, as they travel between its processes: plural keys name secrets too.
    assert.equal(scan('#{key_cb_options => [{auth_methods,"password"},{user_passwords,[{"otp","correct-horse"}]}]}'),
      '#{key_cb_options => [{auth_methods,"password"},{user_passwords,[{"****","****"}]}]}');
  });

  it('Elixir syntax: strings (escaped JSON in them), ~c and old-style charlists, maps, keyword lists, structs', () => {
    assert.equal(scan('"{\\"email\\":\\"ada@example.com\\",\\"password\\":\\"hunter2\\"}"'), '"{\\"email\\":\\"****\\",\\"password\\":\\"****\\"}"');
    assert.equal(scan('{:form, ~c"password=hunter2&user=ada"}'), '{:form, ~c"password=****&user=ada"}');
    assert.equal(scan("[1, 'password=hunter2']"), "[1, 'password=****']");
    assert.equal(scan('%{"password" => "hunter2", "user" => "ada"}'), '%{"password" => "****", "user" => "ada"}');
    assert.equal(scan('[password: "hunter2", remember: true]'), '[password: "****", remember: true]');
    assert.equal(scan('%MyApp.User{email: "ada@example.com", password: "x", name: "Ada"}'), '%MyApp.User{email: "****", password: "****", name: "Ada"}');
    assert.equal(scan('#Ecto.Changeset<action: nil, changes: %{password: "hunter2"}, errors: [], data: #MyApp.User<>, valid?: true>'),
      '#Ecto.Changeset<action: nil, changes: %{password: "****"}, errors: [], data: #MyApp.User<>, valid?: true>');
    assert.equal(scan('"a \\#{b} ada@example.com"'), '"a \\#{b} ****"', 'Elixir escapes stay as they were');
    assert.equal(scan('{:from, :"ada@example.com"}'), '{:from, :"****"}');
  });

  it('binaries written as bytes are decoded, and replaced whole on a finding', () => {
    assert.equal(scan(erlBytes('password=hunter2\0')), '<<"****">>');
    assert.equal(scan(`{body,${erlBytes('mail ada@example.com\x01')}}`), '{body,<<"****">>}');
    assert.equal(scan(`[1, ${exBytes('ada@example.com\0')}]`), '[1, "****"]', 'Elixir: a string');
    assert.equal(scan('<<104,117,110,116,101,114,50,0>>'), '<<104,117,110,116,101,114,50,0>>', 'no detector finds anything in "hunter2\\0" alone');
    assert.equal(scan('<<1,2,3>>'), '<<1,2,3>>');
    assert.equal(scan('<<1,2:3>>'), '<<1,2:3>>');
    assert.equal(scan('<<1, 2::size(3)>>'), '<<1, 2::size(3)>>');
  });

  it('hash stays inside the quotes, and equals the hash of the same text elsewhere', () => {
    const r = new Redactor(config({ action: 'hash', hash_salt: 'pepper' }));
    const plain = r.scanString('ada@example.com')!;
    assert.match(plain, /^sha256:[0-9a-f]{32}$/);
    assert.equal(r.scanString('<<"ada@example.com">>'), `<<"${plain}">>`);
    assert.equal(r.scanString('"ada@example.com"'), `"${plain}"`);
    assert.equal(r.scanString("'ada@example.com'"), `'${plain}'`);
    assert.equal(r.scanString('<<"{\\"email\\":\\"ada@example.com\\"}">>'), `<<"{\\"email\\":\\"${plain}\\"}">>`);
    // A binary written as bytes goes whole: the hash is of all its text.
    assert.equal(r.scanString(erlBytes('ada@example.com\0')), `<<"${r.attributes({ password: 'ada@example.com\0' }).attributes.password}">>`);
    const hunter2 = r.attributes({ password: 'hunter2' }).attributes.password;
    assert.match(String(hunter2), HASH);
    assert.equal(r.scanString('%{password: "hunter2"}'), `%{password: "${hunter2}"}`);
  });

  it('drop removes the attribute when a finding inside a term says so', () => {
    const r = new Redactor(config({ detectors: { email: { action: 'drop' } } }));
    const { attributes, redacted: n } = r.attributes({ 'beam.message': '{mail,<<"ada@example.com">>}', keep: '{mail,<<"none">>}' });
    assert.deepEqual(attributes, { keep: '{mail,<<"none">>}' });
    assert.equal(n, 1);
  });

  it('non-secret data is untouched: the same string comes back', () => {
    for (const text of [
      '<<"scope.work">>', '{ok,<<"fine">>}', '"hello"', '~c"abc"', "'Quoted'", '#{k => v,n => 1}', '%{k: :v, n: 1.5}', '[<<"ada">>,<<"apple">>]',
      '{cart,[{apple,5},...]}', '<<"abc...">>', '"abc" <> ...', '[a,b|...]', '{<cli@host.98.0>,ok}', '#PID<0.80.0>', '#Fun<erl_eval.6.1234>',
      'fun lists:map/2', '&Enum.map/2', '~D[2026-01-01]', '{#Ref<0.1.2.3>,ok}',
    ]) {
      assert.equal(scan(text), text, text);
    }
  });
});

describe('distribution_cookie', () => {
  const cookie = 'ERVWXYZABCDEFGHIJKLM';

  it('atoms of exactly 20 uppercase letters, in both syntaxes, masked as atoms', () => {
    assert.equal(scan(`{#Ref<0.1.2.3>,'${cookie}'}`), "{#Ref<0.1.2.3>,'****'}");
    assert.equal(scan(`{<cli@host.98.0>,'${cookie}'}`), "{<cli@host.98.0>,'****'}");
    assert.equal(scan(`{#Reference<0.1.2.3>, :${cookie}}`), '{#Reference<0.1.2.3>, :"****"}');
    assert.equal(scan(`{:ok, :"${cookie}"}`), '{:ok, :"****"}');
    assert.equal(scan(`connected with cookie '${cookie}' at last`), "connected with cookie '****' at last", 'plain text');
    assert.equal(scan(`erl -setcookie ${cookie} -sname cli`), 'erl -setcookie **** -sname cli');
    assert.equal(scan(`RELEASE_COOKIE=${cookie}`), 'RELEASE_COOKIE=****');
  });

  it('not other atoms, strings or aliases of that shape', () => {
    for (const text of [
      "{ok,'ERVWXYZABCDEFGHIJKLm'}", "{ok,'ERVWXYZABCDEFGHIJKL'}", "{ok,'ERVWXYZABCDEFGHIJKLMN'}", `{ok, ${cookie}}`, `<<"${cookie}">>`,
      `{ok, :${cookie}X}`, cookie,
    ]) {
      assert.equal(scan(text), text, text);
    }
    assert.deepEqual(new Redactor(config()).attributes({ note: cookie }).attributes, { note: cookie }, 'a bare string under a key that does not say cookie');
  });

  it('a bare value of that shape under a key that says cookie (also with password_keys off)', () => {
    const r = new Redactor(config({ detectors: { password_keys: false } }));
    assert.deepEqual(r.attributes({ 'erlang.cookie': cookie, 'beam.cookie_value': cookie, other: cookie }).attributes,
      { 'erlang.cookie': '****', 'beam.cookie_value': '****', other: cookie });
    assert.equal(r.scanString(`#{cookie => <<"${cookie}">>,node => 'cli@host'}`), `#{cookie => <<"****">>,node => 'cli@host'}`);
    assert.equal(r.scanString(`[cookie: "${cookie}"]`), '[cookie: "****"]');
    assert.equal(r.scanString(`{"cookie":"${cookie}"}`), '{"cookie":"****"}');
    assert.equal(r.scanString('#{cookie => <<"chocolate">>}'), '#{cookie => <<"chocolate">>}', 'not of the shape');
  });

  it('hash keeps the atom well formed; off means off; counted', () => {
    const h = new Redactor(config({ action: 'hash', hash_salt: 'pepper' }));
    assert.match(h.scanString(`{x,'${cookie}'}`)!, new RegExp(`^\\{x,'${HASH.source}'\\}$`));
    assert.match(h.scanString(`{:x, :${cookie}}`)!, new RegExp(`^\\{:x, :"${HASH.source}"\\}$`));
    assert.equal(scan(`{x,'${cookie}'}`, config({ detectors: { distribution_cookie: false } })), `{x,'${cookie}'}`);
    const r = new Redactor(config());
    r.scanString(`{x,'${cookie}',:${cookie}}`);
    assert.equal(r.takeCounts().get('distribution_cookie'), 2);
  });

  it('secrets: literal values from config, masked in any quoting, never inside numbers', () => {
    const r = new Redactor(config({ secrets: ['xK9#mQ2$vL', 'ab"cd\\ef', 'mycookie123', ''] }));
    assert.equal(r.scanString("{x,'xK9#mQ2$vL',<<\"xK9#mQ2$vL\">>,mycookie123}"), "{x,'****',<<\"****\">>,'****'}");
    assert.equal(r.scanString('%{k: :"xK9#mQ2$vL", s: "is xK9#mQ2$vL"}'), '%{k: :"****", s: "is ****"}');
    assert.equal(r.scanString('<<"{\\"c\\":\\"xK9#mQ2$vL\\"}">>'), '<<"{\\"c\\":\\"****\\"}">>');
    assert.equal(r.scanString('<<"ab\\"cd\\\\ef">>'), '<<"****">>', 'escaped in the rendering');
    assert.equal(r.scanString(erlBytes('xK9#mQ2$vL\0')), '<<"****">>');
    assert.equal(r.scanString('plain xK9#mQ2$vL text'), 'plain **** text');
    assert.equal(r.scanString('nothing here'), 'nothing here', 'the empty secret is ignored');
    assert.equal(r.takeCounts().get('secrets'), 9);
    const n = new Redactor(config({ secrets: ['123456'] }));
    assert.equal(n.scanString('1764000000123456782'), '1764000000123456782');
    assert.equal(n.scanString('{t,1764000000123456782}'), '{t,1764000000123456782}');
    assert.equal(n.scanString('code 123456 sent'), 'code **** sent');
  });

  it('validation refuses secrets too short to be one', () => {
    const base = { ...config(), secrets: ['abc', '', 'long-enough'] };
    assert.deepEqual(privacyProcessor.validate!(base), ['secrets[0]: a secret shorter than 4 characters would mask ordinary text']);
    assert.deepEqual(privacyProcessor.validate!({ ...config(), secret_functions: ['/(/'] }).length, 1);
  });
});

describe('secret_args: functions that take secrets', () => {
  it('every string literal in the arguments of function.call, structure kept (Erlang)', () => {
    const r = new Redactor(config());
    const [call, other] = redacted(r, [
      ev('function.call', { 'beam.mfa': 'my_auth:check_password/2', 'beam.args': '[<<"ada">>,<<"hunter2">>]' }),
      ev('function.call', { 'beam.mfa': 'cart:add_item/2', 'beam.args': '[<<"ada">>,<<"hunter2">>]' }),
    ]).events;
    assert.equal(call.attributes['beam.args'], '[<<"****">>,<<"****">>]');
    assert.equal(call.attributes['beam.mfa'], 'my_auth:check_password/2');
    assert.equal(call.attributes['scope.redacted.count'], 1);
    assert.equal(other.attributes['beam.args'], '[<<"ada">>,<<"hunter2">>]');
    assert.equal(other.attributes['scope.redacted.count'], undefined);
    const [mixed] = redacted(r, [ev('function.call', {
      'beam.mfa': 'my_auth:login/1',
      'beam.args': `[<<"ada">>,"hunter2",${erlBytes('hunter2\0')},'Hunter',42,{opts,[remember]},#{<<"user">> => <<"ada">>}]`,
    })]).events;
    assert.equal(mixed.attributes['beam.args'], '[<<"****">>,"****",<<"****">>,\'Hunter\',42,{opts,[remember]},#{<<"user">> => <<"****">>}]');
  });

  it('Elixir syntax, return values and exception reasons, whole values that are no term', () => {
    const r = new Redactor(config());
    const [call, ret, exc, odd, plainRet] = redacted(r, [
      ev('function.call', { 'beam.mfa': "'Elixir.MyApp.Auth':authenticate_user/2", 'beam.args': `["ada", ~c"hunter2", 'old', ${exBytes('pw\0')}, %{"password" => "x", remember: true}]` }),
      ev('function.return', { 'beam.mfa': 'my_auth:get_token/1', 'beam.return': '{ok,<<"tok-123">>}' }),
      ev('function.exception', { 'beam.mfa': 'my_auth:check_password/2', 'beam.reason': '{badmatch,<<"hunter2">>}' }),
      ev('function.call', { 'beam.mfa': 'my_auth:check_password/2', 'beam.args': 'not a term at all' }),
      ev('function.return', { 'beam.mfa': 'my_auth:check_password/2', 'beam.return': 'true' }),
    ]).events;
    assert.equal(call.attributes['beam.args'], '["****", ~c"****", \'****\', "****", %{"password" => "****", remember: true}]');
    assert.equal(ret.attributes['beam.return'], '{ok,<<"****">>}');
    assert.equal(exc.attributes['beam.reason'], '{badmatch,<<"****">>}');
    assert.equal(odd.attributes['beam.args'], '****');
    assert.equal(plainRet.attributes['beam.return'], 'true', 'an atom is no string literal');
  });

  it('spans named after such a function, by code.function or name (and their events and status)', () => {
    const r = new Redactor(config());
    const [byName, byAttr, other, http] = redacted(r, [], [
      span('my_auth:check_password/2', { 'beam.args': '[<<"hunter2">>]' }, {
        status: { code: 'error', message: '{badmatch,<<"hunter2">>}' },
        events: [{ name: 'exception', timeUnixNano: 1n, attributes: { 'exception.message': '{badmatch,<<"hunter2">>}' } }],
      }),
      span('handle', { 'code.function': 'authenticate', 'beam.return': '{ok,"s3cr3t"}' }),
      span('cart:add/2', { 'beam.args': '[<<"hunter2">>]' }),
      span('POST /api/token', { 'exception.message': '{badarg,<<"kept">>}' }),
    ]).spans;
    assert.equal(byName.attributes['beam.args'], '[<<"****">>]');
    assert.equal(byName.status.message, '{badmatch,<<"****">>}');
    assert.equal(byName.events[0].attributes['exception.message'], '{badmatch,<<"****">>}');
    assert.equal(byAttr.attributes['beam.return'], '{ok,"****"}');
    assert.equal(other.attributes['beam.args'], '[<<"hunter2">>]');
    assert.equal(http.attributes['exception.message'], '{badarg,<<"kept">>}', 'a span name that is no function');
    assert.ok(r.secretKeysOfSpan("'Elixir.MyApp.Auth':login/1", {}) && r.secretKeysOfSpan('MyApp.Auth.check_password/2', {}));
  });

  it('secret_functions patterns (match.ts: exact, glob, /regex/) against the function name and the whole MFA; off; hash', () => {
    const r = new Redactor(config({ secret_functions: ['my_auth:*', '/^do_auth$/'] }));
    assert.equal(r.takesSecrets('my_auth:verify/2'), true);
    assert.equal(r.takesSecrets('other:do_auth/1'), true);
    assert.equal(r.takesSecrets('other:check_password/1'), false, 'the defaults are replaced');
    const d = new Redactor(config());
    for (const mfa of ['my_auth:check_password/2', "'Elixir.MyApp.Auth':'check_password'/2", 'MyApp.Auth.reset_passwd/1', 'a:get_secret/0', 'a:store_credentials/1', 'a:refresh_token/1', 'a:login/2', 'a:authenticate/1']) {
      assert.equal(d.takesSecrets(mfa), true, mfa);
    }
    for (const mfa of ['cart:add/2', 'a:loginx/1', 'a:logout/1', "'Elixir.Login':start/1"]) assert.equal(d.takesSecrets(mfa), false, mfa);
    assert.equal(functionName("'Elixir.MyApp.Auth':'check_password'/2"), 'check_password');
    assert.equal(functionName('MyApp.Auth.check_password/2'), 'check_password');
    const off = new Redactor(config({ detectors: { secret_args: false } }));
    const [e] = redacted(off, [ev('function.call', { 'beam.mfa': 'my_auth:check_password/2', 'beam.args': '[<<"ada">>,<<"hunter2">>]' })]).events;
    assert.equal(e.attributes['beam.args'], '[<<"ada">>,<<"hunter2">>]');
    const h = new Redactor(config({ detectors: { secret_args: { action: 'hash' } }, hash_salt: 'pepper' }));
    const [x] = redacted(h, [ev('function.call', { 'beam.mfa': 'my_auth:check_password/2', 'beam.args': '[<<"ada">>,<<"hunter2">>]' })]).events;
    assert.match(String(x.attributes['beam.args']), new RegExp(`^\\[<<"${HASH.source}">>,<<"${HASH.source}">>\\]$`));
  });
});

describe('numbers are never secrets', () => {
  it('100 000 nanosecond times around 2026, as attribute strings and nested: none masked; the same digits in text are', () => {
    const rand = prng(20260101);
    const start = 1_767_225_600_000_000_000n; // 2026-01-01
    const year = 31_536_000_000_000_000;
    const r = new Redactor(config());
    let luhn = 0;
    let inText = 0;
    for (let i = 0; i < 100_000; i++) {
      const offset = BigInt(Math.floor(rand() * (year / 1e6))) * 1_000_000n + BigInt(Math.floor(rand() * 1e6));
      const t = (start + offset).toString();
      assert.equal(t.length, 19);
      const attrs = {
        time: t, startTimeUnixNano: t, 'beam.message': `{tick,${t}}`, list: [t, t],
        'scope.crash.last_messages': [{ message: '{ping,1}', from: '<0.81.0>', time: t }],
      };
      const out = r.attributes(attrs);
      assert.equal(out.redacted, 0, `${t} was taken for a secret`);
      assert.equal(out.attributes, attrs);
      if (luhnValid(t)) {
        luhn++;
        // The very same digits in text are a card number.
        if (inText < 200) {
          assert.equal(r.scanString(`card ${t} ok`), 'card **** ok');
          assert.equal(r.scanString(`<<"card ${t}">>`), '<<"card ****">>');
          inText++;
        }
      }
    }
    assert.ok(luhn > 5_000, `${luhn} of the times pass the Luhn check, so the test means something`);
    assert.equal(inText, 200);
  });

  it('numbers in terms and JSON, decimal strings, number values: untouched; cards in text: masked', () => {
    assert.equal(luhnValid('1764000000123456782') && luhnValid('4111111111111111'), true, 'the numbers below are card-shaped');
    for (const text of [
      '{card,4111111111111111}', '#{card => 4111111111111111}', '[4111111111111111]', '%{card: 4111111111111111}', '{n,-4111111111111111}',
      '{"n":4111111111111111,"time":"1764000000123456782"}', '{"time": "1764000000123456782", "ids": ["4111111111111111"]}', '4111111111111111',
      '"1764000000123456782"', '<<"1764000000123456789">>',
      '-4111111111111111', '4111111111111111.5', 'ab4111111111111111cd', 'v1.4111111111111111', '{x,<<"id-4111111111111111a">>}',
    ]) {
      assert.equal(scan(text), text, text);
    }
    const r = new Redactor(config());
    const values = { n: 4111111111111111, big: '17640000001234567821', s: '4111111111111111' };
    assert.equal(r.attributes(values).attributes, values);
    assert.equal(scan('<<"4111 1111 1111 1111">>'), '<<"****">>');
    assert.equal(scan('"card 4111111111111111"'), '"card ****"');
    assert.equal(scan('<<"card=4111111111111111">>'), '<<"card=****">>');
    assert.equal(scan('{"card":"4111-1111-1111-1111","n":1}'), '{"card":"****","n":1}');
    assert.equal(scan('paid with 4111111111111111.'), 'paid with ****.');
    // An Erlang/Elixir binary or charlist is user text, digits only or not (JSON strings above are numbers).
    assert.equal(scan('#{card_number => <<"4111111111111111">>}'), '#{card_number => <<"****">>}');
    assert.equal(scan('{pan,"4111111111111111"}'), '{pan,"****"}');
    assert.equal(scan('%{pan: "4111111111111111", at: 1764000000123456782}'), '%{pan: "****", at: 1764000000123456782}');
    assert.equal(scan('[~c"4111111111111111"]'), '[~c"****"]');
  });

  it('blocked_values and secrets see no decimal strings either', () => {
    const c = config({ blocked_values: ['\\d{6}'] });
    assert.equal(scan('1764000000123456782', c), '1764000000123456782');
    assert.equal(scan('{t,1764000000123456782}', c), '{t,1764000000123456782}');
    assert.equal(scan('code 123456 sent', c), 'code **** sent');
  });
});

describe('rendered-term readers in both syntaxes', () => {
  it('parseTerm: which syntax, and what is no term', () => {
    assert.equal(parseTerm('{a,<<"b">>,#{k => v}}')?.syntax, 'erlang');
    assert.equal(parseTerm('%{a: 1, b: [c: ~c"x"]}')?.syntax, 'elixir');
    assert.equal(parseTerm('{:ok, #PID<0.80.0>}')?.syntax, 'elixir');
    assert.equal(parseTerm('{"a":[1,2.5e3,true,null]}') !== null, true, 'JSON');
    for (const text of ['card 4111111111111111', 'user=ada&password=x', '{a,b', '{a b}', '<<"x">', 'Bearer abc', '[1,2]]']) {
      assert.equal(parseTerm(text), null, text);
    }
  });

  it('decodeQuoted: Erlang, Elixir and JSON escapes, and where each character came from', () => {
    const raw = 'a\\"b\\\\c\\n\\e\\x{1F600}\\x{E9}\\001\\u00e9z';
    const d = decodeQuoted(raw, 0, raw.length);
    assert.equal(d.text, 'a"b\\c\n\u001b\u{1F600}\u00e9\u0001\u00e9z');
    assert.deepEqual([d.rawStart(1), d.rawEnd(1)], [1, 3], '\\" is two characters');
    assert.deepEqual([d.rawStart(7), d.rawEnd(8)], [11, 20], 'both halves of 😀 come from \\x{1F600}');
    assert.equal(escapeQuoted('a"b\\c\n', '"'), 'a\\"b\\\\c\\n');
    assert.equal(escapeQuoted("it's #{x}", "'", false), "it\\'s #{x}");
    assert.equal(escapeQuoted('#{x}', '"', true), '\\#{x}');
  });

  it('tupleElements, firstElement: quotes with >>, commas, brackets and escaped quotes inside; Elixir spacing', () => {
    assert.deepEqual(tupleElements('{a,<<"x>>y,z]">>,b}'), ['a', '<<"x>>y,z]">>', 'b']);
    assert.deepEqual(tupleElements('{a,<<"x\\"y,}z">>,b}'), ['a', '<<"x\\"y,}z">>', 'b']);
    assert.deepEqual(tupleElements('{:a, "b, c", %{x: 1, y: "}"}, [k: 1, j: 2], %Mod{a: 1}}'), [':a', '"b, c"', '%{x: 1, y: "}"}', '[k: 1, j: 2]', '%Mod{a: 1}']);
    assert.deepEqual(tupleElements('{#PID<0.80.0>, #Reference<0.1.2.3>, #MapSet<[1, 2]>}'), ['#PID<0.80.0>', '#Reference<0.1.2.3>', '#MapSet<[1, 2]>']);
    assert.deepEqual(tupleElements('{a,<<1,2>>,"x,y",{b,[c,d]},\'q,\'}'), ['a', '<<1,2>>', '"x,y"', '{b,[c,d]}', "'q,'"]);
    assert.equal(tupleElements('{a}{b}'), null);
    assert.equal(tupleElements('{a,[b}'), null);
    assert.equal(firstElement('{<<"a,b">>,1}'), '<<"a,b">>');
    assert.equal(firstElement('{#Reference<0.1.2.3>, :ok}'), '#Reference<0.1.2.3>');
  });

  it('gen_server messages and pids in both syntaxes, remote pids', () => {
    assert.deepEqual(genCall('{:"$gen_call", {#PID<0.90.0>, #Reference<0.1.2.3>}, {:add, :apple, 5}}'),
      { caller: '#PID<0.90.0>', tag: '#Reference<0.1.2.3>', request: '{:add, :apple, 5}' });
    assert.deepEqual(genCall("{'$gen_call',{<cli@host.98.0>,#Ref<0.1.2.3>},{get,<<\"k,}\">>}}"),
      { caller: '<cli@host.98.0>', tag: '#Ref<0.1.2.3>', request: '{get,<<"k,}">>}' });
    assert.equal(genCast('{:"$gen_cast", {:put, 1}}'), '{:put, 1}');
    assert.equal(exitSignal('{:EXIT, #PID<0.90.0>, :normal}'), '#PID<0.90.0>');
    assert.equal(exitSignal("{'EXIT',<0.90.0>,normal}"), '<0.90.0>');
    assert.equal(requestLabel('{:add, :apple, 5}'), 'add');
    assert.equal(requestLabel(':ping'), 'ping');
    assert.equal(requestLabel('{add,apple,5}'), 'add');
    for (const pid of ['<0.80.0>', '<cli@host.98.0>', '#PID<0.80.0>', '<12345.98.0>']) assert.equal(isPid(pid), true, pid);
    for (const text of ['<0.80>', 'pid', '#Ref<0.1.2.3>', '<<"0.1.2">>']) assert.equal(isPid(text), false, text);
  });

  it('truncateTerm keeps terms well formed in both syntaxes: at boundaries, inside strings, never inside an escape', () => {
    assert.equal(truncateTerm('{cart,[{apple,5},{pear,3},{fig,9}],#{owner => <<"ada">>}}', 24), '{cart,[{apple,5},...]}');
    assert.equal(truncateTerm('{msg,<<"a long text that goes on">>}', 20), '{msg,<<"a lon...">>}');
    assert.equal(truncateTerm('{msg,<<"tëxt tëxt tëxt tëxt"/utf8>>}', 24), '{msg,<<"tëxt..."/utf8>>}');
    assert.equal(truncateTerm('[1, 2, 3, 4, 5, 6, 7, 8]', 12), '[1, 2, ...]');
    assert.equal(truncateTerm('%{a: "xxxxxxxxxxxx", b: 2}', 18), '%{a: "xxxxxxx..."}');
    assert.equal(truncateTerm('<<"ab\\"cd\\"ef\\"gh">>', 12), '<<"ab...">>', 'not between the backslash and the quote of \\"');
    assert.equal(truncateTerm('<<"ab\\"cd\\"ef\\"gh">>', 14), '<<"ab\\"c...">>');
    assert.equal(truncateTerm('a long plain text without commas', 10), 'a long ...');
    const terms = [
      '{cart,[{apple,5},{pear,3},{fig,9}],#{owner => <<"ada">>,note => <<"x>>y, \\"z\\"">>}}',
      '%MyApp.Cart{items: [%{name: "apple", n: 5}, %{name: "pe,ar", n: 3}], owner: #PID<0.80.0>, tags: ~c"ab"}',
      '#Ecto.Changeset<action: nil, changes: %{password: "hunter2", name: "Ada"}, errors: [], valid?: true>',
      '{state,<<1,2,3,4,5,6,7,8,9,10>>,[<<"tëxt\\x{1F600}more"/utf8>>,\'Quoted atom\',"charlist"],{<cli@host.98.0>,#Ref<0.1.2.3>}}',
      '[password: "hunter2", items: [1, 2, 3], map: %{"k" => "v, w"}, bin: <<1, 2, 3>>]',
    ];
    for (const term of terms) {
      assert.notEqual(parseTerm(term), null, term);
      for (let max = 24; max < term.length; max++) {
        const t = truncateTerm(term, max);
        assert.ok(t.length <= max, `${t} within ${max}`);
        assert.notEqual(parseTerm(t), null, `${JSON.stringify(t)} (from ${max}) is well formed`);
        assert.ok(t.includes('...'), `${t} says it was cut`);
      }
      assert.equal(truncateTerm(term, term.length), term);
    }
  });
});
