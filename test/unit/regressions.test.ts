/** Problems found in review of the core, each pinned by a test. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { expandEnv } from '../../src/config/expand.js';
import { parseEndpoint } from '../../src/config/units.js';
import { renderBatch } from '../../src/exporters/debug/render.js';
import { ScopeError } from '../../src/util/errors.js';

const base = (extra: string): string => `
receivers: {jsonl: {path: a}}
exporters: {debug: {}}
service: {pipelines: {p: {receivers: [jsonl], exporters: [debug]}}}
${extra}`;

function problems(yaml: string): string[] {
  try {
    loadConfig({ yaml: [yaml], env: {} });
    return [];
  } catch (error) {
    assert.ok(error instanceof ScopeError);
    return [...error.problems];
  }
}

describe('regressions', () => {
  it('checks sizes given as numbers or booleans at load time', () => {
    assert.deepEqual(problems(base('').replace('path: a', 'path: a, max_line_bytes: -5')), ['receivers.jsonl.max_line_bytes: must be >= 1']);
    assert.equal(problems(base('').replace('path: a', 'path: a, max_line_bytes: 4096')).length, 0);
    assert.match(problems(base('').replace('path: a', 'path: a, max_line_bytes: lots'))[0], /receivers\.jsonl\.max_line_bytes: must be a size/);
  });

  it('takes a YAML 0 for a duration that documents 0', () => {
    assert.deepEqual(problems(base('processors: {batch: {timeout: 0}}').replace('exporters: [debug]', 'processors: [batch], exporters: [debug]')), []);
    assert.deepEqual(problems(base('').replace('debug: {}', 'debug: {retry_on_failure: {max_elapsed_time: 0}}')), []);
    assert.match(problems(base('processors: {batch: {timeout: 5}}'))[0], /processors\.batch\.timeout: must match duration/);
  });

  it('keeps a whole-value env reference verbatim unless it is exactly a number or boolean', () => {
    assert.deepEqual(expandEnv({ p: '${env:P}' }, { P: 'pa ss #1' }).value, { p: 'pa ss #1' });
    assert.deepEqual(expandEnv({ p: '${env:P}' }, { P: '"q"' }).value, { p: '"q"' });
    assert.deepEqual(expandEnv({ p: '${env:P}', b: '${env:B}' }, { P: '4317', B: 'true' }).value, { p: 4317, b: true });
    assert.deepEqual(expandEnv({ p: '${env:P}' }, { P: '0x10' }).value, { p: '0x10' });
  });

  it('refuses ports above 65535', () => {
    assert.throws(() => parseEndpoint(':99999'), /port must be 0-65535/);
    assert.match(problems(base('').replace('service: {', 'service: {telemetry: {metrics: {endpoint: ":99999"}}, '))[0], /service\.telemetry\.metrics\.endpoint: must be host:port/);
  });

  it('keeps one line per item in normal text even when a value holds a newline', () => {
    const text = renderBatch({
      events: [{ id: 'e', type: 'custom.x', schemaVersion: 1, time: 1n, source: { node: 'n', component: 'c' }, attributes: { m: 'a\nb' } }],
      spans: [], metrics: [],
    }, 'text', 'normal');
    assert.equal(text.split('\n').filter(Boolean).length, 1);
    assert.match(text, /m="a\\nb"/);
  });
});
