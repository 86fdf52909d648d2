/**
 * `npm run fuzz`: the fuzz properties (test/fuzz/*.test.ts, built) with a
 * random seed, printed first, and many more runs than the normal test run.
 *
 *   npm run fuzz                                  seed random, runs x50
 *   SCOPE_FUZZ_SCALE=500 npm run fuzz             longer
 *   SCOPE_FUZZ_SEED=12345 npm run fuzz            replay a seed
 *   npm run fuzz -- --test-name-pattern=OTLP      node --test options pass through
 *
 * A failure prints the seed and fast-check's path: SCOPE_FUZZ_SEED and
 * SCOPE_FUZZ_PATH (with --test-name-pattern for the one property) replay it.
 * Under `node --test` (the normal run finds this file too) it does nothing.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEFAULT_SCALE = 50;

const self = fileURLToPath(import.meta.url);

if (process.env.NODE_TEST_CONTEXT === undefined && process.argv[1] !== undefined && join(process.argv[1]) === self) {
  const seed = process.env.SCOPE_FUZZ_SEED?.trim() || String(randomInt(0, 2 ** 31));
  const scale = process.env.SCOPE_FUZZ_SCALE?.trim() || String(DEFAULT_SCALE);
  const dir = dirname(self);
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f));
  console.log(`fuzz: seed ${seed}, runs x${scale}, ${files.length} files (replay: SCOPE_FUZZ_SEED=${seed} SCOPE_FUZZ_SCALE=${scale} npm run fuzz)`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...files], {
    stdio: 'inherit',
    env: { ...process.env, SCOPE_FUZZ_SEED: seed, SCOPE_FUZZ_SCALE: scale },
  });
  console.log(`fuzz: seed ${seed}, runs x${scale}: ${result.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(result.status ?? 1);
}
