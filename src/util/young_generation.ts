/**
 * How large V8's young generation may grow, chosen from the daemon's
 * configuration and its load.
 *
 * The command's shebang starts Node with `--max-semi-space-size=64`:
 * beam_trace_port's events live across a batch, and with a smaller young
 * generation the scavenger copies them again and again (decode + map at about
 * half the rate; bench/README.md, etf-decode). V8 fixes that maximum when the
 * process starts, and the young generation grows towards it under any steady
 * allocation: an OTLP load of 10 k spans/s, which gains nothing from it, sits
 * at about 230 MiB RSS after 20 s instead of about 95 MiB with 8 MiB
 * semi-spaces (bench/README.md, otlp-ingest).
 *
 * V8 cannot lower the maximum once running, but it grows the young generation
 * only at a scavenge, by `--semi-space-growth-factor`, a flag it reads each
 * time. So the young generation can be held: growth switched off (factor 1)
 * while it is at or above 8 MiB semi-spaces, and back on (its default, 2)
 * below. 8 MiB holds the spans the batch processor keeps for its 200 ms
 * timeout at 10 k spans/s without promoting them, now that the OTLP
 * receiver allocates about 2.6 KB per 20-attribute span (it was 4.8 KB,
 * and then 8 MiB promoted them and the old generation saw-toothed). The
 * check runs after every garbage collection, in the next turn of the event
 * loop: one step of growth can slip
 * past it within a single long synchronous task, never past the command's
 * 64 MiB.
 *
 * Held, a heavier load pays in collections: at 25 k spans/s and more objects
 * outlive the smaller young generation and are promoted, and the old
 * generation's collections cost more CPU per span (at 25 k spans/s, 17 µs
 * instead of 11). So in `auto` the hold is released once collection pauses
 * take more than 4 % of 5 s (an OTLP load of 10 k spans/s held stays below),
 * and taken up again when V8 itself has shrunk the young generation below the hold
 * (it does when allocation falls off), no sooner than a minute later.
 *
 * `service.young_generation`: `auto` (the default) holds it unless a
 * beam_trace_port receiver is configured; `held` holds it whatever the load;
 * `large` never holds it.
 */
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The semi-space size the young generation is held to. */
export const CAPPED_SEMI_SPACE_MIB = 8;

/** Receiver types whose throughput needs the command's full 64 MiB semi-spaces. */
const LARGE_YOUNG_GENERATION = new Set(['beam_trace_port']);

/** In `auto`: the share of wall time in collection pauses, over the window, above which the hold is released. */
const RELEASE_ABOVE_GC_SHARE = 0.04;
const GC_WINDOW_MS = 5000;
/** Released, the hold is not taken up again sooner than this (a pause in the load is not its end). */
const RELEASED_AT_LEAST_MS = 60_000;

/** The parts of a configuration the choice reads (a resolved one, or a document before defaults). */
export interface YoungGenerationConfig {
  receivers?: Record<string, unknown>;
  service?: { young_generation?: 'auto' | 'large' | 'held' };
}

/**
 * Whether a configuration needs the large young generation:
 * `service.young_generation` large or held, else (auto) whether a receiver is
 * a beam_trace_port (ids are `type` or `type/name`).
 */
export function needsLargeYoungGeneration(config: YoungGenerationConfig): boolean {
  const choice = config.service?.young_generation ?? 'auto';
  if (choice !== 'auto') return choice === 'large';
  return Object.keys(config.receivers ?? {}).some((id) => LARGE_YOUNG_GENERATION.has(id.split('/')[0]));
}

/** The young generation's capacity now (both semi-spaces), in bytes. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

export interface HoldOptions {
  /** Release the hold when collection pauses take more than this share of the window (Infinity: never). */
  releaseAboveGcShare?: number;
  windowMs?: number;
  /** Once released, not held again sooner than this. */
  releasedAtLeastMs?: number;
}

/**
 * Holds the young generation at `semiSpaceMiB` semi-spaces from now on (it
 * keeps what it already has if larger, until V8 shrinks it), released while
 * collections take more than `releaseAboveGcShare` of the time. Returns the
 * function that stops holding it.
 */
export function capYoungGeneration(semiSpaceMiB = CAPPED_SEMI_SPACE_MIB, options: HoldOptions = {}): () => void {
  const cap = 2 * semiSpaceMiB * 2 ** 20;
  const releaseAbove = options.releaseAboveGcShare ?? Infinity;
  const windowMs = options.windowMs ?? GC_WINDOW_MS;
  const since = performance.now();
  /** Growth switched off now. */
  let holding = false;
  /** Collections took too long while held: V8 may grow it until it shrinks below the hold again, no sooner than `releasedUntil`. */
  let released = false;
  let releasedUntil = 0;
  /** Pauses in the window: end time and duration, ms. */
  const pauses: Array<[number, number]> = [];
  let paused = 0;
  const setHolding = (hold: boolean): void => {
    if (hold === holding) return;
    holding = hold;
    setFlagsFromString(hold ? '--semi-space-growth-factor=1' : '--semi-space-growth-factor=2');
  };
  const check = (entries: readonly PerformanceEntry[]): void => {
    const size = youngGenerationBytes();
    if (released) {
      if (size < cap && performance.now() >= releasedUntil) released = false;
    } else if (releaseAbove !== Infinity) {
      for (const e of entries) {
        pauses.push([e.startTime + e.duration, e.duration]);
        paused += e.duration;
      }
      const now = performance.now();
      while (pauses.length > 0 && pauses[0][0] < now - windowMs) paused -= (pauses.shift() as [number, number])[1];
      if (now - since >= windowMs && paused > releaseAbove * windowMs) {
        released = true;
        releasedUntil = now + (options.releasedAtLeastMs ?? RELEASED_AT_LEAST_MS);
        pauses.length = 0;
        paused = 0;
      }
    }
    setHolding(!released && size >= cap);
  };
  check([]);
  const observer = new PerformanceObserver((list) => check(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    setHolding(false);
  };
}

/** The command's policy: held unless the config needs the large young generation; released under heavy load in auto. */
export function sizeYoungGeneration(config: YoungGenerationConfig): 'large' | 'held' {
  if (needsLargeYoungGeneration(config)) return 'large';
  const whateverTheLoad = config.service?.young_generation === 'held';
  capYoungGeneration(CAPPED_SEMI_SPACE_MIB, { releaseAboveGcShare: whateverTheLoad ? Infinity : RELEASE_ABOVE_GC_SHARE });
  return 'held';
}
