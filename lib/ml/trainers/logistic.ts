import { z } from 'zod';
import { predictLogistic, trainLogistic } from '../logistic.js';
import type { LogisticModel } from '../logistic.js';
import type { TrainerDefinition } from './types.js';

const params = z.strictObject({ l2: z.number().min(0), maxIterations: z.number().int().min(1) });

/** L2-regularized logistic regression (binary, or multinomial for multiclass). */
export const logistic: TrainerDefinition<'logistic', typeof params, LogisticModel> = {
  kind: 'logistic',
  params,
  tasks: ['binary', 'multiclass'],
  rounds: () => 1,
  train: (x, y, p, context) =>
    trainLogistic(x, y, {
      task: context.task,
      ...(context.numClasses === undefined ? {} : { numClasses: context.numClasses }),
      l2: p.l2,
      maxIterations: p.maxIterations,
      tolerance: 1e-8,
    }),
  predict: predictLogistic,
};
