import { Context } from '@temporalio/activity';
import { evaluateRows, parseEvaluationRows } from '../lib/prompts/evaluation.js';
import { metricName, promptGate } from '../lib/prompts/gate.js';
import type { ScorerSpec } from '../lib/prompts/gate.js';
import { CachedLlm } from '../lib/prompts/llm.js';
import { findEvaluation, recordEvaluation, resolvePrompt, UnknownPromptError } from '../lib/prompts/registry.js';
import type { PromptEvaluation, PromptRef } from '../lib/prompts/registry.js';
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

export function createPromptActivities(deps: ActivityDeps) {
  return {
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
