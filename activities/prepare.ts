import { resolveRunConfig } from '../lib/pipelines/run-config.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';
import type { RunPlan } from './stage-types.js';

export interface PrepareInput {
  pipeline: string;
  config?: Record<string, unknown>;
}

/** Resolves the pipeline by name and its full config; unknown names and bad config fail without retrying. */
export function planRun({ pipeline: name, config }: PrepareInput, code: ActivityDeps['code']): RunPlan {
  const pipeline = resolvePipeline(name);
  const resolved = resolveRunConfig(pipeline, config ?? {});
  return { pipeline: pipeline.name, pipelineVersion: pipeline.version, task: pipeline.target.task, ...resolved, code };
}

export function createPrepareActivities({ code }: ActivityDeps) {
  return {
    async prepareRun(input: PrepareInput): Promise<RunPlan> {
      return failFast(async () => planRun(input, code));
    },
  };
}
