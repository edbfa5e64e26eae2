import type pg from 'pg';
import type { Pool, Queryable } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import type { Alias, ModelRef } from './model-ref.js';
import { formatModelRef, ModelRefError } from './model-ref.js';
import { RecordConflictError } from '../errors.js';
import type { PackageSignature, PackageSigner } from '../signing/packages.js';

export interface ModelVersion {
  model: string;
  version: number;
  runId: string;
  packageDigest: string;
  datasetDigest: string;
  metrics: Record<string, number>;
  gate: unknown;
  lineage: Record<string, unknown>;
  /** The package's signature (null for versions registered before signing). */
  signature: PackageSignature | null;
  createdAt: Date;
}

export interface NewVersion {
  model: string;
  pipeline: string;
  runId: string;
  packageDigest: string;
  datasetDigest: string;
  metrics: Record<string, number>;
  gate: unknown;
  lineage: Record<string, unknown>;
  /** An existing version with the same package is this version: no new one (pipelines of steps, reproductions). */
  samePackageSameVersion?: boolean;
  /** Signs the package under the version it gets, in the same transaction. */
  signer?: PackageSigner;
}

const VERSION_COLUMNS = `model, version, run_id AS "runId", package_digest AS "packageDigest", dataset_digest AS "datasetDigest",
  metrics, gate, lineage, signature, created_at AS "createdAt"`;

/**
 * Registers a model version. Versions are handed out by incrementing `models.next_version` under its row lock, in
 * the same transaction as the insert: concurrent registrations queue on the lock and get 1, 2, 3… with no gap
 * (a rolled-back registration rolls its increment back too). Idempotent per run: registering the same run again
 * (an activity retry after a commit) returns the version it already has; so does, if asked, the same package.
 */
