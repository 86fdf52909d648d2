/**
 * Event-loop lag from Node's delay histogram. The histogram records the time
 * between its timer's runs, so an idle loop reads as the timer's period
 * (a 20 ms resolution reads 20 ms on a loop that never waits); the lag is
 * that less the period: how late the timer ran.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export class LoopLag {
  private readonly histogram: IntervalHistogram;

  constructor(private readonly resolutionMs: number) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }

  /** The longest lag since the last reset, in milliseconds. */
  maxMs(): number {
    return this.lag(this.histogram.max);
  }

  /** The lag at a percentile (0–100) since the last reset, in milliseconds. */
  percentileMs(p: number): number {
    return this.lag(this.histogram.percentile(p));
  }

  reset(): void {
    this.histogram.reset();
  }

  stop(): void {
    this.histogram.disable();
  }

  private lag(intervalNs: number): number {
    return Math.max(0, intervalNs / 1e6 - this.resolutionMs);
  }
}
