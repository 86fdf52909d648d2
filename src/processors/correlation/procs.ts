/**
 * The processes being followed, by node and pid. Looked up once or twice per
 * event, so without building a `node|pid` key (a concatenated string is
 * flattened and hashed on every lookup: a sixth of correlation's time on the
 * trace port). Beyond the bound the least recently active is evicted, to
 * within a quarter of the bound: an active process moves to the newest end
 * only once a quarter of the bound was added after it, not on every event.
 */
import { BoundedMap } from '../../util/bounded.js';
import type { Proc } from './state.js';

export class ProcTable {
  /** By key, oldest (least recently moved) first: the eviction order. */
  private readonly order: BoundedMap<string, Proc>;
  private readonly byNode = new Map<string, Map<string, Proc>>();
  private appends = 0;

  constructor(max: number, onEvict: (proc: Proc) => void) {
    this.order = new BoundedMap(max, (_key, proc) => {
      this.unindex(proc);
      onEvict(proc);
    });
  }

  get size(): number {
    return this.order.size;
  }

  get(node: string, pid: string): Proc | undefined {
    return this.byNode.get(node)?.get(pid);
  }

  add(proc: Proc): void {
    this.order.set(proc.key, proc);
    proc.movedAt = ++this.appends;
    let pids = this.byNode.get(proc.node);
    if (!pids) this.byNode.set(proc.node, (pids = new Map()));
    pids.set(proc.pid, proc);
  }

  /** The process was active: it is evicted after the ones that were not (see the top). */
  touch(proc: Proc): void {
    if (this.appends - (proc.movedAt ?? 0) <= this.order.max >> 2) return;
    this.order.touch(proc.key, proc);
    proc.movedAt = ++this.appends;
  }

  delete(proc: Proc): void {
    if (this.order.delete(proc.key)) this.unindex(proc);
  }

  values(): IterableIterator<Proc> {
    return this.order.values();
  }

  clear(): void {
    this.order.clear();
    this.byNode.clear();
  }

  private unindex(proc: Proc): void {
    const pids = this.byNode.get(proc.node);
    if (pids?.get(proc.pid) !== proc) return;
    pids.delete(proc.pid);
    if (pids.size === 0) this.byNode.delete(proc.node);
  }
}
