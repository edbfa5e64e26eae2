import type { Pool } from '../db/pool.js';
import type { RunStatus } from './runs.js';

export interface RunRecord {
  id: string;
  pipeline: string;
  pipelineVersion: string;
  trigger: string;
  requestedBy: string | null;
  parentRunId: string | null;
  status: RunStatus;
  error: string | null;
  config: Record<string, unknown>;
  configDigest: string;
  codeCommit: string;
  codeDirty: boolean;
  datasetDigest: string | null;
  packageDigest: string | null;
  modelName: string | null;
  modelVersion: number | null;
  cacheHits: string[];
  /** A runPipeline run's named outputs. */
  outputs: Record<string, unknown> | null;
  cpuSeconds: number;
  cost: number;
  startedAt: Date;
  endedAt: Date | null;
  /** The Temporal workflow execution (null for runs recorded before execution keys). */
  workflowId: string | null;
  executionId: string | null;
}

export interface RunDetail extends RunRecord {
  stages: {
    stage: string;
    status: string;
    attempt: number;
    cacheHit: boolean;
    wallMs: number | null;
    cpuMs: number | null;
    error: string | null;
    startedAt: Date;
    endedAt: Date | null;
  }[];
  params: Record<string, string>;
  metrics: { name: string; step: number; value: number }[];
  artifacts: { stage: string; role: string; digest: string; bytes: number }[];
}

const RUN_COLUMNS = `id, pipeline, pipeline_version AS "pipelineVersion", trigger, requested_by AS "requestedBy",
  parent_run_id AS "parentRunId", status, error, config, config_digest AS "configDigest", code_commit AS "codeCommit",
  code_dirty AS "codeDirty", dataset_digest AS "datasetDigest", package_digest AS "packageDigest", model_name AS "modelName",
  model_version AS "modelVersion", cache_hits AS "cacheHits", outputs, cpu_seconds AS "cpuSeconds", cost, started_at AS "startedAt",
  ended_at AS "endedAt", workflow_id AS "workflowId", execution_id AS "executionId"`;

/** Which runs to list: each given field must match; the newest `limit` (20) first. */
export interface RunFilter {
  pipeline?: string;
  status?: string;
  trigger?: string;
  /** The model the run registered a version of. */
  model?: string;
  limit?: number;
}

export async function listRuns(db: Pool, filter: RunFilter = {}): Promise<RunRecord[]> {
  const { rows } = await db.query<RunRecord>(
    `SELECT ${RUN_COLUMNS} FROM cairn.runs
     WHERE ($1::text IS NULL OR pipeline = $1) AND ($2::text IS NULL OR status = $2)
       AND ($3::text IS NULL OR trigger = $3) AND ($4::text IS NULL OR model_name = $4)
     ORDER BY started_at DESC LIMIT $5`,
    [filter.pipeline ?? null, filter.status ?? null, filter.trigger ?? null, filter.model ?? null, filter.limit ?? 20]
  );
  return rows;
}

export async function getRun(db: Pool, id: string): Promise<RunDetail | undefined> {
  const { rows } = await db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM cairn.runs WHERE id = $1`, [id]);
  if (!rows[0]) return undefined;
  const [stages, params, metrics, artifacts] = await Promise.all([
    db.query(
      `SELECT stage, status, attempt, cache_hit AS "cacheHit", wall_ms AS "wallMs", cpu_ms AS "cpuMs", error,
         started_at AS "startedAt", ended_at AS "endedAt"
       FROM cairn.run_stages WHERE run_id = $1 ORDER BY started_at`,
      [id]
    ),
    db.query<{ key: string; value: string }>('SELECT key, value FROM cairn.run_params WHERE run_id = $1 ORDER BY key', [
      id,
    ]),
    db.query('SELECT name, step, value FROM cairn.run_metrics WHERE run_id = $1 ORDER BY name, step', [id]),
    db.query('SELECT stage, role, digest, bytes FROM cairn.run_artifacts WHERE run_id = $1 ORDER BY stage, role', [id]),
  ]);
  return {
    ...rows[0],
    stages: stages.rows,
    params: Object.fromEntries(params.rows.map((p) => [p.key, p.value])),
    metrics: metrics.rows,
    artifacts: artifacts.rows,
  };
}

export interface DatasetVersion {
  pipeline: string;
  digest: string;
  schemaDigest: string;
  rowCount: number;
  manifestDigest: string;
  acceptedAt: Date;
  statistics?: unknown;
}

const DATASET_COLUMNS = `pipeline, digest, schema_digest AS "schemaDigest", row_count AS "rowCount", manifest_digest AS "manifestDigest",
  accepted_at AS "acceptedAt"`;

export async function listDatasets(db: Pool, pipeline?: string): Promise<DatasetVersion[]> {
  const { rows } = await db.query<DatasetVersion>(
    `SELECT ${DATASET_COLUMNS} FROM cairn.dataset_versions WHERE ($1::text IS NULL OR pipeline = $1) ORDER BY accepted_at DESC`,
    [pipeline ?? null]
  );
  return rows;
}

/** A dataset version by digest or unique digest prefix (as `git` takes commits). */
export async function getDataset(db: Pool, digest: string): Promise<DatasetVersion[]> {
  const { rows } = await db.query<DatasetVersion>(
    `SELECT ${DATASET_COLUMNS}, statistics FROM cairn.dataset_versions WHERE digest LIKE $1 || '%' ORDER BY accepted_at DESC`,
    [digest.startsWith('sha256:') ? digest : `sha256:${digest}`]
  );
  return rows;
}
