/**
 * The live window: the recent events and spans that left the pipelines'
 * processors, in their JSON-lines form, bounded by age and by bytes. The
 * oldest go first; every eviction is counted by reason.
 */
import { eventToJson, spanToJson } from '../../model/jsonl.js';
import type { Batch } from '../../model/types.js';

interface Entry {
  atMs: number;
  /** The item's time (Unix ns): what `since` filters on. */
  timeNs: bigint;
  line: string;
}

export class LiveWindow {
  private entries: Entry[] = [];
  private head = 0;
  bytes = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxBytes: number,
    private readonly evicted: (count: number, reason: 'age' | 'max_size') => void,
  ) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  add(batch: Batch, nowMs: number): void {
    for (const e of batch.events) this.push({ atMs: nowMs, timeNs: e.time, line: eventToJson(e) });
    for (const s of batch.spans) this.push({ atMs: nowMs, timeNs: s.startTimeUnixNano, line: spanToJson(s) });
    this.evict(nowMs);
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entry.line.length + 1;
  }

  evict(nowMs: number): void {
    let byAge = 0;
    let bySize = 0;
    while (this.head < this.entries.length) {
      const e = this.entries[this.head];
      const old = nowMs - e.atMs > this.windowMs;
      if (!old && this.bytes <= this.maxBytes) break;
      if (old) byAge++;
      else bySize++;
      this.bytes -= e.line.length + 1;
      this.head++;
    }
    if (byAge > 0) this.evicted(byAge, 'age');
    if (bySize > 0) this.evicted(bySize, 'max_size');
    // Compact once the evicted head is most of the array.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** JSON lines of every item whose time is at or after `sinceNs`, oldest first. */
  *lines(sinceNs: bigint): Generator<string> {
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e.timeNs >= sinceNs) yield e.line;
    }
  }
}
