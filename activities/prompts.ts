import { Context } from '@temporalio/activity';
import { evaluateRows, parseEvaluationRows } from '../lib/prompts/evaluation.js';
import { metricName, promptGate } from '../lib/prompts/gate.js';
import type { ScorerSpec } from '../lib/prompts/gate.js';
import { CachedLlm } from '../lib/prompts/llm.js';
import { approversOf } from '../lib/auth/tokens.js';
import {
  findEvaluation,
  listEvaluations,
  movePromptAlias,
  recordEvaluation,
  resolvePrompt,
  UnknownPromptError,
} from '../lib/prompts/registry.js';
import type { AliasMove, PromptEvaluation, PromptRef } from '../lib/prompts/registry.js';
import type { Decision } from './release.js';
import type { ActivityDeps } from './deps.js';

export interface EvaluatePromptVersionInput {
  /** The version evaluated: a number, or an alias resolved when the activity runs. */
  ref: PromptRef;
  /** Digest of the evaluation dataset (JSON array or lines of `{ variables, reference? }`) in the object store. */
  dataset: string;
  scorers: ScorerSpec[];
  /** Which evaluation of the workflow this is: one is recorded per execution and role. */
  role: 'candidate' | 'baseline';
  requestedBy: string;
  /** For the candidate: the baseline's evaluation on the same rows (null: none) and the gate's thresholds. */
  gate?: {
    baseline: { version: number; metrics: Record<string, number> } | null;
    tolerance: number;
    minScore?: number;
  };
}

/** A release of a prompt version to an alias (releasePrompt). */
export interface PromptReleaseRequest {
  releaseId: string;
  prompt: string;
  version: number;
  alias: string;
  strategy: unknown;
  requestedBy?: string;
}

export interface PromptChecklistItem {
  item: 'version-registered' | 'evaluation-passed' | 'rollback-ready' | 'approvers';
  ok: boolean;
  detail: string;
}

export interface PromptChecklist {
  passed: boolean;
  items: PromptChecklistItem[];
  approvers: string[];
  /** The version the alias serves now: the rollback target (null: the alias's first release). */
  current: number | null;
}

