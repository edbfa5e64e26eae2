import { Context } from '@temporalio/activity';
import { ArtifactNotFoundError } from '../lib/artifacts/index.js';
import { materializeSnapshot, readSnapshot } from '../lib/features/store/offline.js';
import type { FeatureSnapshot } from '../lib/features/store/offline.js';
import { connectRedis, onlineStoreName, writeLatest } from '../lib/features/store/online.js';
import type { Redis } from '../lib/features/store/online.js';
import {
  findSnapshot,
  lastMaterialization,
  recordMaterialization,
  recordSnapshot,
} from '../lib/features/store/registry.js';
import { entityKeys, FeatureViewError } from '../lib/features/store/view.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';

export interface OfflineResult {
  view: string;
  /** The snapshot's version: its manifest's digest. */
  snapshot: string;
  rows: number;
  entities: number;
  /** The last event time in the snapshot (ms). */
  maxTime: number;
  /** True when this definition had already been computed from the same source content. */
  reused: boolean;
}

export interface OnlineResult {
  view: string;
  snapshot: string;
  store: string;
  asOf: number;
  /** Entities whose values were at or before `after`, skipped as already written; absent for a full write. */
  after?: number;
  entities: number;
  written: number;
}

// One Redis connection per worker process and URL, made on first use.
const connections = new Map<string, Promise<Redis>>();

/** Closes the worker's Redis connections (at shutdown: an open one keeps the process alive). */
export async function closeRedisConnections(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  for (const redis of open) (await redis.catch(() => undefined))?.destroy();
}

export function redisOf(deps: Pick<ActivityDeps, 'onlineStore' | 'logger'>): Promise<Redis> {
  const { url } = deps.onlineStore;
  let redis = connections.get(url);
  if (!redis) {
    redis = connectRedis(url, deps.logger);
    connections.set(url, redis);
    redis.catch(() => connections.delete(url));
  }
  return redis;
}

export function createFeatureActivities(deps: ActivityDeps) {
  const { db, store, project, sources } = deps;
  return {
    /**
     * Computes a feature view over its source and stores it in the offline store: Parquet parts by month and a
     * manifest, recorded as a version of the view. The same definition over the same source content is computed
     * once: a rerun returns the recorded snapshot.
     */
    async materializeOffline(input: { view: string }): Promise<OfflineResult> {
      return failFast(async () => {
        const view = project.featureView(input.view);
        const fingerprint = await sources.fingerprint(view.source);
        const known = fingerprint && (await findSnapshot(db, view, fingerprint.digest));
        // Recorded, but gone from the store (a store emptied under a database that was kept): computed again.
        const kept =
          known &&
          (await store.getJson<FeatureSnapshot>(known).catch((err: unknown) => {
            if (err instanceof ArtifactNotFoundError) return undefined;
            throw err;
          }));
        if (known && kept) return result(view.name, known, kept, true);
        const { table, source } = await sources.read(view.source);
        const events = view.prepare ? view.prepare(table) : table;
        if (!events || typeof events.rowCount !== 'number')
          throw new FeatureViewError(`feature view ${view.name}: prepare() must return a table`);
        const { manifest, snapshot } = await materializeSnapshot(store, view, events, source);
        await recordSnapshot(db, view, manifest.digest, snapshot);
        return result(view.name, manifest.digest, snapshot, false);

        function result(name: string, digest: string, s: FeatureSnapshot, reused: boolean): OfflineResult {
          return {
            view: name,
            snapshot: digest,
            rows: s.rowCount,
            entities: s.entityCount,
            maxTime: s.maxTime,
            reused,
          };
        }
      });
    },

    /**
     * Writes each entity's latest values as of `asOf` from a snapshot to the online store. Incremental: entities
     * whose latest event was already written by an earlier materialisation of the same definition (as of an earlier
     * time) are skipped, unless `full`. Every write is idempotent (a key only moves forward in event time), so a
     * retry after a crash, or a rerun, leaves the same contents. Heartbeats its progress.
     */
    async materializeOnline(input: {
      view: string;
      snapshot: string;
      asOf: number;
      full?: boolean;
    }): Promise<OnlineResult> {
      return failFast(async () => {
        const ctx = Context.current();
        const view = project.featureView(input.view);
        const snapshot = await store.getJson<FeatureSnapshot>(input.snapshot);
        if (snapshot.viewDigest !== view.digest)
          throw new FeatureViewError(
            `feature view ${view.name}: snapshot ${input.snapshot} was computed by another definition of the view (${snapshot.viewDigest})`
          );
        const name = onlineStoreName(deps.onlineStore);
        const previous = input.full ? undefined : await lastMaterialization(db, view, name, input.asOf);
        const after = previous ? previous.asOf.getTime() : undefined;
        const ids = new Map<string, number>();
        const rows = await readSnapshot(store, view, snapshot, ids, after, (part) =>
          ctx.heartbeat({ reading: part.partition })
        );
        const redis = await redisOf(deps);
        const { entities, written } = await writeLatest(redis, deps.onlineStore.prefix, view, rows, entityKeys(ids), {
          asOf: input.asOf,
          ...(after === undefined ? {} : { after }),
          progress: (done, total) => ctx.heartbeat({ done, total }),
          signal: ctx.cancellationSignal,
        });
        const { workflowExecution: run, activityId } = ctx.info;
        await recordMaterialization(db, {
          view,
          snapshot: input.snapshot,
          store: name,
          asOf: input.asOf,
          after,
          entities,
          written,
          execution: `${run?.workflowId}/${run?.runId}/${activityId}`,
        });
        return {
          view: view.name,
          snapshot: input.snapshot,
          store: name,
          asOf: input.asOf,
          ...(after === undefined ? {} : { after }),
          entities,
          written,
        };
      });
    },
  };
}
