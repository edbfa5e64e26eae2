import { Context } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import { recordArtifacts, stageFinished, stageStarted } from '../lib/tracking/runs.js';
import { lookupStep, saveStep, stepKey } from '../lib/tracking/step-cache.js';
import type { ActivityDeps } from './deps.js';
import { asFailure } from './failures.js';
import type { RunPlan } from '../lib/pipeline/stage-types.js';

export interface StageOptions<T> {
  /** Makes the stage cacheable: its implementation version and everything it reads (digests and config). */
  cache?: { implementation: string; inputs: unknown };
  /** The artifacts a result names, by role: recorded with the run, and verified before a cache hit counts. */
  artifacts: (result: T) => Record<string, ArtifactRef>;
  /**
   * Heartbeat every 2 s while the stage runs, so a killed worker is noticed within the heartbeat timeout instead of
   * the start-to-close timeout. Not for stages that heartbeat details of their own (training checkpoints), which
   * these would overwrite.
   */
  liveness?: boolean;
}

/** The workflow execution the current activity works for: its workflow id and Temporal run id. */
export function execution(): { workflowId: string; executionId: string } {
  const { workflowExecution, activityId } = Context.current().info;
  return {
    workflowId: workflowExecution?.workflowId ?? activityId,
    executionId: workflowExecution?.runId ?? activityId,
  };
}

/**
 * Runs one stage of a run with its bookkeeping: the stage's status, attempt, wall and CPU time and artifacts in
 * the run record, and the step cache (skipped when the run asked for `noCache`). Errors that a retry cannot fix
 * become non-retryable failures.
 */
export async function trackedStage<T extends object>(
  { db, store, cpuSecondPrice }: Pick<ActivityDeps, 'db' | 'store' | 'cpuSecondPrice'>,
  plan: Pick<RunPlan, 'runId' | 'noCache' | 'nested'>,
  stage: string,
  options: StageOptions<T>,
  compute: () => Promise<T>
): Promise<T & { cacheHit: boolean }> {
  if (plan.nested) {
    try {
      return { ...(await compute()), cacheHit: false };
    } catch (err) {
      throw asFailure(err);
    }
  }
  const { info } = Context.current();
  const { runId } = plan;
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const elapsed = () => {
    const used = process.cpuUsage(cpu);
    return { wallMs: performance.now() - wall, cpuMs: (used.user + used.system) / 1000 };
  };
  await stageStarted(db, runId, stage, info.attempt);
  try {
    const key = options.cache && stepKey(stage, options.cache.implementation, options.cache.inputs);
    const cached = key && !plan.noCache ? await lookupStep<T>(db, store, key) : undefined;
    const ctx = Context.current();
    const ticker = options.liveness ? setInterval(() => ctx.heartbeat(), 2000) : undefined;
    const result = await (cached ? Promise.resolve(cached) : compute()).finally(() => clearInterval(ticker));
    const artifacts = options.artifacts(result);
    // Independent writes, each idempotent: side by side (a retry after a partial failure writes them again).
    await Promise.all([
      key && !cached
        ? saveStep(
            db,
            key,
            stage,
            result,
            Object.values(artifacts).map((a) => a.digest),
            runId
          )
        : undefined,
      recordArtifacts(db, runId, stage, artifacts),
      stageFinished(
        db,
        runId,
        stage,
        { status: 'succeeded', cacheHit: cached !== undefined, ...elapsed() },
        cpuSecondPrice
      ),
    ]);
    return { ...result, cacheHit: cached !== undefined };
  } catch (err) {
    await stageFinished(
      db,
      runId,
      stage,
      { status: 'failed', error: (err as Error).message, ...elapsed() },
      cpuSecondPrice
    ).catch(() => undefined);
    throw asFailure(err);
  }
}
