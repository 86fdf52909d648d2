/**
 * Tests leave nothing in the temp directory (issue 19 item 9): the modules
 * compiled for a test file's erl nodes live until its process exits, then go.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

it('compiled test modules are removed when the test process exits', () => {
  const script = `import(${JSON.stringify(join(ROOT, 'build/test/beam/erl.js'))}).then(({ compileErlang }) => {
    const dir = compileErlang('workload');
    console.log(JSON.stringify({ dir, beams: require('node:fs').readdirSync(dir) }));
  });`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const { dir, beams } = JSON.parse(out) as { dir: string; beams: string[] };
  assert.deepEqual(beams, ['workload.beam'], 'compiled while the process ran');
  assert.equal(existsSync(dir), false, `${dir} left behind`);
  assert.match(dir, /scope-erl-/);
  assert.ok(!readdirSync(join(dir, '..')).includes(dir.split('/').pop() ?? ''));
});
