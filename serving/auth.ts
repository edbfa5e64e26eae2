import * as crypto from 'node:crypto';
import { authenticate } from '../lib/auth/tokens.js';
import type { Principal } from '../lib/auth/tokens.js';
import type { Queryable } from '../lib/db/pool.js';

export interface TokenCacheOptions {
  /**
   * How long a known token is trusted without asking the database. A revocation is announced at once
   * (watchRevocations); this bounds how late one bites while that announcement cannot arrive. @default 30000
   */
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
  /** The lookup's answer once it has one. */
  settled?: { principal: Principal | undefined };
  expires: number;
  /** When it was last used (a counter): the least recently used entry is forgotten first. */
  used: number;
}

/**
 * What one connection remembers of the token it presented last: the cache entry it was found under. Kept by the
 * caller on the connection (it goes with it); see `TokenCache.checkRemembered`.
 */
export interface TokenMemo {
  token?: string;
  entry?: Entry;
  generation?: number;
}

/** SHA-256 in hex: one call where node has `crypto.hash` (20.12), a Hash object otherwise. */
const sha256: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * Token lookups with a short memory, so authenticating is not a database round trip per request. Keyed by the
 * token's SHA-256 (the cache never holds a token); concurrent lookups of one token share one query; a failed
 * query is not remembered.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  /** Bumped whenever entries are dropped (revocation, eviction, clear): a remembered entry may be stale then. */
  private generation = 0;
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
    return this.entry(token).lookup;
  }

  /**
   * `lookup` without a promise when the answer is already known (a cached token: most requests): `{ principal }`
   * then, else the lookup under way.
   */
  check(token: string): { principal: Principal | undefined } | Promise<Principal | undefined> {
    const entry = this.entry(token);
    return entry.settled ?? entry.lookup;
  }

  /**
   * `check` for a caller that presents the same token again and again (a keep-alive connection: the same header on
   * every request): `memo` keeps the entry a settled answer came from, and answers the next call with that token
   * without hashing it, while the entry holds (not expired, nothing dropped from the cache since).
   */
  checkRemembered(
    token: string,
    memo: TokenMemo
  ): { principal: Principal | undefined } | Promise<Principal | undefined> {
    const remembered = memo.entry;
    if (
      remembered !== undefined &&
      memo.token === token &&
      memo.generation === this.generation &&
      remembered.expires > this.now()
    ) {
      remembered.used = ++this.clock;
      return remembered.settled!;
    }
    const entry = this.entry(token);
    if (entry.settled) {
      memo.token = token;
      memo.entry = entry;
      memo.generation = this.generation;
    }
    return entry.settled ?? entry.lookup;
  }

  private entry(token: string): Entry {
    const key = sha256(token);
    const now = this.now();
    const cached = this.entries.get(key);
    if (cached && cached.expires > now) {
      // A use stamp, not a move to the end of the map: deleting and re-adding a key on every request churns the
      // map's tables, garbage that lives long enough to be promoted and collected by full GCs.
      cached.used = ++this.clock;
      return cached;
    }
    const entry: Entry = { lookup: authenticate(this.db, token), expires: now + this.ttlMs, used: ++this.clock };
    this.entries.set(key, entry);
    if (this.entries.size > this.max) this.evict();
    entry.lookup.then(
      (principal) => {
        entry.settled = { principal };
        if (!principal) entry.expires = Math.min(entry.expires, this.now() + this.negativeTtlMs);
      },
      () => {
        if (this.entries.get(key) === entry) this.drop(key);
      }
    );
    return entry;
  }

  /** Forgets the least recently used entries beyond `max` (a scan: it runs on a miss, which asks the database). */
  private evict(): void {
    while (this.entries.size > this.max) {
      let oldest: string | undefined;
      let used = Infinity;
      for (const [key, entry] of this.entries) {
        if (entry.used < used) {
          used = entry.used;
          oldest = key;
        }
      }
      this.drop(oldest!);
    }
  }

  private drop(key: string): void {
    this.entries.delete(key);
    this.generation++;
  }

  clear(): void {
    this.entries.clear();
    this.generation++;
  }

  /**
   * Forgets a revoked token (its id), or everything (no id). Lookups still under way are forgotten too: one may have
   * read the row before the revocation.
   */
  forget(tokenId?: string): void {
    if (tokenId === undefined) return this.clear();
    for (const [key, entry] of this.entries)
      if (!entry.settled || entry.settled.principal?.tokenId === tokenId) this.drop(key);
  }
}
