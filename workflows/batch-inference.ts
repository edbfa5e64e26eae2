import {
  ActivityCancellationType,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type {
  BatchOutput,
  BatchPart,
  BatchProgress,
  OutputColumn,
  ResolvedModel,
} from '../activities/batch-inference.js';
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
  /**
   * Chunks scored at once, each an activity on the train queue: every heavy worker polling it takes some. @default 8
   */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Queue of the scoring activities. @default '<this workflow's task queue>-train' (`cairn-train`) */
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
 * Scores a dataset snapshot with a registered model version: resolve the version → plan the chunks → score them into
 * Parquet parts as parallel activities on the train queue (at most `concurrency` at once, spread over every heavy
 * worker; a killed worker's chunk is retried on another) → write the output manifest and record the lineage. The same
 * model, input and chunking give the same output digest, crash or not, whatever the number of workers.
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
    let scored: { columns: OutputColumn[]; parts: BatchPart[]; rows: number };
    if (patched('batch-fan-out')) {
      scored = await stages.run('score', async () => {
        const plan = await scoring.planBatch(job);
        const parts: BatchPart[] = new Array<BatchPart>(plan.chunks);
        let next = 0;
        let done = 0;
        status.chunks = { done, total: plan.chunks };
        // `concurrency` lanes, each taking the next chunk when its last one is stored: parts land in chunk order.
        const lane = async () => {
          while (next < plan.chunks) {
            const chunk = next++;
            parts[chunk] = await scoring.scoreChunk({ ...job, chunk });
            status.chunks = { done: ++done, total: plan.chunks };
            status.progress = done / plan.chunks;
          }
        };
        await Promise.all(Array.from({ length: Math.min(args.concurrency, plan.chunks) }, lane));
        return { columns: plan.columns, parts, rows: plan.rows };
      });
      // The status keeps references and counts; the list of parts is in the output manifest.
      status.results.score = { rows: scored.rows, parts: scored.parts.length, concurrency: args.concurrency };
    } else {
      // Runs started before the fan-out: one activity scores every chunk, resuming from its heartbeat.
      const result = await stages.run('score', () =>
        scoring.scoreBatch({ ...job, progressSignal: batchProgressSignal.name })
      );
      status.results.score = {
        rows: result.rows,
        parts: result.parts.length,
        resumedFromChunk: result.resumedFromChunk,
        chunksScored: result.chunksScored,
      };
      scored = result;
    }
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
