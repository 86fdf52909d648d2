/**
 * Seeds and run counts of the fuzz properties (test/fuzz/*.test.ts).
 *
 * In the normal test run every property uses the fixed seed below and its
 * base number of runs, so the run is deterministic and the whole fuzz set
 * stays within about 20 s on one core. `npm run fuzz` (test/fuzz/run.ts)
 * runs the same files with a random seed and many more runs:
 *
 *   SCOPE_FUZZ_SEED   the seed (a 32-bit integer, decimal or 0x hex); fixed by default
 *   SCOPE_FUZZ_SCALE  multiplies every property's number of runs (default 1)
 *   SCOPE_FUZZ_PATH   fast-check's replay path of a failure (with its seed, and
 *                     --test-name-pattern to run only the failing property)
 *
 * A failure prints fast-check's `seed` and `path`: set SCOPE_FUZZ_SEED (and
 * SCOPE_FUZZ_PATH) to those to replay it. This file defines no tests.
 */
import assert from 'node:assert/strict';
import fc, { type IAsyncProperty, type IProperty, type Parameters, type RunDetails } from 'fast-check';

/** The seed of the normal test run. */
export const DEFAULT_SEED = 0x5c09e;

function envNumber(name: string): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name}=${raw} is not a number`);
  return value;
}

export const FUZZ_SEED: number = (envNumber('SCOPE_FUZZ_SEED') ?? DEFAULT_SEED) | 0;
export const FUZZ_SCALE: number = Math.max(envNumber('SCOPE_FUZZ_SCALE') ?? 1, 0);
const FUZZ_PATH = process.env.SCOPE_FUZZ_PATH?.trim() || undefined;

/** `base` runs, times SCOPE_FUZZ_SCALE (at least 1). */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * FUZZ_SCALE));
}

/** fast-check parameters for a property of `base` runs in the normal test run. */
export function params<T>(base: number, extra: Parameters<T> = {}): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: runs(base), ...(FUZZ_PATH ? { path: FUZZ_PATH } : {}), ...extra };
}

/**
 * fc.assert with `base` runs (see params), failing with fast-check's report
 * (seed, path, counterexample) and the property's own error message in one,
 * as the test runner shows only the message.
 */
export function fuzz<Ts>(property: IProperty<Ts>, base: number, extra: Parameters<Ts> = {}): void {
  report(fc.check(property, params(base, extra)));
}

/** fuzz() for an async property. */
export async function fuzzAsync<Ts>(property: IAsyncProperty<Ts>, base: number, extra: Parameters<Ts> = {}): Promise<void> {
  report(await fc.check(property, params(base, extra)));
}

function report<Ts>(details: RunDetails<Ts>): void {
  if (!details.failed) return;
  const error = details.errorInstance;
  const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  throw new Error(`${fc.defaultReportMessage(details as RunDetails<unknown>) ?? ''}\nGot ${cause}\nReplay: SCOPE_FUZZ_SEED=${details.seed} SCOPE_FUZZ_PATH=${details.counterexamplePath ?? ''}`, { cause: error });
}

/** Counts what kind of input each run was, so a property can say its generator reached what it tests. */
export class Tally {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  expect(total: number, share: number, ...keys: string[]): void {
    if (total < 200) return;
    for (const k of keys) {
      const n = this.counts.get(k) ?? 0;
      assert.ok(n >= total * share, `only ${n} of ${total} runs were "${k}": ${JSON.stringify(Object.fromEntries(this.counts))}`);
    }
  }
}
