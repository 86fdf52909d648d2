/**
 * A Map with a size bound: setting a new key beyond `max` evicts the oldest
 * entry (insertion order; `touch` moves a key to the newest end) and reports
 * it, so every eviction is counted by whoever owns the map.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(
    readonly max: number,
    private readonly onEvict: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    if (!this.map.has(key) && this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) {
        const evicted = this.map.get(oldest.value) as V;
        this.map.delete(oldest.value);
        this.onEvict(oldest.value, evicted);
      }
    }
    this.map.set(key, value);
  }

  /** Marks a key as recently used (least recently used entries are evicted first). */
  touch(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
  }
}
