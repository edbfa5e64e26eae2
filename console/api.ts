// What the console's pages read: runs, models and their lineage, straight from PostgreSQL.
import type { Client } from '@temporalio/client';
import type { Pool } from '../lib/db/pool.js';
import { statusQuery } from '../workflows/messages.js';
import type { CanaryStep } from '../workflows/release-model.js';
import { aliasHistory, listModels, listVersions } from '../lib/registry/models.js';
import { listDeployments } from '../lib/release/deployments.js';
import { getDataset, getRun, listDatasets, listRuns } from '../lib/tracking/queries.js';
import type { RunFilter } from '../lib/tracking/queries.js';

/** Where a page links to the Temporal UI: the namespace's base URL. */
export interface ConsoleLinks {
  temporal: string;
}

export function createConsoleApi(db: Pool, links: ConsoleLinks, client?: Client) {
  const temporalLink = (run: { workflowId: string | null; executionId: string | null; id: string }) =>
    `${links.temporal}/workflows/${encodeURIComponent(run.workflowId ?? run.id)}${
      run.executionId ? `/${encodeURIComponent(run.executionId)}` : ''
    }/history`;

  return {
    async runs(filter: RunFilter) {
      const runs = await listRuns(db, filter);
      const { rows } = await db.query<{ pipeline: string; trigger: string; model: string | null }>(
        `SELECT DISTINCT pipeline, trigger, model_name AS model FROM cairn.runs`
      );
      const distinct = (key: 'pipeline' | 'trigger' | 'model') =>
        [...new Set(rows.map((r) => r[key]).filter((v): v is string => v !== null))].sort();
      return {
        runs: runs.map((run) => ({ ...run, temporal: temporalLink(run) })),
        choices: { pipeline: distinct('pipeline'), trigger: distinct('trigger'), model: distinct('model') },
      };
    },

    /** A run by its id, or the latest run of a workflow id (what `cairn run` prints: ids are reused by reruns). */
    async run(id: string) {
      let run = await getRun(db, id);
      if (!run) {
        const { rows } = await db.query<{ id: string }>(
          'SELECT id FROM cairn.runs WHERE workflow_id = $1 ORDER BY started_at DESC LIMIT 1',
          [id]
        );
        if (rows[0]) run = await getRun(db, rows[0].id);
      }
      return run && { ...run, temporal: temporalLink(run) };
    },

    models: () => listModels(db),

    async model(name: string) {
      const [summary, versions, history] = await Promise.all([
        listModels(db).then((all) => all.find((m) => m.name === name)),
        listVersions(db, name),
        aliasHistory(db, name),
      ]);
      if (!summary) return undefined;
      // Each version's run: its code, config and dataset (the lineage graph's other nodes).
      const { rows: runs } = await db.query<{
        id: string;
        codeCommit: string;
        codeDirty: boolean;
        configDigest: string;
        trigger: string;
      }>(
        `SELECT id, code_commit AS "codeCommit", code_dirty AS "codeDirty", config_digest AS "configDigest", trigger
         FROM cairn.runs WHERE id = ANY($1)`,
        [versions.map((v) => v.runId)]
      );
      const { rows: datasets } = await db.query<{ digest: string; rowCount: number; manifestDigest: string }>(
        `SELECT DISTINCT ON (digest) digest, row_count AS "rowCount", manifest_digest AS "manifestDigest"
         FROM cairn.dataset_versions WHERE digest = ANY($1)`,
        [versions.map((v) => v.datasetDigest)]
      );
      return {
        ...summary,
        versions: versions.map((v) => ({
          ...v,
          run: runs.find((r) => r.id === v.runId) ?? null,
          dataset: datasets.find((d) => d.digest === v.datasetDigest) ?? null,
        })),
        history,
      };
    },

    /** Releases (newest first) with their decisions, what serves where, and every deployment change. */
    async releases() {
      const { rows: releases } = await db.query<{ id: string }>(
        `SELECT id, model, version, environment, strategy, status, checklist, outcome, started_at AS "startedAt",
           ended_at AS "endedAt"
         FROM cairn.releases ORDER BY started_at DESC LIMIT 200`
      );
      const [approvals, deployments, history] = await Promise.all([
        db.query<{ releaseId: string }>(
          `SELECT release_id AS "releaseId", seq, decision, by, comment, accepted, at
           FROM cairn.approvals WHERE release_id = ANY($1) ORDER BY release_id, seq`,
          [releases.map((r) => r.id)]
        ),
        listDeployments(db),
        db.query(
          `SELECT model, environment, revision, action, stable_version AS "stableVersion", canary_version AS "canaryVersion",
             canary_weight AS "canaryWeight", previous_version AS "previousVersion", release_id AS "releaseId", by, reason, at
           FROM cairn.deployment_history ORDER BY id DESC LIMIT 500`
        ),
      ]);
      return {
        releases: releases.map((r) => ({
          ...r,
          workflowId: r.id.split('/')[0]!,
          decisions: approvals.rows.filter((a) => a.releaseId === r.id),
        })),
        deployments,
        history: history.rows,
      };
    },

    datasets: () => listDatasets(db),

    /** A dataset version (by digest) with its statistics, and the runs that trained on it. */
    async dataset(digest: string) {
      const [version] = await getDataset(db, digest);
      if (!version) return undefined;
      const { rows: runs } = await db.query(
        `SELECT id, status, model_name AS "modelName", model_version AS "modelVersion", started_at AS "startedAt"
         FROM cairn.runs WHERE dataset_digest = $1 ORDER BY started_at DESC LIMIT 100`,
        [version.digest]
      );
      return { ...version, runs };
    },

    /** Every deployment a monitor reports on, with its newest report. */
    async monitors() {
      const { rows } = await db.query(
        `SELECT DISTINCT ON (model, environment) model, environment, version, status, window_end AS "windowEnd",
           report->>'summary' AS summary, (SELECT count(*)::int FROM cairn.monitoring_reports c
             WHERE c.model = r.model AND c.environment = r.environment) AS reports
         FROM cairn.monitoring_reports r ORDER BY model, environment, window_end DESC, id DESC`
      );
      return rows;
    },

    /**
     * A deployment's reports over time, oldest first, without their histograms (the series the page plots), and
     * one report whole: `reportId`, or the newest.
     */
    async monitoring(model: string, environment: string, reportId?: number) {
      const { rows: series } = await db.query<{ id: number }>(
        `SELECT id, seq, status, version, window_start AS "windowStart", window_end AS "windowEnd", retrain_id AS "retrainId",
           report #- '{dataDrift,columns}' #- '{predictionDrift,histogram}' AS report,
           (SELECT jsonb_agg(c - 'histogram') FROM jsonb_array_elements(report->'dataDrift'->'columns') c) AS columns
         FROM (SELECT * FROM cairn.monitoring_reports WHERE model = $1 AND environment = $2
               ORDER BY window_end DESC, id DESC LIMIT 500) r
         ORDER BY window_end, id`,
        [model, environment]
      );
      if (!series.length) return undefined;
      const id = reportId ?? series.at(-1)!.id;
      const { rows } = await db.query(
        `SELECT id, seq, status, version, window_start AS "windowStart", window_end AS "windowEnd",
           retrain_id AS "retrainId", report
         FROM cairn.monitoring_reports WHERE id = $1 AND model = $2 AND environment = $3`,
        [id, model, environment]
      );
      return { model, environment, series, report: rows[0] ?? null };
    },

    /**
     * A canary release's steps and every comparison of canary and stable it made: kept by its workflow (its status
     * while it runs, its result once ended), not in PostgreSQL. Undefined without a Temporal connection.
     */
    async canarySteps(workflowId: string): Promise<CanaryStep[] | undefined> {
      if (!client) return undefined;
      const handle = client.workflow.getHandle(workflowId);
      const { status } = await handle.describe();
      if (status.name === 'RUNNING') {
        const current = await handle.query(statusQuery);
        return (current.results as { steps?: CanaryStep[] }).steps ?? [];
      }
      const result = (await handle.result().catch(() => undefined)) as { steps?: CanaryStep[] } | undefined;
      return result?.steps ?? [];
    },

    /** The model a release (by workflow id) is of: the role an approver needs is approver:<model>. */
    async releaseModel(workflowId: string): Promise<string | undefined> {
      const { rows } = await db.query<{ model: string }>(
        `SELECT model FROM cairn.releases WHERE id LIKE $1 || '/%' ORDER BY started_at DESC LIMIT 1`,
        [workflowId.replace(/[\\%_]/g, '\\$&')]
      );
      return rows[0]?.model;
    },
  };
}

export type ConsoleApi = ReturnType<typeof createConsoleApi>;
