/**
 * A map whose entries expire after a fixed time and whose size is bounded: the oldest entry goes
 * first when it is full, so a flood of distinct keys (random tokens) costs memory up to the bound and
 * no more. Concurrent look-ups of one missing key share one computation (one review, not a hundred).
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private readonly pending = new Map<string, Promise<V>>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: (value: V) => number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.until > this.now()) return hit.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: V): void {
    const ttl = this.ttlMs(value);
    if (ttl <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until: this.now() + ttl });
  }

  /** The cached value, or `compute()`'s, cached; a failed computation is not cached. */
  async getOrCompute(key: string, compute: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    let running = this.pending.get(key);
    if (!running) {
      running = compute().then(
        (value) => {
          this.pending.delete(key);
          this.set(key, value);
          return value;
        },
        (err: unknown) => {
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, running);
    }
    return running;
  }
}
