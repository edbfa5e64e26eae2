import { z } from 'zod';
import { predictLinear, trainLinear } from '../linear.js';
import type { LinearModel } from '../linear.js';
import type { TrainerDefinition } from './types.js';

const params = z.strictObject({ l2: z.number().min(0) });

/** Ridge regression, solved exactly. */
export const linear: TrainerDefinition<'linear', typeof params, LinearModel> = {
  kind: 'linear',
  params,
  tasks: ['regression'],
  rounds: () => 1,
  train: (x, y, p) => trainLinear(x, y, { l2: p.l2 }),
  predict: predictLinear,
};
