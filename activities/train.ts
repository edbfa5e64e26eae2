import { Context } from '@temporalio/activity';
import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { trainerOf, trainerParams } from '../lib/ml/index.js';
import type { Model } from '../lib/ml/index.js';
import { trainInThread } from '../lib/training/run.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import type { Trainer } from '../lib/pipeline/tabular.js';
import type { Cached, RunPlan, TrainHeartbeat, TrainResult, TransformResult } from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

/** How often (in rounds) the model so far is stored as a checkpoint. */
const CHECKPOINT_EVERY = 10;

export function createTrainActivities(deps: ActivityDeps) {
  const { store, logger } = deps;
  return {
    /**
     * Trains the pipeline's model on the training matrix in a worker thread. Heartbeats every round with the
     * progress and the last checkpoint (stored in the artifact store); a retry after a crash resumes from that
     * checkpoint instead of round 0, and gives the same bytes as an uninterrupted run.
     */
    async train(plan: RunPlan, data: TransformResult): Promise<TrainResult & Cached> {
      const pipeline = resolvePipeline(plan.pipeline);
      const trainer = pipeline.trainer(plan.config as never);
      const numClasses = data.classes?.length ?? null;
      return trackedStage(
        deps,
        plan,
        'train',
        {
          cache: {
            implementation: 'train/1',
            inputs: { matrix: data.train.digest, trainer, task: plan.task, numClasses },
          },
          artifacts: (r: TrainResult) => ({ model: r.model }),
        },
        () => trainModel(plan, data, trainer)
      );
    },
  };

  async function trainModel(plan: RunPlan, data: TransformResult, trainer: Trainer): Promise<TrainResult> {
    const ctx = Context.current();
    // Progress is counted in the trainer's rounds (1 for one that reports none).
    const rounds = trainerOf(trainer.kind).rounds(trainerParams(trainer));
    const { matrix, y } = decodeMatrix(await store.getBytes(data.train.digest));

    const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
    let resumeFrom: Model | undefined;
    if (previous?.checkpoint) {
      // A checkpoint that is gone only costs the rounds it saved: train from the start instead.
      resumeFrom = await store.getJson<Model>(previous.checkpoint).catch((err: unknown) => {
        ctx.log.warn('checkpoint unreadable; training from round 0', {
          checkpoint: previous.checkpoint,
          error: String(err),
        });
        return undefined;
      });
      if (resumeFrom) ctx.log.info('resuming training from checkpoint', { round: previous.checkpointRound });
    }
    const last = resumeFrom ? previous : undefined;
    let beat: TrainHeartbeat = {
      round: last?.checkpointRound ?? 0,
      total: rounds,
      ...last,
    };
    ctx.heartbeat(beat);

    // Checkpoints are written in order; the heartbeat names one only after it is stored.
    let writes = Promise.resolve();
    const model = await trainInThread(
      {
        trainer,
        task: plan.task,
        ...(data.classes ? { numClasses: data.classes.length } : {}),
        names: matrix.names,
        columns: matrix.columns,
        y,
        ...(resumeFrom ? { resumeFrom } : {}),
        checkpointEvery: CHECKPOINT_EVERY,
      },
      ({ round, total, checkpoint }) => {
        beat = { ...beat, round, total };
        ctx.heartbeat(beat);
        if (checkpoint) {
          writes = writes.then(async () => {
            const ref = await store.putBytes(canonicalJson(checkpoint), { mediaType: 'application/json' });
            beat = { ...beat, checkpoint: ref.digest, checkpointRound: round };
            ctx.heartbeat(beat);
          });
        }
      },
      ctx.cancellationSignal
    );
    await writes;
    const ref = await store.putBytes(canonicalJson(model), { mediaType: 'application/json' });
    logger.info(
      { pipeline: plan.pipeline, model: ref.digest, resumedFromRound: last?.checkpointRound ?? 0 },
      'model trained'
    );
    return {
      model: ref,
      ...(rounds > 1 ? { rounds } : {}),
      resumedFromRound: resumeFrom ? (last?.checkpointRound ?? 0) : 0,
    };
  }
}
