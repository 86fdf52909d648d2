/**
 * Refuses data while memory use is above a soft limit and accepts again below
 * it, as the Collector's memory_limiter does. The refusal goes back to the
 * receiver (which pushes back on its source or answers 429), so nothing
 * already in the pipeline is lost.
 */
import { getHeapStatistics } from 'node:v8';
import { totalmem } from 'node:os';
import type { OperatorFunction } from 'rxjs';
import type { ComponentContext, Processor, Refusal } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import type { Batch } from '../../model/types.js';
import type { MemoryLimiterConfig } from './config.js';

const MiB = 1024 * 1024;

export interface MemoryLimits {
  hardBytes: number;
  softBytes: number;
}

export function computeLimits(c: MemoryLimiterConfig, total = totalmem()): MemoryLimits {
  const hardBytes = c.limit_mib !== undefined ? c.limit_mib * MiB : Math.floor((total * (c.limit_percentage ?? 100)) / 100);
  const spikeBytes =
    c.spike_limit_mib !== undefined ? c.spike_limit_mib * MiB
      : c.spike_limit_percentage !== undefined ? Math.floor((total * c.spike_limit_percentage) / 100)
        : Math.floor(hardBytes * 0.2);
  return { hardBytes, softBytes: hardBytes - spikeBytes };
}

export function measureMemory(source: MemoryLimiterConfig['memory_source']): number {
  if (source === 'rss') return process.memoryUsage.rss();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * Measures, or undefined when the process cannot right now: reading the RSS
 * opens /proc/self/stat, which fails with EMFILE when every descriptor is in
 * use (a connection flood) — then the heap figures still answer.
 */
export function tryMeasureMemory(source: MemoryLimiterConfig['memory_source']): { used: number; error?: Error } | undefined {
  try {
    return { used: measureMemory(source) };
  } catch (error) {
    try {
      // process.memoryUsage() reads the RSS too; V8's own figures need no descriptor.
      const h = getHeapStatistics();
      return { used: h.used_heap_size + h.external_memory, error: error as Error };
    } catch {
      return undefined;
    }
  }
}

export class MemoryLimiter implements Processor {
  /** Data passes untouched: the work is done in admit(), before a batch enters the pipeline. */
  readonly operator: OperatorFunction<Batch, Batch> = (source) => source;
  private refusing = false;
  private lastUsed = 0;
  private timer?: NodeJS.Timeout;
  private readonly limits: MemoryLimits;
  private readonly intervalMs: number;
  private readonly refusal: Refusal;

  constructor(
    private readonly config: MemoryLimiterConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.limits = computeLimits(config);
    this.intervalMs = parseDuration(config.check_interval);
    this.refusal = { reason: 'memory_limit', retryable: true, retryAfterMs: this.intervalMs };
    const used = ctx.meter.createObservableGauge('scope_processor_memory_limiter_used_bytes', {
      unit: 'By', description: 'Memory use as the memory_limiter last measured it.',
    });
    used.addCallback((r) => r.observe(this.lastUsed, { processor: ctx.id }));
  }

  admit(_batch: Batch): Refusal | null {
    return this.refusing ? this.refusal : null;
  }

  /** Measures now; exposed so the first check does not wait a whole interval. */
  check(): void {
    const measured = this.measure();
    if (measured === undefined) return; // keep the last decision until it can measure again
    let used = measured;
    this.lastUsed = used;
    const mib = (n: number): number => Math.round(n / MiB);
    // Above the hard limit, or still above the soft one while refusing: collect now rather than when V8 would.
    // While everything is refused (receivers refuse before reading), little is allocated, so V8 may not collect
    // on its own for a long time and the garbage would keep the limiter refusing.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc && (used > this.limits.hardBytes || (this.refusing && used > this.limits.softBytes))) {
      gc();
      used = this.measure() ?? used;
      this.lastUsed = used;
    }
    if (!this.refusing && used > this.limits.softBytes) {
      this.refusing = true;
      this.ctx.logger.warn('memory above soft limit: refusing data', { used_mib: mib(used), soft_limit_mib: mib(this.limits.softBytes), hard_limit_mib: mib(this.limits.hardBytes) });
    } else if (this.refusing && used <= this.limits.softBytes) {
      this.refusing = false;
      this.ctx.logger.info('memory below soft limit again: accepting data', { used_mib: mib(used), soft_limit_mib: mib(this.limits.softBytes) });
    }
  }

  private measureFailed = false;

  /** Never throws: a failed measurement is logged once (and again after it recovered), the check skipped. */
  private measure(): number | undefined {
    const m = tryMeasureMemory(this.config.memory_source);
    if (m?.error || m === undefined) {
      if (!this.measureFailed) {
        this.measureFailed = true;
        this.ctx.logger.warn('memory_limiter cannot read memory use (heap figures used meanwhile)', { error: m?.error?.message ?? 'process.memoryUsage failed', source: this.config.memory_source });
      }
    } else if (this.measureFailed) {
      this.measureFailed = false;
      this.ctx.logger.info('memory_limiter reads memory use again');
    }
    return m?.used;
  }

  async start(): Promise<void> {
    this.check();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
