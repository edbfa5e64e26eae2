import { z } from 'zod';
import { stickyPoint } from './model-set.js';
import { HttpError } from './requests.js';

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

/** The fields of a request that picks a version (render, search): an alias or a number, and a sticky key. */
export const versionChoice = {
  /** Which version: an alias (default `production`) or a version number. */
  alias: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .optional(),
  version: z.number().int().positive().optional(),
  /** Routes every request with the same key to the same version while the alias has a canary. */
  key: z.string().min(1).max(256).optional(),
};

/** What an alias serves: its stable version, and a canary taking `weight` of the requests. */
export interface Route<V> {
  stable: V;
  canary?: V;
  weight: number;
}

/**
 * The version a request gets: the one it names by number, or what its alias (default `production`) serves. During a
 * canary the request's sticky key (`key` in the body, else the x-cairn-key header; none: chance) picks the side.
 */
export async function chooseVersion<V>(
  choice: { alias?: string | undefined; version?: number | undefined; key?: string | undefined },
  headerKey: string | string[] | undefined,
  byVersion: (version: number) => Promise<V>,
  byAlias: (alias: string) => Promise<Route<V>>
): Promise<{ version: V; alias?: string; served?: 'stable' | 'canary' }> {
  if (choice.alias !== undefined && choice.version !== undefined)
    throw new HttpError(400, 'send either "alias" or "version", not both', {
      problems: [{ field: 'version', message: 'not allowed beside alias' }],
    });
  if (choice.version !== undefined) return { version: await byVersion(choice.version) };
  const alias = choice.alias ?? 'production';
  const route = await byAlias(alias);
  if (!route.canary) return { version: route.stable, alias };
  const key = choice.key ?? (typeof headerKey === 'string' ? headerKey : undefined);
  const canary = (key === undefined ? Math.random() : stickyPoint(key)) < route.weight;
  return { version: canary ? route.canary : route.stable, alias, served: canary ? 'canary' : 'stable' };
}
