/**
 * Lookups the online server keeps, by key: for `ttlMs` (an alias's resolution, which moves), or for good (a version,
 * which never changes; `ttlMs` Infinity). A failed lookup is not kept: the next request asks again. At most `max` are
 * kept; past that the cache starts over.
 */
export class Lookups<T> {
  private readonly kept = new Map<string, { at: number; value: Promise<T> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000
  ) {}

  get(key: string, lookup: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const cached = this.kept.get(key);
    if (cached && now - cached.at < this.ttlMs) return cached.value;
    const value = lookup();
    value.catch(() => this.kept.delete(key));
    if (this.kept.size >= this.max) this.kept.clear();
    this.kept.set(key, { at: now, value });
    return value;
  }
}
