import { Context } from '@temporalio/activity';
import { DEFAULT_INDEX_POLICY, checkIndex } from '../lib/embeddings/monitor.js';
import { resolveVectorIndex } from '../lib/embeddings/registry.js';
import { checkPrompt, DEFAULT_PROMPT_POLICY } from '../lib/prompts/monitor.js';
import { ALIASED, aliasState } from '../lib/release/aliases.js';
import { getRun } from '../lib/tracking/queries.js';
import { retrainRequestSignal } from '../workflows/messages.js';
import type { RebuildIndexInput } from '../workflows/rebuild-index.js';
import type { ActivityDeps } from './deps.js';

export interface AliasCheckInput {
  kind: 'index' | 'prompt';
  monitorId: string;
  seq: number;
  name: string;
  alias: string;
  from: string;
  to: string;
  /** Thresholds over the kind's defaults (IndexPolicy, PromptPolicy). */
  policy?: Record<string, number>;
}

export interface AliasCheckSummary {
  reportId?: number;
  /** The alias still points at a version. */
  served: boolean;
  version?: number;
  status: 'ok' | 'alert' | 'no-traffic';
  reason: string;
}

export function createAliasMonitorActivities(deps: ActivityDeps) {
  const { db, store } = deps;
  return {
    /**
     * Checks what the version an alias serves did in the window (an index's searches, a prompt's renders) and stores
     * the report, once per monitor execution and check number (a retried activity finds the report it wrote).
     */
    async aliasMonitorCheck(c: AliasCheckInput): Promise<AliasCheckSummary> {
      const existing = await db.query<{
        id: number;
        status: AliasCheckSummary['status'];
        version: number;
        reason: string;
      }>(
        `SELECT id, status, version, report->>'summary' AS reason FROM cairn.alias_reports
         WHERE monitor_id = $1 AND seq = $2`,
        [c.monitorId, c.seq]
      );
      if (existing.rows[0]) {
        const r = existing.rows[0];
        return { reportId: r.id, served: true, version: r.version, status: r.status, reason: r.reason };
      }
      const state = await aliasState(db, ALIASED[c.kind], c.name, c.alias);
      if (!state) return { served: false, status: 'no-traffic', reason: `${c.name}@${c.alias} serves nothing` };
      const window = { from: c.from, to: c.to };
      const report =
        c.kind === 'index'
          ? await checkIndex(db, store, c.name, state.version, window, { ...DEFAULT_INDEX_POLICY, ...c.policy })
          : await checkPrompt(db, c.name, state.version, window, { ...DEFAULT_PROMPT_POLICY, ...c.policy });
      const traffic = 'searches' in report ? `${report.searches} searches` : `${report.renders} renders`;
      const least = 'searches' in report ? report.policy.minSearches : report.policy.minRenders;
      const summary = `${c.name}@${state.version}: ${
        report.status === 'alert'
          ? report.breaches.join('; ')
          : report.status === 'ok'
            ? `${traffic}, nothing out of bounds`
            : `${traffic}, fewer than ${least}`
      }`;
      const { rows } = await db.query<{ id: number }>(
        `INSERT INTO cairn.alias_reports (monitor_id, seq, kind, name, alias, version, window_start, window_end,
           status, breaches, report)
         VALUES ($1, $2, $11, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (monitor_id, seq) DO UPDATE SET monitor_id = EXCLUDED.monitor_id RETURNING id`,
        [
          c.monitorId,
          c.seq,
          c.name,
          c.alias,
          state.version,
          c.from,
          c.to,
          report.status,
          JSON.stringify(report.breaches),
          JSON.stringify({ ...report, summary }),
          c.kind,
        ]
      );
      return { reportId: rows[0]!.id, served: true, version: state.version, status: report.status, reason: summary };
    },

    /**
     * Asks for a rebuild of the index with the pipeline and config of the run that built the version it serves:
     * signal-with-start on `rebuild-<index>`, so a burst of alerts while one runs gives one rebuild. Links the report.
     */
    async requestIndexRebuild(r: { monitorId: string; seq: number; name: string; version: number; reason: string }) {
      const built = await getRun(db, (await resolveVectorIndex(db, `${r.name}@${r.version}`)).runId);
      if (!built) throw new Error(`the run that built ${r.name}@${r.version} is not recorded`);
      const workflowId = `rebuild-${r.name}`;
      const input: RebuildIndexInput = {
        index: r.name,
        pipeline: built.pipeline,
        config: built.config as Record<string, unknown>,
        reason: r.reason,
      };
      const handle = await Context.current().client.workflow.signalWithStart('rebuildIndex', {
        workflowId,
        taskQueue: Context.current().info.taskQueue,
        args: [input],
        signal: retrainRequestSignal,
        signalArgs: [{ reason: r.reason }],
      });
      await db.query('UPDATE cairn.alias_reports SET rebuild_id = $3 WHERE monitor_id = $1 AND seq = $2', [
        r.monitorId,
        r.seq,
        workflowId,
      ]);
      return { workflowId, runId: handle.signaledRunId };
    },
  };
}
