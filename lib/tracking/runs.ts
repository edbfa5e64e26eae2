import type { Pool } from '../db/pool.js';
import type { CodeVersion } from '../lineage/code-version.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface NewRun {
  /** The workflow execution the run is: its workflow id and the Temporal run id that started it. */
  workflowId: string;
  executionId: string;
  pipeline: string;
  pipelineVersion: string;
  trigger: string;
  requestedBy?: string;
  parentRunId?: string;
  config: Record<string, unknown>;
  configDigest: string;
  code: CodeVersion;
}

/** `a.b.c` → value pairs of a config, for the params table. */
export function flattenParams(config: Record<string, unknown>, prefix = ''): [string, string][] {
  return Object.entries(config).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? flattenParams(value as Record<string, unknown>, `${prefix}${key}.`)
      : [[`${prefix}${key}`, typeof value === 'string' ? value : JSON.stringify(value)] as [string, string]]
  );
}

/**
 * Records a run as running, with its params, and returns its id: the workflow id for the first execution to use it,
 * `<workflow id>.<first 8 characters of the run id>` for a later one (a reset, a lost temporal.db, a reused id), so
 * two executions never share a record. A retried start finds the run it already recorded.
 */
export async function startRun(db: Pool, run: NewRun): Promise<string> {
  const ids = [run.workflowId, `${run.workflowId}.${run.executionId.slice(0, 8)}`];
  let id: string | undefined;
  for (const candidate of ids) {
    const { rows } = await db.query<{ id: string }>(
      `WITH mine AS (SELECT id FROM cairn.runs WHERE workflow_id = $11 AND execution_id = $12),
       added AS (
         INSERT INTO cairn.runs (id, pipeline, pipeline_version, trigger, requested_by, parent_run_id, status, config,
           config_digest, code_commit, code_dirty, workflow_id, execution_id)
         SELECT $1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12 WHERE NOT EXISTS (SELECT 1 FROM mine)
         ON CONFLICT DO NOTHING RETURNING id)
       SELECT id FROM mine UNION ALL SELECT id FROM added`,
      [
        candidate,
        run.pipeline,
        run.pipelineVersion,
        run.trigger,
        run.requestedBy ?? null,
        run.parentRunId ?? null,
        run.config,
        run.configDigest,
        run.code.commit,
        run.code.dirty,
        run.workflowId,
        run.executionId,
      ]
    );
    id = rows[0]?.id;
    if (id) break;
  }
  if (!id) throw new Error(`run ids ${ids.join(' and ')} are both taken by other executions of ${run.workflowId}`);
  const params = flattenParams(run.config);
  await db.query(
    `INSERT INTO cairn.run_params (run_id, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS p(k, v)
     ON CONFLICT DO NOTHING`,
    [id, params.map((p) => p[0]), params.map((p) => p[1])]
  );
  return id;
}

export async function stageStarted(db: Pool, runId: string, stage: string, attempt: number): Promise<void> {
  await db.query(
    `INSERT INTO cairn.run_stages (run_id, stage, status, attempt) VALUES ($1, $2, 'running', $3)
     ON CONFLICT (run_id, stage) DO UPDATE SET status = 'running', attempt = EXCLUDED.attempt, error = NULL, started_at = now(), ended_at = NULL`,
    [runId, stage, attempt]
  );
}

export interface StageOutcome {
  status: 'succeeded' | 'failed';
  wallMs: number;
  cpuMs: number;
  cacheHit?: boolean;
  error?: string;
}

/** Ends a stage; its CPU time adds to the run's CPU seconds and cost (CPU seconds × `cpuSecondPrice`). */
export async function stageFinished(
  db: Pool,
  runId: string,
  stage: string,
  outcome: StageOutcome,
  cpuSecondPrice: number
): Promise<void> {
  // One statement, one commit: the stage and the run's totals move together.
  await db.query(
    `WITH stage AS (
       UPDATE cairn.run_stages SET status = $3, wall_ms = $4, cpu_ms = $5, cache_hit = $6, error = $7, ended_at = now()
       WHERE run_id = $1 AND stage = $2
     )
     UPDATE cairn.runs SET cpu_seconds = cpu_seconds + $8, cost = (cpu_seconds + $8) * $9,
       cache_hits = CASE WHEN $6 AND NOT ($2 = ANY (cache_hits)) THEN array_append(cache_hits, $2) ELSE cache_hits END
     WHERE id = $1`,
    [
      runId,
      stage,
      outcome.status,
      outcome.wallMs,
      outcome.cpuMs,
      outcome.cacheHit ?? false,
      outcome.error ?? null,
      outcome.cpuMs / 1000,
      cpuSecondPrice,
    ]
  );
}

