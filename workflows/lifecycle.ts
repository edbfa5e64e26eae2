import { executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import type { ReleaseModelInput, ReleaseModelResult } from './release-model.js';
import { releaseModel } from './release-model.js';
import type { TrainingPipelineResult } from './training-pipeline.js';
import { trainingPipeline } from './training-pipeline.js';
import { StageTracker } from './stages.js';
import { boundedRetry } from './retry.js';

export const lifecycleInput = z.strictObject({
  pipeline: z.string().min(1),
  /** The registered model the run makes a version of. @default the pipeline name */
  model: z.string().min(1).optional(),
  /** Config overrides for the training run. */
  config: z.record(z.string(), z.unknown()).optional(),
  environment: z.string().min(1).default('production'),
  /** Release strategy (see releaseModel). @default 'direct' */
  strategy: z.unknown().optional(),
  approvalTimeout: z.string().optional(),
  trigger: z.string().min(1).default('manual'),
  requestedBy: z.string().optional(),
});
export type LifecycleInput = z.input<typeof lifecycleInput>;

export interface LifecycleResult {
  training: TrainingPipelineResult;
  /** Absent when the model failed its gate: nothing is released then. */
  release?: ReleaseModelResult;
}

const { servingVersion } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

/**
 * Train, then release: `trainingPipeline` and `releaseModel` as children, so each shows as its own workflow with its
 * own history in the UI. A model that fails its gate is not released; a release waits for a human as always.
 */
export async function lifecycle(raw: LifecycleInput): Promise<LifecycleResult> {
  const input = parseInput('lifecycle', lifecycleInput, raw);
  const status: WorkflowStatus = { stage: 'training', results: {} };
  setHandler(statusQuery, () => status);
  return trainAndRelease(input, new StageTracker(status));
}

/** The body `lifecycle` and `retrainModel` share. */
export async function trainAndRelease(
  input: z.output<typeof lifecycleInput>,
  stages: StageTracker,
  trainingId = `${workflowInfo().workflowId}-train`
): Promise<LifecycleResult> {
  const training = await stages.run('training', () =>
    executeChild(trainingPipeline, {
      workflowId: trainingId,
      args: [
        {
          pipeline: input.pipeline,
          ...(input.model ? { model: input.model } : {}),
          trigger: input.trigger,
          ...(input.config ? { config: input.config } : {}),
          ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
        },
      ],
    })
  );
  const { name, version } = training.model;
  if (!training.gate.passed || version === null) {
    stages.enter('done');
    return { training };
  }
  const serving = await servingVersion(name, input.environment);
  const release: ReleaseModelInput = {
    model: name,
    version,
    environment: input.environment,
    first: serving === null,
    ...(input.strategy !== undefined ? { strategy: input.strategy as ReleaseModelInput['strategy'] } : {}),
    ...(input.approvalTimeout ? { approvalTimeout: input.approvalTimeout } : {}),
    ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
  };
  const result = await stages.run('release', () =>
    executeChild(releaseModel, { workflowId: `release-${name}-v${version}-${input.environment}`, args: [release] })
  );
  stages.enter('done');
  return { training, release: result };
}
