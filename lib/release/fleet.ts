import type { Queryable } from '../db/pool.js';

/** A replica silent for longer is taken as gone: releases do not wait for it (heartbeats come every reload). */
export const DEFAULT_REPLICA_TIMEOUT = '15s';

/** What one serving route looks like on a replica. */
export interface ReplicaRoute {
  model: string;
  revision: number;
  stable: number;
  canary: number | null;
  weight: number;
}

/** One online server or stream consumer, as its last heartbeat described it. */
export interface Replica {
  id: string;
  kind: 'online' | 'stream';
  environment: string;
  host: string;
  pid: number;
  startedAt: Date;
  heartbeatAt: Date;
  /** Seconds since the last heartbeat, by the database clock. */
  age: number;
  routes: ReplicaRoute[];
  /** `model@version` of every version loaded and verified. */
  loaded: string[];
  errors: { model: string; version: number; error: string }[];
}

export type ReplicaReport = Pick<
  Replica,
  'id' | 'kind' | 'environment' | 'host' | 'pid' | 'routes' | 'loaded' | 'errors'
>;

/** Records (or refreshes) a replica's heartbeat: what it serves, what it holds loaded, what it failed to load. */
export async function reportReplica(db: Queryable, r: ReplicaReport): Promise<void> {
  const { rowCount } = await db.query(
    `INSERT INTO cairn.replicas AS r (id, kind, environment, host, pid, routes, loaded, errors)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), routes = EXCLUDED.routes, loaded = EXCLUDED.loaded,
       errors = EXCLUDED.errors
     WHERE (r.kind, r.environment, r.host, r.pid) = (EXCLUDED.kind, EXCLUDED.environment, EXCLUDED.host, EXCLUDED.pid)`,
    [
      r.id,
      r.kind,
      r.environment,
      r.host,
      r.pid,
      JSON.stringify(r.routes),
      JSON.stringify(r.loaded),
      JSON.stringify(r.errors),
    ]
  );
  if (rowCount === 0) throw new Error(`replica id ${r.id} is already taken by another process`);
}

/** A replica that stops cleanly leaves the fleet at once instead of waiting to go stale. */
export async function removeReplica(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM cairn.replicas WHERE id = $1', [id]);
}

/** Replicas of an environment (all environments without one), newest heartbeat first. */
export async function listReplicas(db: Queryable, environment?: string): Promise<Replica[]> {
  const { rows } = await db.query<Replica>(
    `SELECT id, kind, environment, host, pid, started_at AS "startedAt", heartbeat_at AS "heartbeatAt",
       extract(epoch FROM now() - heartbeat_at)::float8 AS age, routes, loaded, errors
     FROM cairn.replicas WHERE $1::text IS NULL OR environment = $1 ORDER BY environment, heartbeat_at DESC, id`,
    [environment ?? null]
  );
  return rows;
}

/** Deletes replicas silent for longer than `olderThanSeconds` (a killed process leaves its row behind). */
export async function pruneReplicas(db: Queryable, olderThanSeconds: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM cairn.replicas WHERE heartbeat_at < now() - make_interval(secs => $1)`,
    [olderThanSeconds]
  );
  return rowCount ?? 0;
}

export interface StagedVersion {
  releaseId: string;
  model: string;
  environment: string;
  version: number;
}

/** Asks every replica of the environment to load a version ahead of traffic (idempotent per release). */
export async function stageVersion(db: Queryable, s: StagedVersion): Promise<void> {
  await db.query(
    `INSERT INTO cairn.staged_versions (release_id, model, environment, version) VALUES ($1, $2, $3, $4)
     ON CONFLICT (release_id, model, environment, version) DO NOTHING`,
    [s.releaseId, s.model, s.environment, s.version]
  );
}

/** Withdraws what a release staged. */
export async function unstageRelease(db: Queryable, releaseId: string): Promise<void> {
  await db.query('DELETE FROM cairn.staged_versions WHERE release_id = $1', [releaseId]);
}

export async function stagedVersions(db: Queryable, environment: string): Promise<StagedVersion[]> {
  const { rows } = await db.query<StagedVersion>(
    `SELECT DISTINCT release_id AS "releaseId", model, environment, version FROM cairn.staged_versions
     WHERE environment = $1`,
    [environment]
  );
  return rows;
}

/** Where the live replicas stand on one step of a release. */
export interface FleetCheck {
  /** Live replicas (heartbeat within the timeout). */
  live: string[];
  /** Replicas that have done what the step needs. */
  done: string[];
  /** Replicas still working on it. */
  pending: string[];
  /** Replicas that failed to load the version, with their error. */
  failed: { replica: string; error: string }[];
}

/**
 * Which live replicas hold `model@version` loaded (and, with `revision`, serve that deployment revision or a later
 * one), which are still loading it, and which failed to load it.
 */
export function checkFleet(
  replicas: Replica[],
  want: { model: string; version: number; revision?: number },
  liveWithinSeconds: number
): FleetCheck {
  const live = replicas.filter((r) => r.age <= liveWithinSeconds);
  const check: FleetCheck = { live: live.map((r) => r.id), done: [], pending: [], failed: [] };
  const key = `${want.model}@${want.version}`;
  for (const r of live) {
    const error = r.errors.find((e) => e.model === want.model && e.version === want.version);
    const route = r.routes.find((x) => x.model === want.model);
    const serves = want.revision === undefined || (route !== undefined && route.revision >= want.revision);
    if (error) check.failed.push({ replica: r.id, error: error.error });
    else if (r.loaded.includes(key) && serves) check.done.push(r.id);
    else check.pending.push(r.id);
  }
  return check;
}