export async function registerVersion(
  db: Pool,
  v: NewVersion,
  tx?: (client: pg.PoolClient, version: number) => Promise<void>
) {
  return withTransaction(db, async (client) => {
    await client.query('INSERT INTO cairn.models (name, pipeline) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
      v.model,
      v.pipeline,
    ]);
    // A statement of its own: its snapshot sees the row a concurrent registration committed while the insert waited.
    const owner = await client.query<{ pipeline: string }>('SELECT pipeline FROM cairn.models WHERE name = $1', [
      v.model,
    ]);
    // A model belongs to the pipeline that first registered it: its monitoring policy and lineage come from there.
    if (owner.rows[0]!.pipeline !== v.pipeline)
      throw new RecordConflictError(
        `model ${v.model} belongs to pipeline ${owner.rows[0]!.pipeline}; a run of pipeline ${v.pipeline} cannot register versions of it (register under another model name)`,
        'models'
      );
    const existing = await client.query<{ version: number }>(
      `SELECT version FROM cairn.model_versions WHERE model = $1 AND (run_id = $2 OR ($3 AND package_digest = $4))
       ORDER BY version LIMIT 1`,
      [v.model, v.runId, v.samePackageSameVersion === true, v.packageDigest]
    );
    if (existing.rows[0]) return { version: existing.rows[0].version, created: false };
    const { rows } = await client.query<{ version: number }>(
      'UPDATE cairn.models SET next_version = next_version + 1 WHERE name = $1 RETURNING next_version - 1 AS version',
      [v.model]
    );
    const version = rows[0]!.version;
    await client.query(
      `INSERT INTO cairn.model_versions (model, version, run_id, package_digest, dataset_digest, metrics, gate, lineage, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        v.model,
        version,
        v.runId,
        v.packageDigest,
        v.datasetDigest,
        v.metrics,
        v.gate,
        v.lineage,
        v.signer ? JSON.stringify(v.signer.sign(v.model, version, v.packageDigest)) : null,
      ]
    );
    await tx?.(client, version);
    return { version, created: true };
  });
}

/** Points an alias at a version and appends the move (who, when, why, from which version) to its history. */
export async function setAlias(
  db: Queryable,
  model: string,
  alias: Alias,
  version: number,
  by: string,
  reason: string
): Promise<void> {
  const previous = await db.query<{ version: number }>(
    'SELECT version FROM cairn.model_aliases WHERE model = $1 AND alias = $2',
    [model, alias]
  );
  await db.query(
    `INSERT INTO cairn.model_aliases (model, alias, version, set_by, reason) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version, set_by = EXCLUDED.set_by, reason = EXCLUDED.reason, set_at = now()`,
    [model, alias, version, by, reason]
  );
  await db.query(
    'INSERT INTO cairn.model_alias_history (model, alias, version, previous_version, set_by, reason) VALUES ($1, $2, $3, $4, $5, $6)',
    [model, alias, version, previous.rows[0]?.version ?? null, by, reason]
  );
}

/** The version a reference names; a ModelRefError naming what is missing otherwise. */
export async function resolveVersion(db: Queryable, ref: ModelRef): Promise<ModelVersion> {
  const model = await db.query('SELECT 1 FROM cairn.models WHERE name = $1', [ref.model]);
  if (!model.rowCount) {
    const known = await db.query<{ name: string }>('SELECT name FROM cairn.models ORDER BY name');
    throw new ModelRefError(
      `unknown model ${ref.model} (registered: ${known.rows.map((r) => r.name).join(', ') || 'none'})`
    );
  }
  const { rows } = ref.alias
    ? await db.query<ModelVersion>(
        `SELECT ${VERSION_COLUMNS} FROM cairn.model_versions v WHERE model = $1
         AND version = (SELECT version FROM cairn.model_aliases WHERE model = $1 AND alias = $2)`,
        [ref.model, ref.alias]
      )
    : await db.query<ModelVersion>(
        `SELECT ${VERSION_COLUMNS} FROM cairn.model_versions WHERE model = $1 AND version = $2`,
        [ref.model, ref.version]
      );
  if (!rows[0])
    throw new ModelRefError(`${formatModelRef(ref)} does not exist${ref.alias ? ` (no version is ${ref.alias})` : ''}`);
  return rows[0];
}

export async function findVersion(db: Queryable, ref: ModelRef): Promise<ModelVersion | undefined> {
  return resolveVersion(db, ref).catch((err: unknown) => {
    if (err instanceof ModelRefError) return undefined;
    throw err;
  });
}

export interface ModelSummary {
  name: string;
  pipeline: string;
  versions: number;
  aliases: Record<string, number>;
}

export async function listModels(db: Queryable): Promise<ModelSummary[]> {
  const { rows } = await db.query<ModelSummary>(
    `SELECT m.name, m.pipeline, m.next_version - 1 AS versions,
            COALESCE((SELECT jsonb_object_agg(alias, version) FROM cairn.model_aliases a WHERE a.model = m.name), '{}') AS aliases
     FROM cairn.models m ORDER BY m.name`
  );
  return rows;
}

export async function listVersions(db: Queryable, model: string): Promise<ModelVersion[]> {
  const { rows } = await db.query<ModelVersion>(
    `SELECT ${VERSION_COLUMNS} FROM cairn.model_versions WHERE model = $1 ORDER BY version`,
    [model]
  );
  return rows;
}

export interface AliasMove {
  alias: string;
  version: number;
  previousVersion: number | null;
  setBy: string;
  reason: string;
  setAt: Date;
}

export async function aliasHistory(db: Queryable, model: string): Promise<AliasMove[]> {
  const { rows } = await db.query<AliasMove>(
    `SELECT alias, version, previous_version AS "previousVersion", set_by AS "setBy", reason, set_at AS "setAt"
     FROM cairn.model_alias_history WHERE model = $1 ORDER BY id`,
    [model]
  );
  return rows;
}

/** Signs (or signs again, with another key) an existing version's package. */
export async function setSignature(db: Queryable, v: ModelVersion, signer: PackageSigner): Promise<PackageSignature> {
  const signature = signer.sign(v.model, v.version, v.packageDigest);
  await db.query('UPDATE cairn.model_versions SET signature = $3 WHERE model = $1 AND version = $2', [
    v.model,
    v.version,
    JSON.stringify(signature),
  ]);
  return signature;
}
