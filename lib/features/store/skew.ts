// Online/offline consistency: sampled entities' online values against the offline snapshot's values at the same
// event time. A difference is training/serving skew: the model is served other features than it was trained on.
import type { ArtifactStore } from '../../artifacts/index.js';
import type { Queryable } from '../../db/pool.js';
import { readSnapshot, snapshotShape } from './offline.js';
import type { FeatureSnapshot } from './offline.js';
import { onlineStoreName, readOnline } from './online.js';
import type { OnlineStoreSettings, Redis, ViewVersion } from './online.js';
import { lastMaterialization, latestSnapshot } from './registry.js';
import { entityKeys } from './view.js';
import type { FeatureRows } from './view.js';

export interface SkewExample {
  entity: string[];
  /** The online value's event time (ISO 8601). */
  time: string;
  feature: string;
  online: number | null;
  /** The offline value at that time; null when the offline store has no event then. */
  offline: number | null;
}

/** What a consistency check found for one view. */
export interface FeatureSkew {
  view: string;
  /** The view definition's digest: whose online values were read. */
  digest: string;
  /** The offline snapshot compared against. */
  snapshot: string;
  /** Entities sampled from the snapshot. */
  sampled: number;
  /** Sampled entities with an online value, compared with the offline value at its event time. */
  compared: number;
  /** Sampled entities with an offline event by the last online write but no online value. */
  missingOnline: number;
  /** Compared entities whose online values differ from the offline ones (or have no offline event at that time). */
  skewed: number;
  /** Largest absolute difference among the compared values (0 when none differ). */
  maxAbsDiff: number;
  /** Up to 5 differing values, for the report. */
  examples: SkewExample[];
}

const same = (a: number, b: number) =>
  (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/**
 * Compares up to `sample` entities of a snapshot (evenly spread over its entities in key order, so a check is
 * repeatable) with the online store: each online value must equal the snapshot's row at the online value's event
 * time, value for value. `writtenAsOf` is the time of the last online write (entities with events by then must be
 * online).
 */
export async function featureSkew(
  redis: Redis,
  prefix: string,
  view: ViewVersion & { features: readonly string[] },
  snapshot: { digest: string; rows: FeatureRows; ids: Map<string, number> },
  options: { sample?: number; writtenAsOf?: number } = {}
): Promise<FeatureSkew> {
  const { rows, ids } = snapshot;
  const keys = entityKeys(ids);
  // Each entity's rows: [first, end) in the (entity, time) order of `rows`.
  const first = new Int32Array(keys.length).fill(-1);
  const end = new Int32Array(keys.length);
  for (let i = 0; i < rows.entity.length; i++) {
    const e = rows.entity[i]!;
    if (first[e] === -1) first[e] = i;
    end[e] = i + 1;
  }
  const byKey = [...keys.keys()]
    .filter((e) => first[e]! >= 0)
    .sort((a, b) => {
      const x = JSON.stringify(keys[a]);
      const y = JSON.stringify(keys[b]);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  const n = Math.min(options.sample ?? 1000, byKey.length);
  const sampled = Array.from({ length: n }, (_, i) => byKey[Math.floor((i * byKey.length) / n)]!);
  const online = await readOnline(
    redis,
    prefix,
    view,
    sampled.map((e) => keys[e]!)
  );
  const result: FeatureSkew = {
    view: view.name,
    digest: view.digest,
    snapshot: snapshot.digest,
    sampled: n,
    compared: 0,
    missingOnline: 0,
    skewed: 0,
    maxAbsDiff: 0,
    examples: [],
  };
  const columns = view.features.map((f) => rows.values[f]!);
  sampled.forEach((e, s) => {
    const value = online[s];
    if (!value) {
      if (options.writtenAsOf !== undefined && rows.time[first[e]!]! <= options.writtenAsOf) result.missingOnline++;
      return;
    }
    result.compared++;
    // The entity's row at the online value's event time (the last one then, as the online write takes it).
    let at = -1;
    for (let i = first[e]!; i < end[e]! && rows.time[i]! <= value.time; i++) at = i;
    const matches = at >= 0 && rows.time[at] === value.time;
    let differs = !matches;
    view.features.forEach((feature, f) => {
      const offline = matches ? columns[f]![at]! : NaN;
      const got = value.values[f]!;
      if (matches && same(got, offline)) return;
      differs = true;
      if (matches && Number.isFinite(got) && Number.isFinite(offline))
        result.maxAbsDiff = Math.max(result.maxAbsDiff, Math.abs(got - offline));
      if (result.examples.length < 5)
        result.examples.push({
          entity: keys[e]!,
          time: new Date(value.time).toISOString(),
          feature,
          online: Number.isFinite(got) ? got : null,
          offline: Number.isFinite(offline) ? offline : null,
        });
    });
    if (differs) result.skewed++;
  });
  return result;
}

/**
 * The consistency check of one view as the monitor and `cairn features check` run it: its newest snapshot against
 * what the online store holds, sampled. Undefined when the view has no snapshot yet.
 */
export async function checkViewSkew(
  services: {
    db: Queryable;
    store: Pick<ArtifactStore, 'getFile' | 'getJson'>;
    redis: Redis;
    online: OnlineStoreSettings;
  },
  view: ViewVersion & { features: readonly string[] },
  sample = 1000
): Promise<FeatureSkew | undefined> {
  const { db, store, redis, online } = services;
  const latest = await latestSnapshot(db, view);
  if (!latest) return undefined;
  const manifest = await store.getJson<FeatureSnapshot>(latest.snapshot);
  const ids = new Map<string, number>();
  const rows = await readSnapshot(store, snapshotShape(manifest), manifest, ids);
  const written = await lastMaterialization(db, view, onlineStoreName(online));
  return featureSkew(
    redis,
    online.prefix,
    view,
    { digest: latest.snapshot, rows, ids },
    {
      sample,
      ...(written ? { writtenAsOf: written.asOf.getTime() } : {}),
    }
  );
}
