import { trainerOf } from './trainers/index.js';
import type { Model } from './trainers/index.js';
import type { FeatureMatrix } from './types.js';

export { MlInputError, TASKS } from './types.js';
export type { FeatureMatrix, Task } from './types.js';
export { canonicalJson, CanonicalJsonError } from './canonical-json.js';
export { defaultGbdtParams, predictGbdt, predictRow, trainGbdt } from './gbdt.js';
export type { GbdtModel, GbdtParams, TrainGbdtOptions, Tree } from './gbdt.js';
export { predictLinear, trainLinear } from './linear.js';
export type { LinearModel, LinearOptions } from './linear.js';
export { predictLogistic, trainLogistic } from './logistic.js';
export type { LogisticModel, LogisticOptions } from './logistic.js';
export { accuracy, evaluate, logLoss, macroF1, mae, predictedLabels, r2, rmse, rocAuc } from './metrics.js';
export type { EvaluationMetrics, MetricName } from './metrics.js';

export { TRAINERS, trainerOf, trainerParams } from './trainers/index.js';
export type { Model, Trainer, TrainerDefinition, TrainerKind, TrainContext } from './trainers/index.js';

/**
 * Predictions from any model, by its trainer: values (regression), P(class 1) (binary), or row-major class
 * probabilities rows × k (multiclass).
 */
export function predict(model: Model, x: FeatureMatrix): Float64Array {
  return trainerOf(model.kind).predict(model, x);
}
