import type { Queryable } from '../db/pool.js';
import type { Pool } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { ALIASES } from '../registry/model-ref.js';
import type { Alias } from '../registry/model-ref.js';
import { setAlias } from '../registry/models.js';
import { CairnError } from '../errors.js';

/** What serves in one environment: a stable version and, during a canary, a second version taking a share. */
export interface DeploymentState {
  stableVersion: number;
  canaryVersion: number | null;
  /** Share of traffic (0..1) the canary takes. */
  canaryWeight: number;
  /** The version a rollback returns to. */
  previousVersion: number | null;
  releaseId: string | null;
}

export interface Deployment extends DeploymentState {
  model: string;
  environment: string;
  /** Grows by one with every change; servers reload when it moves. */
  revision: number;
  updatedAt: Date;
}

export interface DeploymentChange {
  action: 'canary' | 'promote' | 'abort-canary' | 'rollback';
  by: string;
  reason: string;
}

const COLUMNS = `model, environment, stable_version AS "stableVersion", canary_version AS "canaryVersion",
  canary_weight AS "canaryWeight", previous_version AS "previousVersion", release_id AS "releaseId", revision,
  updated_at AS "updatedAt"`;

export async function getDeployment(db: Queryable, model: string, environment: string, lock = false) {
  const { rows } = await db.query<Deployment>(
    `SELECT ${COLUMNS} FROM cairn.deployments WHERE model = $1 AND environment = $2${lock ? ' FOR UPDATE' : ''}`,
    [model, environment]
  );
  return rows[0];
}

export async function listDeployments(db: Queryable, filter: { model?: string; environment?: string } = {}) {
  const { rows } = await db.query<Deployment>(
    `SELECT ${COLUMNS} FROM cairn.deployments
     WHERE ($1::text IS NULL OR model = $1) AND ($2::text IS NULL OR environment = $2) ORDER BY model, environment`,
    [filter.model ?? null, filter.environment ?? null]
  );
  return rows;
}

const same = (a: DeploymentState, b: DeploymentState) =>
  a.stableVersion === b.stableVersion &&
  a.canaryVersion === b.canaryVersion &&
  a.canaryWeight === b.canaryWeight &&
  a.previousVersion === b.previousVersion &&
  a.releaseId === b.releaseId;

/**
 * Changes a deployment under its row lock: `next` maps the current state (undefined before the first deploy) to the
 * wanted one. A change that leaves the state as it is writes nothing, so a retried activity changes it once. When
 * the stable version moves, the alias named like the environment (`production`, `staging`) moves with it.
 */
export async function changeDeployment(
  db: Pool,
  model: string,
  environment: string,
  next: (current: Deployment | undefined) => DeploymentState,
  change: DeploymentChange
): Promise<Deployment> {
  return withTransaction(db, async (client) => {
    const current = await getDeployment(client, model, environment, true);
    const wanted = next(current);
    if (current && same(current, wanted)) return current;
    const { rows } = await client.query<Deployment>(
      `INSERT INTO cairn.deployments AS d (model, environment, stable_version, canary_version, canary_weight, previous_version, release_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (model, environment) DO UPDATE SET stable_version = EXCLUDED.stable_version,
         canary_version = EXCLUDED.canary_version, canary_weight = EXCLUDED.canary_weight,
         previous_version = EXCLUDED.previous_version, release_id = EXCLUDED.release_id,
         revision = d.revision + 1, updated_at = now()
       RETURNING ${COLUMNS}`,
      [
        model,
        environment,
        wanted.stableVersion,
        wanted.canaryVersion,
        wanted.canaryWeight,
        wanted.previousVersion,
        wanted.releaseId,
      ]
    );
    const saved = rows[0]!;
    await client.query(
      `INSERT INTO cairn.deployment_history (model, environment, revision, action, stable_version, canary_version,
         canary_weight, previous_version, release_id, by, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        model,
        environment,
        saved.revision,
        change.action,
        saved.stableVersion,
        saved.canaryVersion,
        saved.canaryWeight,
        saved.previousVersion,
        saved.releaseId,
        change.by,
        change.reason,
      ]
    );
    if (current?.stableVersion !== saved.stableVersion && (ALIASES as readonly string[]).includes(environment)) {
      await setAlias(client, model, environment as Alias, saved.stableVersion, change.by, change.reason);
    }
    return saved;
  });
}

/** Next states for the usual moves. */
export const moves = {
  /** Sends `weight` of the traffic to `version` beside the stable version. */
  canary:
    (version: number, weight: number, releaseId: string) =>
    (current: Deployment | undefined): DeploymentState => {
      if (!current)
        throw new DeploymentError('a canary needs a stable version to compare with; release directly first');
      return { ...current, canaryVersion: version, canaryWeight: weight, releaseId };
    },
  /** Makes `version` the stable version; the one it replaces becomes the rollback target. */
  promote:
    (version: number, releaseId: string | null) =>
    (current: Deployment | undefined): DeploymentState => ({
      stableVersion: version,
      canaryVersion: null,
      canaryWeight: 0,
      previousVersion:
        current && current.stableVersion !== version ? current.stableVersion : (current?.previousVersion ?? null),
      releaseId,
    }),
  /** Ends a canary: all traffic back to the stable version. */
  abortCanary:
    () =>
    (current: Deployment | undefined): DeploymentState => {
      if (!current) throw new DeploymentError('nothing is deployed');
      return { ...current, canaryVersion: null, canaryWeight: 0 };
    },
  /** Undoes a promotion of `version` the fleet did not take up: `previous` serves again (a no-op once done). */
  revert:
    (version: number, previous: number) =>
    (current: Deployment | undefined): DeploymentState => {
      if (!current) throw new DeploymentError('nothing is deployed');
      if (current.stableVersion !== version) return current;
      return { ...current, stableVersion: previous, canaryVersion: null, canaryWeight: 0, previousVersion: null };
    },
  /** Ends a canary if one runs; otherwise returns to the previous stable version. */
  rollback:
    () =>
    (current: Deployment | undefined): DeploymentState => {
      if (!current) throw new DeploymentError('nothing is deployed');
      if (current.canaryVersion !== null) return { ...current, canaryVersion: null, canaryWeight: 0 };
      if (current.previousVersion === null) throw new DeploymentError(`no previous version to roll back to`);
      return { ...current, stableVersion: current.previousVersion, previousVersion: null };
    },
};

export class DeploymentError extends CairnError {
  override readonly name = 'DeploymentError';
  readonly type = 'DeploymentError';
}
