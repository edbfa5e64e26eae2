// Feature view versions and online materialisations as PostgreSQL records (`cairn features list|show`).
import type { Queryable } from '../../db/pool.js';
import type { FeatureSnapshot } from './offline.js';
import type { FeatureView } from './view.js';

export interface FeatureVersionRow {
  view: string;
  snapshot: string;
  viewDigest: string;
  sourceDigest: string;
  rowCount: number;
  entityCount: number;
  parts: number;
  minTime: Date | null;
  maxTime: Date | null;
  createdAt: Date;
}

export interface MaterializationRow {
  view: string;
  snapshot: string;
  viewDigest: string;
  store: string;
  asOf: Date;
  after: Date | null;
  entities: number;
  written: number;
  createdAt: Date;
}

const VERSION_COLUMNS = `view, snapshot, view_digest AS "viewDigest", source_digest AS "sourceDigest",
  row_count::float8 AS "rowCount", entity_count::float8 AS "entityCount", parts, min_time AS "minTime",
  max_time AS "maxTime", created_at AS "createdAt"`;

const MATERIALIZATION_COLUMNS = `view, snapshot, view_digest AS "viewDigest", store, as_of AS "asOf", after,
  entities::float8 AS entities, written::float8 AS written, created_at AS "createdAt"`;

/** The view's definition as recorded: settings and code digest, no functions. */
export function definitionOf(view: FeatureView): Record<string, unknown> {
  const { prepare, ...definition } = view;
  return { ...definition, prepare: prepare ? 'function' : null };
}

const time = (ms: number) => (Number.isFinite(ms) ? new Date(ms) : null);

/** Records a snapshot (once: the same snapshot again changes nothing). */
export async function recordSnapshot(
  db: Queryable,
  view: FeatureView,
  snapshot: string,
  manifest: FeatureSnapshot
): Promise<void> {
  await db.query(
    `INSERT INTO cairn.feature_view_versions
       (view, snapshot, view_digest, definition, source_digest, row_count, entity_count, parts, min_time, max_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
    [
      view.name,
      snapshot,
      view.digest,
      JSON.stringify(definitionOf(view)),
      manifest.source.sha256,
      manifest.rowCount,
      manifest.entityCount,
      manifest.parts.length,
      time(manifest.minTime),
      time(manifest.maxTime),
    ]
  );
}

/** The snapshot already computed by this definition from this source content, if any. */
export async function findSnapshot(
  db: Queryable,
  view: FeatureView,
  sourceDigest: string
): Promise<string | undefined> {
  const { rows } = await db.query<{ snapshot: string }>(
    `SELECT snapshot FROM cairn.feature_view_versions WHERE view = $1 AND view_digest = $2 AND source_digest = $3
     ORDER BY created_at DESC LIMIT 1`,
    [view.name, view.digest, sourceDigest]
  );
  return rows[0]?.snapshot;
}

/** Snapshots, newest first: of one view, or of all. */
export async function listSnapshots(db: Queryable, view?: string): Promise<FeatureVersionRow[]> {
  const { rows } = await db.query<FeatureVersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM cairn.feature_view_versions WHERE ($1::text IS NULL OR view = $1)
     ORDER BY created_at DESC, snapshot`,
    [view ?? null]
  );
  return rows;
}

/** The newest snapshot of the view's current definition. */
export async function latestSnapshot(
  db: Queryable,
  view: Pick<FeatureView, 'name' | 'digest'>
): Promise<FeatureVersionRow | undefined> {
  const { rows } = await db.query<FeatureVersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM cairn.feature_view_versions WHERE view = $1 AND view_digest = $2
     ORDER BY created_at DESC LIMIT 1`,
    [view.name, view.digest]
  );
  return rows[0];
}

export interface Materialization {
  view: FeatureView;
  snapshot: string;
  store: string;
  asOf: number;
  after: number | undefined;
  entities: number;
  written: number;
  /** Unique per activity execution (workflow id, Temporal run id, activity id): a retry records nothing more. */
  execution: string;
}

export async function recordMaterialization(db: Queryable, m: Materialization): Promise<void> {
  await db.query(
    `INSERT INTO cairn.feature_materializations
       (view, snapshot, view_digest, store, as_of, after, entities, written, execution)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (execution) DO NOTHING`,
    [
      m.view.name,
      m.snapshot,
      m.view.digest,
      m.store,
      new Date(m.asOf),
      m.after === undefined ? null : new Date(m.after),
      m.entities,
      m.written,
      m.execution,
    ]
  );
}

/**
 * The last materialisation of the view's definition to `store` (as of `asOf` or earlier, when given): what an
 * incremental write starts after.
 */
export async function lastMaterialization(
  db: Queryable,
  view: Pick<FeatureView, 'digest'>,
  store: string,
  asOf?: number
): Promise<MaterializationRow | undefined> {
  const { rows } = await db.query<MaterializationRow>(
    `SELECT ${MATERIALIZATION_COLUMNS} FROM cairn.feature_materializations
     WHERE view_digest = $1 AND store = $2 AND ($3::timestamptz IS NULL OR as_of <= $3)
     ORDER BY as_of DESC, id DESC LIMIT 1`,
    [view.digest, store, asOf === undefined ? null : new Date(asOf)]
  );
  return rows[0];
}

export async function listMaterializations(db: Queryable, view: string): Promise<MaterializationRow[]> {
  const { rows } = await db.query<MaterializationRow>(
    `SELECT ${MATERIALIZATION_COLUMNS} FROM cairn.feature_materializations WHERE view = $1 ORDER BY id DESC`,
    [view]
  );
  return rows;
}
