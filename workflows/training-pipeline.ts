import {
  ActivityCancellationType,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { EvaluationResult, GateResult } from '../lib/pipeline/stage-types.js';
import { artifactInput, digest, parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import {
  CairnDatasetDigest,
  CairnModel,
  CairnModelVersion,
  CairnPipeline,
  CairnStage,
  CairnTrigger,
} from './search-attributes.js';
import { boundedRetry } from './retry.js';
import { StageTracker } from './stages.js';
import { notify } from './notify.js';

export const trainingPipelineInput = z.strictObject({
  /** Pipeline name from the pipeline index, e.g. `penguins`. */
  pipeline: z.string().min(1),
  /** Config overrides, merged over the pipeline's defaults and config.yaml. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** What started the run: `manual`, `schedule`, `drift`, `reproduce`… */
  trigger: z.string().min(1).default('manual'),
  requestedBy: z.string().optional(),
  /** Queue of the CPU-heavy stages. @default '<this workflow's task queue>-train' (`cairn-train`) */
  trainTaskQueue: z.string().min(1).optional(),
  /** Recompute every stage instead of reusing cached results. */
  noCache: z.boolean().default(false),
  /** Register the package as a new model version (and champion if it passes). Reproductions pass false. */
  register: z.boolean().default(true),
  /** Train on this recorded snapshot instead of reading the source (reproduction). */
  dataset: z
    .strictObject({
      digest,
      rowCount: z.number().int().nonnegative(),
      schemaDigest: digest,
      data: artifactInput,
      manifest: artifactInput,
    })
    .optional(),
  /** The run this one reproduces or follows from, for lineage. */
  parentRunId: z.string().optional(),
  /** The registry model to register under. @default the pipeline name */
  model: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, 'expected a kebab-case model name')
    .optional(),
});
export type TrainingPipelineInput = z.input<typeof trainingPipelineInput>;

export interface TrainingPipelineResult {
  runId: string;
  pipeline: string;
  dataset: string;
  /** `version` is assigned when the model registry registers the package; null until then. */
  model: { name: string; version: number | null; digest: string };
  metrics: EvaluationResult['metrics'];
  gate: GateResult;
}

export const STAGES = [
  'prepare',
  'ingest',
  'validate',
  'transform',
  'train',
  'evaluate',
  'package',
  'register',
] as const;

const retry = boundedRetry({ maximumAttempts: 10 });

/**
 * One run of a pipeline: prepare → ingest → validate → transform → train → evaluate → package → register, one
 * activity per stage, each recorded in the run's tracking record and cached by what it reads. Light stages run on
 * this workflow's queue; data and training stages on the train queue. Bad input, config or data fails the run at
 * once; a crashed worker costs only the stage it was running, and training resumes from its last checkpoint.
 */
export async function trainingPipeline(input: TrainingPipelineInput): Promise<TrainingPipelineResult> {
  const status: WorkflowStatus = { stage: 'prepare', results: {} };
  setHandler(statusQuery, () => status);
  const args = parseInput('trainingPipeline', trainingPipelineInput, input);
  const info = workflowInfo();
  const heavyQueue = args.trainTaskQueue ?? `${info.taskQueue}-train`;

  // Stages heartbeat every 2 s while they run (trackedStage's liveness), so a killed worker's stage is retried within
  // 30 s; the quick bookkeeping activities (prepare, finish) end long before.
  const light = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '30 seconds',
    retry,
  });
  const data = proxyActivities<Activities>({
    taskQueue: heavyQueue,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '30 seconds',
    retry,
  });
  const training = proxyActivities<Activities>({
    taskQueue: heavyQueue,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '10 seconds',
    // A cancelled run ends at once, even when the worker that was training is gone.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry,
  });

  const stages = new StageTracker(status);
  // Runs started before run tracking and the registry existed replay without them.
  const tracked = patched('run-tracking-and-registry');
  upsertSearchAttributes([
    { key: CairnPipeline, value: args.pipeline },
    { key: CairnTrigger, value: args.trigger },
    { key: CairnStage, value: 'prepare' },
  ]);

  let runId = info.workflowId;
  try {
    // The first upsert above already set the stage to prepare.
    const plan = await light.prepareRun({
      pipeline: args.pipeline,
      ...(args.config ? { config: args.config } : {}),
      trigger: args.trigger,
      ...(args.requestedBy ? { requestedBy: args.requestedBy } : {}),
      ...(args.parentRunId ? { parentRunId: args.parentRunId } : {}),
      noCache: args.noCache,
      ...(args.model ? { model: args.model } : {}),
    });
    // Unique per execution: a reused workflow id gets a record of its own (see startRun).
    runId = plan.runId;
    status.results.prepare = { configDigest: plan.configDigest, code: plan.code };
    const dataset = await stages.run('ingest', () => data.ingest(plan, args.dataset));
    upsertSearchAttributes([{ key: CairnDatasetDigest, value: dataset.digest }]);
    await stages.run('validate', () => data.validate(plan, dataset));
    const transformed = await stages.run('transform', () => data.transform(plan, dataset));
    const trained = await stages.run('train', () => training.train(plan, transformed));
    const evaluation = await stages.run('evaluate', () => data.evaluate(plan, transformed, trained, dataset));
    const packaged = await stages.run('package', () =>
      light.packageModel(plan, dataset, transformed, trained, evaluation)
    );
    let version: number | null = null;
    if (tracked && args.register) {
      const registered = await stages.run('register', () =>
        light.register({
          plan,
          dataset,
          packaged,
          evaluation,
          ...(args.requestedBy ? { requestedBy: args.requestedBy } : {}),
        })
      );
      version = registered.version;
      upsertSearchAttributes([
        { key: CairnModel, value: registered.model },
        { key: CairnModelVersion, value: String(registered.version) },
      ]);
    }
    if (tracked) {
      await light.finishRun(runId, {
        status: 'succeeded',
        packageDigest: packaged.package.digest,
        ...(version !== null ? { model: { name: plan.model, version } } : {}),
      });
    }
    stages.enter('done');
    return {
      runId,
      pipeline: plan.pipeline,
      dataset: dataset.digest,
      model: { name: plan.model, version, digest: packaged.package.digest },
      metrics: evaluation.metrics,
      gate: evaluation.gate,
    };
  } catch (err) {
    stages.fail();
    if (tracked) {
      // Whatever ended the run (bad data, a failed stage, cancellation), its record ends too, never left running.
      const status = isCancellation(err) ? 'cancelled' : 'failed';
      const message =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      const error = message || (status === 'cancelled' ? 'the run was cancelled' : 'the run failed');
      await CancellationScope.nonCancellable(() => light.finishRun(runId, { status, error }));
      if (status === 'failed')
        await notify({
          type: 'run_failed',
          pipeline: args.pipeline,
          ...(args.model ? { model: args.model } : {}),
          runId,
          stage: String(stages.status.results.failedAt),
          summary: error,
        });
    }
    throw err;
  }
}
