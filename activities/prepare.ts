import { resolveRunConfig } from '../lib/pipeline/run-config.js';
import { startRun } from '../lib/tracking/runs.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';
import { execution } from './tracked-stage.js';
import type { RunPlan } from '../lib/pipeline/stage-types.js';

export interface PrepareInput {
  pipeline: string;
  config?: Record<string, unknown>;
  trigger?: string;
  requestedBy?: string;
  /** The run this one reproduces or follows from. */
  parentRunId?: string;
  noCache?: boolean;
  /** Register under this model name instead of the pipeline's. */
  model?: string;
}

/** Resolves the pipeline by name and its full config; unknown names and bad config throw user-facing errors. */
export function planRun(input: PrepareInput, code: ActivityDeps['code']): Omit<RunPlan, 'runId'> {
  const pipeline = resolvePipeline(input.pipeline);
  const resolved = resolveRunConfig(pipeline, input.config ?? {});
  return {
    pipeline: pipeline.name,
    model: input.model ?? pipeline.name,
    pipelineVersion: pipeline.version,
    task: pipeline.target.task,
    ...resolved,
    code,
    noCache: input.noCache ?? false,
  };
}

export function createPrepareActivities({ db, code }: ActivityDeps) {
  return {
    /** Plans the run and records it (status running, config, params, code version); a bad request fails here. */
    async prepareRun(input: PrepareInput): Promise<RunPlan> {
      return failFast(async () => {
        const plan = planRun(input, code);
        const runId = await startRun(db, {
          ...execution(),
          pipeline: plan.pipeline,
          pipelineVersion: plan.pipelineVersion,
          trigger: input.trigger ?? 'manual',
          ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
          ...(input.parentRunId ? { parentRunId: input.parentRunId } : {}),
          config: plan.config,
          configDigest: plan.configDigest,
          code,
        });
        return { runId, ...plan };
      });
    },
  };
}