export async function recordArtifacts(
  db: Pool,
  runId: string,
  stage: string,
  artifacts: Record<string, { digest: string; bytes: number }>
) {
  const entries = Object.entries(artifacts);
  if (!entries.length) return;
  await db.query(
    `INSERT INTO cairn.run_artifacts (run_id, stage, role, digest, bytes)
     SELECT $1, $2, r, d, b FROM unnest($3::text[], $4::text[], $5::bigint[]) AS a(r, d, b)
     ON CONFLICT (run_id, stage, role) DO UPDATE SET digest = EXCLUDED.digest, bytes = EXCLUDED.bytes`,
    [runId, stage, entries.map((e) => e[0]), entries.map((e) => e[1].digest), entries.map((e) => e[1].bytes)]
  );
}

/** Records metrics of a run at one step (0: the evaluated metrics); non-finite values are left out. */
export function recordMetrics(db: Pool, runId: string, metrics: Record<string, number>, step = 0): Promise<void> {
  const points = Object.entries(metrics).map(([name, v]): [string, Array<[number, number]>] => [name, [[step, v]]]);
  return recordCurves(db, runId, Object.fromEntries(points));
}

/** Records metric points, by name: one run_metrics row per name and step (training curves). */
export async function recordCurves(
  db: Pool,
  runId: string,
  curves: Record<string, Array<[number, number]>>
): Promise<void> {
  const points = Object.entries(curves).flatMap(([name, pairs]) =>
    pairs.filter(([, v]) => Number.isFinite(v)).map(([step, value]) => ({ name, step, value }))
  );
  if (!points.length) return;
  await db.query(
    `INSERT INTO cairn.run_metrics (run_id, name, step, value)
     SELECT $1, n, s, v FROM unnest($2::text[], $3::int[], $4::float8[]) AS m(n, s, v)
     ON CONFLICT (run_id, name, step) DO UPDATE SET value = EXCLUDED.value`,
    [runId, points.map((p) => p.name), points.map((p) => p.step), points.map((p) => p.value)]
  );
}

export async function setRunDataset(db: Pool, runId: string, datasetDigest: string): Promise<void> {
  await db.query('UPDATE cairn.runs SET dataset_digest = $2 WHERE id = $1', [runId, datasetDigest]);
}

export interface RunEnd {
  status: Exclude<RunStatus, 'running'>;
  error?: string;
  packageDigest?: string;
  model?: { name: string; version: number };
  /** A runPipeline run's named outputs. */
  outputs?: Record<string, unknown>;
}

/** Ends a run in a terminal status (once: a later call never overwrites a terminal status). */
export async function finishRun(db: Pool, runId: string, end: RunEnd): Promise<void> {
  await db.query(
    `UPDATE cairn.runs SET status = $2, error = $3, package_digest = COALESCE($4, package_digest),
       model_name = COALESCE($5, model_name), model_version = COALESCE($6, model_version),
       outputs = COALESCE($7, outputs), ended_at = now()
     WHERE id = $1 AND status = 'running'`,
    [
      runId,
      end.status,
      end.error ?? null,
      end.packageDigest ?? null,
      end.model?.name ?? null,
      end.model?.version ?? null,
      end.outputs === undefined ? null : JSON.stringify(end.outputs),
    ]
  );
  // A stage that was running when the run ended (its worker died) ends with the run.
  await db.query(
    `UPDATE cairn.run_stages SET status = 'failed', error = COALESCE(error, $2), ended_at = now() WHERE run_id = $1 AND status = 'running'`,
    [runId, end.error ?? end.status]
  );
}
