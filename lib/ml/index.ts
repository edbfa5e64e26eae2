import { predictGbdt } from './gbdt.js';
import type { GbdtModel } from './gbdt.js';
import { predictLinear } from './linear.js';
import type { LinearModel } from './linear.js';
import { predictLogistic } from './logistic.js';
import type { LogisticModel } from './logistic.js';
import { MlInputError } from './types.js';
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

/** Every model Cairn trains: plain JSON-able data told apart by `kind`. */
export type Model = GbdtModel | LinearModel | LogisticModel;

/**
 * Predictions from any model: values (regression), P(class 1) (binary), or row-major class probabilities
 * rows × k (multiclass).
 */
export function predict(model: Model, x: FeatureMatrix): Float64Array {
  switch (model.kind) {
    case 'gbdt':
      return predictGbdt(model, x);
    case 'linear':
      return predictLinear(model, x);
    case 'logistic':
      return predictLogistic(model, x);
    default:
      throw new MlInputError(`unknown model kind ${(model as { kind: unknown }).kind}`, 'kind');
  }
}
