import { z } from 'zod';
import { gbdtLossCurve, predictGbdt, trainGbdt } from '../gbdt.js';
import type { GbdtModel } from '../gbdt.js';
import type { TrainerDefinition } from './types.js';

const params = z.strictObject({
  rounds: z.number().int().min(0),
  learningRate: z.number().positive(),
  maxDepth: z.number().int().min(1).max(64),
  minDataInLeaf: z.number().int().min(1),
  lambda: z.number().min(0),
  bins: z.number().int().min(2).max(255),
  seed: z.number().int(),
  subsample: z.number().gt(0).max(1).optional(),
  featureFraction: z.number().gt(0).max(1).optional(),
  /** Threads that build histograms and partition rows; the model is the same bytes whatever the number. */
  threads: z.number().int().min(1).max(64).optional(),
});

/** Gradient-boosted trees (histogram-based, multi-threaded, seeded, checkpointed every few rounds). */
export const gbdt: TrainerDefinition<'gbdt', typeof params, GbdtModel> = {
  kind: 'gbdt',
  params,
  tasks: ['regression', 'binary', 'multiclass'],
  rounds: (p) => p.rounds,
  train: (x, y, { threads, ...p }, context) =>
    trainGbdt(
      x,
      y,
      { ...p, task: context.task, ...(context.numClasses === undefined ? {} : { numClasses: context.numClasses }) },
      {
        // Default: every core this process may use.
        ...(threads === undefined ? {} : { threads }),
        ...(context.resumeFrom ? { resumeFrom: context.resumeFrom } : {}),
        onRound(round, model) {
          const every = context.checkpointEvery ?? Infinity;
          const due = round % every === 0 && round < p.rounds;
          context.progress?.(round, p.rounds, due ? model : undefined);
        },
      }
    ),
  predict: predictGbdt,
  lossCurve: (model, x, y) => ({
    metric: model.params.task === 'regression' ? 'rmse' : 'logLoss',
    values: gbdtLossCurve(model, x, y),
  }),
};
