import { createHash } from 'node:crypto';
import { authenticate } from '../lib/auth/tokens.js';
import type { Principal } from '../lib/auth/tokens.js';
import type { Queryable } from '../lib/db/pool.js';

export interface TokenCacheOptions {
  /** How long a known token is trusted without asking the database; a revocation takes this long to bite. @default 30000 */
  ttlMs?: number;
  /** How long an unknown token stays unknown (short: a token issued just after a miss works soon). @default 5000 */
  negativeTtlMs?: number;
  /** Tokens remembered; the least recently used is forgotten first. @default 1000 */
  max?: number;
  /** @default Date.now */
  now?: () => number;
}

interface Entry {
  lookup: Promise<Principal | undefined>;
  expires: number;
}

/**
 * Token lookups with a short memory, so authenticating is not a database round trip per request. Keyed by the
 * token's SHA-256 (the cache never holds a token); concurrent lookups of one token share one query; a failed
 * query is not remembered.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Queryable,
    options: TokenCacheOptions = {}
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.max = options.max ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The live principal of `token`, or undefined. */
  lookup(token: string): Promise<Principal | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.now();
    const cached = this.entries.get(key);
    if (cached && cached.expires > now) {
      // Most recently used last: Map keeps insertion order, so the first key is the one to evict.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.lookup;
    }
    const entry: Entry = { lookup: authenticate(this.db, token), expires: now + this.ttlMs };
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    entry.lookup.then(
      (principal) => {
        if (!principal) entry.expires = Math.min(entry.expires, this.now() + this.negativeTtlMs);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      }
    );
    return entry.lookup;
  }

  clear(): void {
    this.entries.clear();
  }
}
