import { Context } from '@temporalio/activity';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256 } from '../lib/artifacts/digest.js';
import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { trainerModule, trainerOf, trainerParams } from '../lib/ml/index.js';
import type { ExternalTrainerParams, Model } from '../lib/ml/index.js';
import { trainExternal } from '../lib/training/external.js';
import type { CheckpointFiles } from '../lib/training/external.js';
import { ensurePythonEnv, pythonLock } from '../lib/training/python-env.js';
import type { PythonLock } from '../lib/training/python-env.js';
import { trainInThread } from '../lib/training/run.js';
import type { TrainingCurves } from '../lib/training/curves.js';
import { recordCurves } from '../lib/tracking/runs.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import type { Trainer } from '../lib/pipeline/tabular.js';
import type { Cached, RunPlan, TrainHeartbeat, TrainResult, TransformResult } from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

/** How often (in rounds) the model so far is stored as a checkpoint. */
const CHECKPOINT_EVERY = 10;

export function createTrainActivities(deps: ActivityDeps) {
  const { store, logger } = deps;
  /** Where an external trainer's command and requirements file are: the project's directory. */
  const projectDir = resolve(deps.project.dir ?? '.');

  /**
   * The code an external trainer's result depends on: the whole project's when it has a bundle, else the files its
   * command names (its script).
   */
  function codeOf(params: ExternalTrainerParams): string {
    const files = params.command.map((arg) => resolve(projectDir, arg)).filter((f) => existsSync(f));
    return deps.project.bundle?.digest ?? sha256(canonicalJson(files.map((f) => [f, sha256(readFileSync(f))])));
  }

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
      const external = trainer.kind === 'external' ? (trainerParams(trainer) as ExternalTrainerParams) : undefined;
      // Read once here, for the cache key, and handed to the training that builds the environment.
      const requirements = external?.requirements && resolve(projectDir, external.requirements);
      const lock = requirements ? await pythonLock(requirements) : undefined;
      // An external trainer sees the held-out matrix too (its own predictions are checked against the ONNX model's).
      const inputs = external
        ? {
            matrix: data.train.digest,
            test: data.test.digest,
            environment: lock?.digest ?? null,
            code: codeOf(external),
          }
        : { matrix: data.train.digest };
      return trackedStage(
        deps,
        plan,
        'train',
        {
          cache: {
            implementation: external ? 'train-external/1' : 'train/1',
            inputs: { ...inputs, trainer, task: plan.task, numClasses },
          },
          artifacts: (r: TrainResult) => ({ model: r.model, ...(r.curves && { curves: r.curves }) }),
        },
        () =>
          external
            ? trainWithCommand(plan, data, external, requirements && lock ? { file: requirements, lock } : undefined)
            : trainModel(plan, data, trainer)
      ).then(async (result) => {
        // Recorded with every run, a cache hit's included: the curves are the model's.
        if (result.curves)
          await recordCurves(deps.db, plan.runId, await store.getJson<TrainingCurves>(result.curves.digest));
        return result;
      });
    },
  };

  async function trainModel(plan: RunPlan, data: TransformResult, trainer: Trainer): Promise<TrainResult> {
    const ctx = Context.current();
    // Progress is counted in the trainer's rounds (1 for one that reports none).
    const definition = trainerOf(trainer.kind);
    const rounds = definition.rounds(trainerParams(trainer));
    // The held-out rows are read only for a trainer that draws curves (their validation curve).
    const [{ matrix, y }, held] = await Promise.all([
      store.getBytes(data.train.digest).then(decodeMatrix),
      definition.lossCurve ? store.getBytes(data.test.digest).then(decodeMatrix) : undefined,
    ]);

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
    const { model, curves } = await trainInThread(
      {
        trainer,
        task: plan.task,
        ...(data.classes ? { numClasses: data.classes.length } : {}),
        names: matrix.names,
        columns: matrix.columns,
        y,
        ...(held ? { validation: { columns: held.matrix.columns, y: held.y } } : {}),
        ...(resumeFrom ? { resumeFrom } : {}),
        ...(trainerModule(trainer.kind) ? { module: trainerModule(trainer.kind) } : {}),
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
      ...(curves && { curves: await store.putBytes(canonicalJson(curves), { mediaType: 'application/json' }) }),
      ...(rounds > 1 ? { rounds } : {}),
      resumedFromRound: resumeFrom ? (last?.checkpointRound ?? 0) : 0,
    };
  }

  /**
   * Trains with an external command (lib/training/external.ts) in its Python environment, made first if need be
   * (heartbeating meanwhile). Its progress lines are heartbeats; each checkpoint it reports is stored and named in the
   * heartbeat, and restored into its checkpoint directory when a retry starts over.
   */
  async function trainWithCommand(
    plan: RunPlan,
    data: TransformResult,
    params: ExternalTrainerParams,
    requirements?: { file: string; lock: PythonLock }
  ): Promise<TrainResult> {
    const ctx = Context.current();
    const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
    let beat: TrainHeartbeat = { round: 0, total: 1, ...previous };
    const pulse = setInterval(() => ctx.heartbeat(beat), 2000);
    let env: Awaited<ReturnType<typeof ensurePythonEnv>> | undefined;
    try {
      ctx.heartbeat(beat);
      if (requirements) env = await ensurePythonEnv(requirements.file, requirements.lock, deps.pythonEnvs);
    } finally {
      clearInterval(pulse);
    }
    const resume = previous?.checkpoint
      ? await store.getJson<{ files: CheckpointFiles; curves?: TrainingCurves }>(previous.checkpoint).then(
          ({ files, curves }) => ({ round: previous.checkpointRound ?? 0, files, curves: curves ?? {} }),
          (err: unknown) => {
            ctx.log.warn('checkpoint unreadable; training from the start', { error: String(err) });
            return undefined;
          }
        )
      : undefined;
    if (!resume) beat = { round: 0, total: beat.total };
    // The points its progress lines report; kept with each checkpoint, so a resumed run's curves are whole.
    const curves: TrainingCurves = resume?.curves ?? {};
    const [train, test] = await Promise.all(
      [data.train, data.test].map(async (ref) => decodeMatrix(await store.getBytes(ref.digest)))
    );
    const environment = env && { lock: env.digest, python: env.python, packages: env.packages };
    const { model, agreement, predictions } = await trainExternal({
      command: params.command,
      cwd: projectDir,
      workdir: join(
        deps.home,
        'tmp',
        `train-${ctx.info.workflowExecution?.runId ?? 'standalone'}-${ctx.info.activityId}-${ctx.info.attempt}`
      ),
      ...(env ? { bin: env.bin } : {}),
      task: plan.task,
      ...(data.classes ? { classes: data.classes } : {}),
      params: params.params,
      seed: params.seed,
      train: train!,
      test: test!,
      ...(environment ? { environment } : {}),
      ...(resume ? { resume } : {}),
      silenceMs: ctx.info.heartbeatTimeoutMs || 60_000,
      onProgress(round, total, metrics) {
        beat = { ...beat, round, total };
        ctx.heartbeat(beat);
        for (const [name, value] of Object.entries(metrics ?? {})) {
          const points = (curves[name] ??= []);
          if (!points.some(([step]) => step === round)) points.push([round, value]);
        }
      },
      async onCheckpoint(round, files) {
        const ref = await store.putBytes(canonicalJson({ files, curves }), { mediaType: 'application/json' });
        beat = { ...beat, checkpoint: ref.digest, checkpointRound: round };
        ctx.heartbeat(beat);
      },
      logger,
      signal: ctx.cancellationSignal,
    });
    const ref = await store.putBytes(canonicalJson(model), { mediaType: 'application/json' });
    const own = predictions && (await store.putBytes(predictions, { mediaType: 'application/json' }));
    const curvesRef = Object.keys(curves).length
      ? await store.putBytes(canonicalJson(curves), { mediaType: 'application/json' })
      : undefined;
    logger.info(
      {
        pipeline: plan.pipeline,
        model: ref.digest,
        onnx: model.digest,
        resumedFromRound: resume?.round ?? 0,
        agreement,
      },
      'model trained by an external command'
    );
    return {
      model: ref,
      ...(beat.total > 1 ? { rounds: beat.total } : {}),
      resumedFromRound: resume?.round ?? 0,
      ...(environment ? { environment: environment.lock } : {}),
      ...(agreement && own ? { agreement: { ...agreement, predictions: own.digest } } : {}),
      ...(curvesRef && { curves: curvesRef }),
    };
  }
}
