// Embedding models and vector indexes in PostgreSQL: append-only versions numbered per name, one per content
// (a model's identity, an index file's digest), and aliases that move between index versions, audited.
import { recordAudit } from '../audit/log.js';
import type { Pool, Queryable } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { aliasState, INDEX_ALIASES, setAlias } from '../release/aliases.js';
import { CairnError } from '../errors.js';

/** An embedding model or index, version or alias that is not registered. */
export class VectorIndexError extends CairnError {
  override readonly name = 'VectorIndexError';
  readonly type = 'VectorIndexError';
}

export interface EmbeddingModelVersion {
  name: string;
  version: number;
  identity: string;
  /** The manifest's artifact digest (EmbeddingModelManifest). */
  manifest: string;
  package: string;
  packageVersion: string;
  weightsDigest: string;
  dimensions: number;
  runId: string;
  createdAt: Date;
}

export interface VectorIndexVersion {
  name: string;
  version: number;
  /** The artifact digest of the manifest (VectorIndexManifest) of the build that registered the version. */
  manifest: string;
  /** The index file's digest. */
  digest: string;
  embeddingModel: string;
  embeddingVersion: number;
  /** The corpus table's digest. */
  corpus: string;
  metrics: Record<string, number>;
  passed: boolean;
  runId: string;
  createdAt: Date;
}

/**
 * Inserts the next version of `name` into `table` unless a row with the same `key` value exists, which is returned
 * instead (`created: false`). Numbers come from a transaction-scoped lock on the name: 1, 2, 3… with no gap.
 */
async function insertVersion(
  db: Pool,
  table: 'embedding_models' | 'vector_indexes',
  key: 'identity' | 'digest',
  row: Record<string, unknown> & { name: string },
  by: string
): Promise<{ version: number; created: boolean }> {
  return withTransaction(db, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`cairn.${table}:${row.name}`]);
    const existing = await client.query<{ version: number }>(
      `SELECT version FROM cairn.${table} WHERE name = $1 AND ${key} = $2`,
      [row.name, row[key]]
    );
    if (existing.rows[0]) return { version: existing.rows[0].version, created: false };
    const next = await client.query<{ version: number }>(
      `SELECT COALESCE(max(version), 0) + 1 AS version FROM cairn.${table} WHERE name = $1`,
      [row.name]
    );
    const version = next.rows[0]!.version;
    const columns = Object.keys(row).map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    const values = Object.values(row).map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : v));
    await client.query(
      `INSERT INTO cairn.${table} (version, ${columns.join(', ')})
       VALUES ($1, ${values.map((_, i) => `$${i + 2}`).join(', ')})`,
      [version, ...values]
    );
    await recordAudit(client, {
      actor: by,
      action: table === 'embedding_models' ? 'embedding-model.version' : 'vector-index.version',
      subject: `${row.name}@${version}`,
      details: { [key]: row[key] },
    });
    return { version, created: true };
  });
}

export function registerEmbeddingModel(
  db: Pool,
  row: Omit<EmbeddingModelVersion, 'version' | 'createdAt'>,
  by: string
): Promise<{ version: number; created: boolean }> {
  return insertVersion(db, 'embedding_models', 'identity', { ...row }, by);
}

export function registerVectorIndex(
  db: Pool,
  row: Omit<VectorIndexVersion, 'version' | 'createdAt'>,
  by: string
): Promise<{ version: number; created: boolean }> {
  return insertVersion(db, 'vector_indexes', 'digest', { ...row }, by);
}

const MODEL_COLUMNS = `name, version, identity, manifest, package, package_version AS "packageVersion",
  weights_digest AS "weightsDigest", dimensions, run_id AS "runId", created_at AS "createdAt"`;
const INDEX_COLUMNS = `i.name, i.version, i.manifest, i.digest, i.embedding_model AS "embeddingModel",
  i.embedding_version AS "embeddingVersion", i.corpus, i.metrics, i.passed, i.run_id AS "runId",
  i.created_at AS "createdAt"`;

export async function listEmbeddingModels(db: Queryable): Promise<EmbeddingModelVersion[]> {
  const { rows } = await db.query<EmbeddingModelVersion>(
    `SELECT ${MODEL_COLUMNS} FROM cairn.embedding_models ORDER BY name, version`
  );
  return rows;
}

/** Every version of `name` (or of every index), with the aliases pointing at each. */
export async function listVectorIndexes(
  db: Queryable,
  name?: string
): Promise<(VectorIndexVersion & { aliases: string[] })[]> {
  const { rows } = await db.query<VectorIndexVersion & { aliases: string[] }>(
    `SELECT ${INDEX_COLUMNS},
       COALESCE((SELECT array_agg(alias ORDER BY alias) FROM cairn.vector_index_aliases a
                 WHERE a.name = i.name AND a.version = i.version), '{}') AS aliases
     FROM cairn.vector_indexes i WHERE $1::text IS NULL OR i.name = $1 ORDER BY i.name, i.version`,
    [name ?? null]
  );
  return rows;
}

/** `name`, `name@3` or `name@production` (a bare name is its production alias). */
export async function resolveVectorIndex(db: Queryable, ref: string): Promise<VectorIndexVersion> {
  const [name, at = 'production'] = ref.split('@', 2) as [string, string?];
  const byVersion = /^\d+$/.test(at);
  const { rows } = await db.query<VectorIndexVersion>(
    byVersion
      ? `SELECT ${INDEX_COLUMNS} FROM cairn.vector_indexes i WHERE i.name = $1 AND i.version = $2::int`
      : `SELECT ${INDEX_COLUMNS} FROM cairn.vector_indexes i
         JOIN cairn.vector_index_aliases a ON a.name = i.name AND a.version = i.version
         WHERE i.name = $1 AND a.alias = $2`,
    [name, at]
  );
  if (rows[0]) return rows[0];
  const versions = await db.query<{ version: number }>(
    'SELECT version FROM cairn.vector_indexes WHERE name = $1 ORDER BY version',
    [name]
  );
  throw new VectorIndexError(
    versions.rows.length
      ? `${name} has no ${byVersion ? `version ${at}` : `alias ${at}`} (versions: ${versions.rows.map((r) => r.version).join(', ')})`
      : `no vector index named ${name} is registered`
  );
}

/** Points `alias` of index `name` at `version`, which must have passed its gate; the one it replaces is kept. */
export async function setVectorIndexAlias(
  db: Pool,
  name: string,
  alias: string,
  version: number,
  by: string,
  reason: string
): Promise<{ previous: number | null }> {
  const target = await resolveVectorIndex(db, `${name}@${version}`);
  if (!target.passed)
    throw new VectorIndexError(`${name}@${version} did not pass its quality gate (${JSON.stringify(target.metrics)})`);
  return setAlias(db, INDEX_ALIASES, name, alias, version, by, reason);
}

/** What an alias serves: its stable version, and a canary taking `weight` of the searches (by sticky key). */
export interface IndexRoute {
  stable: VectorIndexVersion;
  canary?: VectorIndexVersion;
  weight: number;
}

/** The route of an index alias; VectorIndexError when the index or the alias does not exist. */
export async function resolveIndexRoute(db: Queryable, name: string, alias: string): Promise<IndexRoute> {
  const stable = await resolveVectorIndex(db, `${name}@${alias}`);
  const state = await aliasState(db, INDEX_ALIASES, name, alias);
  if (!state || state.canary === null || state.weight <= 0) return { stable, weight: 0 };
  return { stable, canary: await resolveVectorIndex(db, `${name}@${state.canary}`), weight: state.weight };
}
