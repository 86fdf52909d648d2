import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandEnv } from '../../src/config/expand.js';

const env = { HOST: 'db.local', PORT: '4317', ON: 'true', EMPTY: '' };

describe('expandEnv', () => {
  const cases: Array<{ name: string; input: unknown; expected: unknown }> = [
    { name: '${env:VAR} inside a string', input: { url: 'http://${env:HOST}/x' }, expected: { url: 'http://db.local/x' } },
    { name: 'the default when the variable is unset', input: { v: '${env:MISSING:-fallback}' }, expected: { v: 'fallback' } },
    { name: 'the variable over its default when set', input: { v: '${env:HOST:-fallback}' }, expected: { v: 'db.local' } },
    { name: 'an empty default', input: { v: 'a${env:MISSING:-}b' }, expected: { v: 'ab' } },
    { name: '$$ as a literal $', input: { v: 'cost $$5 and $${env:HOST}' }, expected: { v: 'cost $5 and ${env:HOST}' } },
    { name: 'a whole-value reference as a number', input: { port: '${env:PORT}' }, expected: { port: 4317 } },
    { name: 'a whole-value reference as a boolean', input: { on: '${env:ON}' }, expected: { on: true } },
    { name: 'a whole-value default as a number', input: { n: '${env:MISSING:-42}' }, expected: { n: 42 } },
    { name: 'an embedded reference as a string', input: { endpoint: '127.0.0.1:${env:PORT}' }, expected: { endpoint: '127.0.0.1:4317' } },
    { name: 'two references in one string', input: { v: '${env:HOST}:${env:PORT}' }, expected: { v: 'db.local:4317' } },
    { name: 'a set but empty variable as an empty string', input: { v: '${env:EMPTY}' }, expected: { v: '' } },
    { name: 'non-strings untouched', input: { n: 1, b: false, z: null, s: 'plain' }, expected: { n: 1, b: false, z: null, s: 'plain' } },
    {
      name: 'nested maps and lists',
      input: { a: { b: ['x', '${env:PORT}', { c: '${env:HOST}' }] } },
      expected: { a: { b: ['x', 4317, { c: 'db.local' }] } },
    },
  ];
  for (const { name, input, expected } of cases) {
    it(`expands ${name}`, () => {
      const result = expandEnv(input, env);
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.value, expected);
    });
  }

  it('does not modify its input', () => {
    const input = { a: { b: ['${env:PORT}'] } };
    const copy = structuredClone(input);
    expandEnv(input, env);
    assert.deepEqual(input, copy);
  });

  it('reports an unset variable without default, naming the path and the variable', () => {
    const { problems } = expandEnv({ exporters: { otlp: { endpoint: '${env:NOPE}' } } }, {});
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^exporters\.otlp\.endpoint: environment variable NOPE is not set/);
  });

  it('reports unsupported references', () => {
    const { problems } = expandEnv({ a: '${foo}', b: '${file:/etc/x}' }, env);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^a: unsupported reference "\$\{foo\}"/);
    assert.match(problems[1], /^b: unsupported reference "\$\{file:\/etc\/x\}"/);
  });

  it('names list indexes and nested keys in problem paths (a.b[1])', () => {
    const { problems } = expandEnv({ a: { b: ['ok', '${env:NOPE}', { c: '${bad}' }] } }, {});
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^a\.b\[1\]: environment variable NOPE/);
    assert.match(problems[1], /^a\.b\[2\]\.c: unsupported reference/);
  });

  it('reports every problem, not only the first', () => {
    const { problems } = expandEnv({ x: '${env:A1} ${env:A2}', y: ['${env:A3}'] }, {});
    assert.deepEqual(problems.map((p) => p.split(':')[0]), ['x', 'x', 'y[0]']);
    assert.ok(problems.every((p) => /environment variable A\d is not set/.test(p)));
  });

  it('uses the given path prefix', () => {
    const { problems } = expandEnv({ k: '${env:NOPE}' }, {}, 'root');
    assert.match(problems[0], /^root\.k: /);
  });
});
