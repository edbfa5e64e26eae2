// What the console's pages read: runs, models and their lineage, straight from PostgreSQL.
import type { Pool } from '../lib/db/pool.js';
import { aliasHistory, listModels, listVersions } from '../lib/registry/models.js';
import { getRun, listRuns } from '../lib/tracking/queries.js';
import type { RunFilter } from '../lib/tracking/queries.js';

/** Where a page links to the Temporal UI: the namespace's base URL. */
export interface ConsoleLinks {
  temporal: string;
}

export function createConsoleApi(db: Pool, links: ConsoleLinks) {
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

    async run(id: string) {
      const run = await getRun(db, id);
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
  };
}

export type ConsoleApi = ReturnType<typeof createConsoleApi>;
