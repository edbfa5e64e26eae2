// Online feature lookup: a served model's feature view values for the entities of a request, as of the request's
// time, under the same rules as the point-in-time join that made its training rows.
import { CairnError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { connectRedis, decodeOnline, onlineKey } from './online.js';
import type { OnlineStoreSettings, Redis } from './online.js';
import type { FeatureView } from './view.js';

/** What a model package records of a feature view it was trained with: enough to look its values up online. */
export interface PackagedFeatureView {
  name: string;
  /** The definition's digest: the online values of this version only. */
  digest: string;
  entities: string[];
  /** The row column that gives the time features are looked up as of (the label time in training). */
  at: string;
  ttl: string;
  ttlMs: number;
  missing: 'default' | 'error';
  defaults: Record<string, number>;
  features: string[];
}

export function packagedView(view: FeatureView, at: string): PackagedFeatureView {
  return {
    name: view.name,
    digest: view.digest,
    entities: view.entities,
    at,
    ttl: view.ttl,
    ttlMs: view.ttlMs,
    missing: view.missing,
    defaults: view.defaults,
    features: view.features.map((f) => f.name),
  };
}

/**
 * How a row's values of a view were found: `fresh` (its entity's latest event at or before the row's time, within
 * the TTL), `stale` (older than the TTL), `missing` (no event, or only a later one). Stale and missing values are
 * the view's defaults (`filled`), or the row is refused (`missing: 'error'`).
 */
export interface ViewLookup {
  status: 'fresh' | 'stale' | 'missing';
  /** When the values were true (ISO 8601), for fresh and stale values. */
  asOf?: string;
  /** The defaults were used. */
  filled?: true;
}

export interface LookupProblem {
  field: string;
  row: number;
  message: string;
}

/** The request cannot be looked up: a bad entity or time (`status` 400), or a refused value (422, the view's policy). */
export class FeatureLookupError extends CairnError {
  override readonly name = 'FeatureLookupError';
  readonly type = 'FeatureLookupError';
  constructor(
    readonly status: 400 | 422,
    readonly problems: LookupProblem[]
  ) {
    super(problems.map((p) => `${p.field} (row ${p.row}): ${p.message}`).join('; '));
  }
}

function entityParts(view: PackagedFeatureView, row: Record<string, unknown>, i: number, problems: LookupProblem[]) {
  return view.entities.map((column) => {
    const v = row[column];
    if (typeof v === 'string' && v.length) return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    problems.push({ field: column, row: i, message: `entity key of feature view ${view.name}: expected a string` });
    return '';
  });
}

function timeOf(
  view: PackagedFeatureView,
  row: Record<string, unknown>,
  i: number,
  now: number,
  problems: LookupProblem[]
) {
  const v = row[view.at];
  if (v === undefined) return now;
  const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) problems.push({ field: view.at, row: i, message: 'expected a time (ISO 8601 or ms)' });
  return t;
}

/**
 * Adds each view's feature values to each row (in place), looked up in one MGET: for a row at time t (its `at`
 * column, else `now`), the entity's stored values if their event is at or before t and no older than the TTL. A
 * value that is not a number gets the default, as in training. Returns how each row's values were found, by view.
 */
export async function lookupFeatures(
  redis: Redis,
  prefix: string,
  views: readonly PackagedFeatureView[],
  rows: Record<string, unknown>[],
  now: number
): Promise<Record<string, ViewLookup>[]> {
  const problems: LookupProblem[] = [];
  const keys: string[] = [];
  const times: number[] = [];
  for (const view of views)
    for (let i = 0; i < rows.length; i++) {
      keys.push(onlineKey(prefix, view, entityParts(view, rows[i]!, i, problems)));
      times.push(timeOf(view, rows[i]!, i, now, problems));
    }
  if (problems.length) throw new FeatureLookupError(400, problems);
  const found = await redis.mGet(keys);
  const out = rows.map((): Record<string, ViewLookup> => ({}));
  let k = 0;
  for (const view of views)
    for (let i = 0; i < rows.length; i++, k++) {
      const text = found[k];
      const stored = text === null || text === undefined ? undefined : decodeOnline(String(text));
      const t = times[k]!;
      const status = !stored || stored.time > t ? 'missing' : t - stored.time > view.ttlMs ? 'stale' : 'fresh';
      const lookup: ViewLookup = { status };
      if (stored && status !== 'missing') lookup.asOf = new Date(stored.time).toISOString();
      if (status !== 'fresh') {
        if (view.missing === 'error') {
          problems.push({
            field: view.entities.join('+'),
            row: i,
            message: `feature view ${view.name} has ${status === 'stale' ? `only a value older than its TTL ${view.ttl}` : 'no value'} for ${JSON.stringify(view.entities.map((c) => rows[i]![c]))} at ${new Date(t).toISOString()}`,
          });
          continue;
        }
        lookup.filled = true;
      }
      const row = rows[i]!;
      view.features.forEach((name, f) => {
        const v = status === 'fresh' ? stored!.values[f]! : NaN;
        row[name] = Number.isNaN(v) ? (view.defaults[name] ?? 0) : v;
      });
      out[i]![view.name] = lookup;
    }
  if (problems.length) throw new FeatureLookupError(422, problems);
  return out;
}

/**
 * `lookupFeatures` on the online store, connected on first use (a server whose models use no feature views never
 * connects); a failed connection is tried again by the next request.
 */
export function onlineFeatureLookup(settings: OnlineStoreSettings, logger: Logger) {
  let redis: Promise<Redis> | undefined;
  return {
    async lookup(views: readonly PackagedFeatureView[], rows: Record<string, unknown>[], now: number) {
      redis ??= connectRedis(settings.url, logger).catch((err: unknown) => {
        redis = undefined;
        throw err;
      });
      return lookupFeatures(await redis, settings.prefix, views, rows, now);
    },
    async close() {
      const open = await redis?.catch(() => undefined);
      open?.destroy();
    },
  };
}
