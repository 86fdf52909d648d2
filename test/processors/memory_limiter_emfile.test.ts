/**
 * memory_limiter never throws: with every file descriptor in use (a
 * connection flood), reading the RSS fails with EMFILE; the limiter logs it
 * once, keeps deciding on the heap figures, and recovers when descriptors are
 * free again. Run in a child process under `ulimit -n 64`, with real
 * descriptors exhausted, so the test runner itself keeps its own.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

const script = `
import { openSync, closeSync } from 'node:fs';
import { metrics } from '@opentelemetry/api';
import { MemoryLimiter } from ${JSON.stringify(join(ROOT, 'build/src/processors/memory_limiter/memory_limiter.js'))};
const logs = [];
const logger = { debug() {}, info: (m) => logs.push('info ' + m), warn: (m, f) => logs.push('warn ' + m + ' ' + (f?.error ?? '')), error: (m) => logs.push('error ' + m), child() { return logger; } };
const limiter = new MemoryLimiter({ check_interval: '1s', limit_mib: 100000, memory_source: 'rss' }, { id: 'memory_limiter', logger, meter: metrics.getMeter('t') });
const fds = [];
let emfile = false;
try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { emfile = e.code === 'EMFILE'; }
let rssThrows = false;
try { process.memoryUsage.rss(); } catch { rssThrows = true; }
let threw = null;
try { limiter.check(); limiter.check(); } catch (e) { threw = String(e); }
const refusingWhileFull = limiter.admit({ events: [], spans: [], metrics: [] });
for (const fd of fds) closeSync(fd);
limiter.check();
console.log(JSON.stringify({ emfile, rssThrows, threw, refusingWhileFull, logs }));
`;

it('memory_limiter keeps working when every descriptor is taken (EMFILE reading the RSS)', () => {
  const r = spawnSync('bash', ['-c', 'ulimit -n 64; exec node --input-type=module -e "$SCRIPT"'], {
    env: { ...process.env, SCRIPT: script }, encoding: 'utf8', cwd: ROOT, timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { emfile: boolean; rssThrows: boolean; threw: string | null; refusingWhileFull: unknown; logs: string[] };
  assert.equal(out.emfile, true, 'the descriptors were exhausted');
  assert.equal(out.rssThrows, true, 'reading the RSS really fails then (the condition under test)');
  assert.equal(out.threw, null);
  assert.equal(out.refusingWhileFull, null, 'far below its limit on the heap figures: still admitting');
  assert.equal(out.logs.filter((l) => l.startsWith('warn memory_limiter cannot read')).length, 1, `logged once: ${out.logs.join(' | ')}`);
  assert.ok(out.logs.some((l) => /EMFILE|too many open files/i.test(l)), out.logs.join(' | '));
  assert.ok(out.logs.includes('info memory_limiter reads memory use again'));
});