export function createPromptActivities(deps: ActivityDeps) {
  const { db } = deps;
  return {
    /** Records a prompt release (idempotent by its id). */
    async startPromptRelease(r: PromptReleaseRequest): Promise<void> {
      await db.query(
        `INSERT INTO cairn.prompt_releases (id, prompt, version, alias, strategy, status, requested_by)
         VALUES ($1, $2, $3, $4, $5, 'checking', $6) ON CONFLICT (id) DO NOTHING`,
        [r.releaseId, r.prompt, r.version, r.alias, JSON.stringify(r.strategy), r.requestedBy ?? null]
      );
    },

    /**
     * Before a prompt version may serve an alias: it is registered, it passed an evaluation gated against the
     * version the alias serves now (the rollback target), and someone other than the requester may approve it.
     */
    async promptReleaseChecklist(r: PromptReleaseRequest): Promise<PromptChecklist> {
      const version = await resolvePrompt(db, { prompt: r.prompt, version: r.version });
      const current = await resolvePrompt(db, { prompt: r.prompt, alias: r.alias }).then(
        (v) => v.version,
        (err: unknown) => {
          if (err instanceof UnknownPromptError) return null;
          throw err;
        }
      );
      const evaluation = (await listEvaluations(db, r.prompt)).find(
        (e) => e.version === r.version && e.gate?.passed && (e.gate.baselineVersion ?? null) === current
      );
      const approvers = (await approversOf(db, r.prompt)).filter((p) => deps.selfApproval || p !== r.requestedBy);
      const against = current === null ? 'no baseline (the alias serves nothing yet)' : `${r.alias} v${current}`;
      const items: PromptChecklistItem[] = [
        {
          item: 'version-registered',
          ok: true,
          detail: `${r.prompt}@${r.version} ${version.digest} by ${version.author}`,
        },
        {
          item: 'evaluation-passed',
          ok: evaluation !== undefined,
          detail: evaluation
            ? `evaluation ${evaluation.id}: ${evaluation.gate!.metric} ${evaluation.gate!.candidate.toFixed(4)} against ${against}`
            : `no passing evaluation of v${r.version} against ${against}: cairn prompts evaluate ${r.prompt}@${r.version} --against ${r.alias}`,
        },
        {
          item: 'rollback-ready',
          ok: current !== r.version,
          detail:
            current === r.version
              ? `${r.alias} serves v${r.version} already`
              : current === null
                ? `first release of ${r.alias}: nothing serves it before`
                : `v${current} stays the rollback target`,
        },
        {
          item: 'approvers',
          ok: approvers.length > 0,
          detail: approvers.length
            ? `can approve: ${approvers.join(', ')}`
            : `nobody but the requester holds approver:${r.prompt}`,
        },
      ];
      const passed = items.every((i) => i.ok);
      await db.query('UPDATE cairn.prompt_releases SET checklist = $2, updated_at = now() WHERE id = $1', [
        r.releaseId,
        JSON.stringify(items),
      ]);
      return { passed, items, approvers, current };
    },

    async recordPromptRelease(id: string, status: string, decisions: Decision[], outcome?: string): Promise<void> {
      await db.query(
        `UPDATE cairn.prompt_releases SET status = $2, decisions = $3, outcome = COALESCE($4, outcome), updated_at = now()
         WHERE id = $1`,
        [id, status, JSON.stringify(decisions), outcome ?? null]
      );
    },

    /** Moves the release's alias (a canary share, the promotion, the canary's end). */
    async movePromptRelease(r: PromptReleaseRequest, move: AliasMove, by: string): Promise<void> {
      await movePromptAlias(db, r.prompt, r.alias, move, by, r.releaseId);
    },

    /**
     * Evaluates a prompt version over a dataset (answers through the response cache) and records it, once per
     * workflow execution and role. Null when `ref` is an alias nothing points at (no baseline yet).
     */
    async evaluatePromptVersion(input: EvaluatePromptVersionInput): Promise<PromptEvaluation | null> {
      const ctx = Context.current();
      // Unique per execution chain: a workflow id is reused by every evaluation a user starts under it.
      const run = ctx.info.workflowExecution;
      const execution = `${run?.workflowId ?? 'direct'}/${run?.runId ?? ctx.info.activityId}/${input.role}`;
      const recorded = await findEvaluation(deps.db, execution);
      if (recorded) return recorded;
      let version;
      try {
        version = await resolvePrompt(deps.db, input.ref);
      } catch (err) {
        if (err instanceof UnknownPromptError && input.ref.alias !== undefined && input.role === 'baseline')
          return null;
        throw err;
      }
      const rows = parseEvaluationRows((await deps.store.getBytes(input.dataset)).toString('utf8'), input.dataset);
      const llm = new CachedLlm(deps.db, deps.llm ?? { timeoutMs: 60_000, concurrency: 1 });
      const { results, metrics } = await evaluateRows(
        version,
        rows,
        input.scorers,
        llm,
        deps.llm?.concurrency ?? 1,
        (done) => ctx.heartbeat({ done, rows: rows.length }),
        deps.project.scorers
      );
      const metric = metricName(input.scorers[0]!);
      const gate =
        input.gate &&
        promptGate(
          metric,
          metrics[metric]!,
          input.gate.baseline
            ? { version: input.gate.baseline.version, value: input.gate.baseline.metrics[metric]! }
            : undefined,
          input.gate
        );
      const evaluation = await recordEvaluation(
        deps.db,
        execution,
        {
          prompt: version.prompt,
          version: version.version,
          digest: version.digest,
          dataset: input.dataset,
          scorers: input.scorers,
          metrics,
          rows: rows.length,
          calls: llm.usage.calls,
          cached: llm.usage.cached,
          requestedBy: input.requestedBy,
          gate: gate ?? null,
        },
        results
      );
      deps.logger.info(
        { prompt: version.prompt, version: version.version, role: input.role, metrics, ...llm.usage },
        'prompt version evaluated'
      );
      return evaluation;
    },
  };
}
