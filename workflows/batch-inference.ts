import {
  ActivityCancellationType,
  defineSignal,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { BatchOutput, BatchProgress, ResolvedModel, ScoreBatchResult } from '../activities/batch-inference.js';
import type { Activities } from '../activities/index.js';
import { digest, parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { CairnDatasetDigest, CairnModel, CairnModelVersion, CairnPipeline, CairnStage } from './search-attributes.js';
import { StageTracker } from './stages.js';
import { boundedRetry } from './retry.js';

export const batchInferenceInput = z.strictObject({
  /** `<model>@<version>` or `<model>@<alias>`; an alias is resolved once, when the run starts. */
  model: z
    .string()
    .regex(/^[a-z][a-z0-9-]*@[A-Za-z0-9]+$/, 'expected <model>@<version> or <model>@<alias>, e.g. flight-delays@3'),
  /** The dataset snapshot to score, by digest (a run's `dataset`, `cairn datasets`). */
  input: digest,
  /** Rows per output part: the unit of progress and of the work a crash can lose. @default 100000 */
  chunkRows: z.number().int().min(1_000).max(1_000_000).default(100_000),
  output: z
    .strictObject({
      /** Compression of the Parquet parts. @default 'snappy' */
      compression: z.enum(['snappy', 'none']).default('snappy'),
    })
    .prefault({}),
  /** Queue of the scoring activity. @default '<this workflow's task queue>-train' (`cairn-train`) */
  trainTaskQueue: z.string().min(1).optional(),
});
export type BatchInferenceInput = z.input<typeof batchInferenceInput>;

export interface BatchInferenceResult {
  model: { name: string; version: number; digest: string };
  /** The scored dataset snapshot's digest. */
  input: string;
  /** The output manifest (its digest is the output's identity) with the number of parts and rows. */
  output: BatchOutput;
}

/** `status` of a batch inference: the common fields, plus chunks scored so far while scoring. */
export interface BatchInferenceStatus extends WorkflowStatus {
  chunks?: BatchProgress;
}

/** Sent by the scoring activity as chunks are stored. */
export const batchProgressSignal = defineSignal<[BatchProgress]>('batchProgress');

const retry = boundedRetry({ maximumAttempts: 10 });

/**
 * Scores a dataset snapshot with a registered model version: resolve the version → score chunk by chunk into
 * Parquet parts (on the train queue, resuming after a crash from the last stored chunk) → write the output manifest
 * and record the lineage. The same model, input and chunking give the same output digest, crash or not.
 */
export async function batchInference(input: BatchInferenceInput): Promise<BatchInferenceResult> {
  const status: BatchInferenceStatus = { stage: 'resolve', results: {} };
  setHandler(statusQuery, () => status);
  setHandler(batchProgressSignal, (progress) => {
    status.chunks = progress;
    status.progress = progress.total ? progress.done / progress.total : 1;
  });
  const args = parseInput('batchInference', batchInferenceInput, input);
  const info = workflowInfo();

  const light = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry });
  const scoring = proxyActivities<Activities>({
    taskQueue: args.trainTaskQueue ?? `${info.taskQueue}-train`,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '10 seconds',
    // A cancelled run ends at once, even when the worker that was scoring is gone.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry,
  });

  const stages = new StageTracker(status);
  const modelName = args.model.slice(0, args.model.indexOf('@'));
  upsertSearchAttributes([
    { key: CairnModel, value: modelName },
    { key: CairnDatasetDigest, value: args.input },
    { key: CairnStage, value: 'resolve' },
  ]);

  try {
    const model: ResolvedModel = await stages.run('resolve', () =>
      light.resolveBatchInference({ model: args.model, input: args.input })
    );
    upsertSearchAttributes([
      { key: CairnPipeline, value: model.pipeline },
      { key: CairnModelVersion, value: String(model.version) },
    ]);
    const job = { model, input: args.input, chunkRows: args.chunkRows, output: args.output };
    const scored: ScoreBatchResult = await stages.run('score', () =>
      scoring.scoreBatch({ ...job, progressSignal: batchProgressSignal.name })
    );
    // The status keeps references and counts; the list of parts is in the output manifest.
    status.results.score = {
      rows: scored.rows,
      parts: scored.parts.length,
      resumedFromChunk: scored.resumedFromChunk,
      chunksScored: scored.chunksScored,
    };
    const { columns, parts, rows } = scored;
    const output = await stages.run('write', () =>
      light.finishBatchInference({ ...job, scored: { columns, parts, rows } })
    );
    stages.enter('done');
    return { model: { name: model.name, version: model.version, digest: model.digest }, input: args.input, output };
  } catch (err) {
    stages.fail();
    throw err;
  }
}
