import { trainerOf } from './trainers/index.js';
import { predictOnnx } from './onnx.js';
import type { OnnxModel } from './onnx.js';
import type { FeatureMatrix } from './types.js';

export { MlInputError, TASKS } from './types.js';
export type { FeatureMatrix, Task } from './types.js';
export { canonicalJson, CanonicalJsonError } from './canonical-json.js';
export { defaultGbdtParams, gbdtLossCurve, predictGbdt, predictRow, startGbdtHelpers, trainGbdt } from './gbdt.js';
export type { GbdtModel, GbdtParams, GbdtThreadStats, TrainGbdtOptions, Tree } from './gbdt.js';
export { predictLinear, trainLinear } from './linear.js';
export type { LinearModel, LinearOptions } from './linear.js';
export { predictLogistic, trainLogistic } from './logistic.js';
export type { LogisticModel, LogisticOptions } from './logistic.js';
export { accuracy, evaluate, logLoss, macroF1, mae, predictedLabels, r2, rmse, rocAuc } from './metrics.js';
export type { EvaluationMetrics, MetricName } from './metrics.js';

export { registerTrainer, TRAINERS, trainerModule, trainerOf, trainerParams, trainerTasks } from './trainers/index.js';
export type {
  ExternalTrainerParams,
  Model,
  Trainer,
  TrainerDefinition,
  TrainerKind,
  TrainContext,
} from './trainers/index.js';
export { OnnxModelError, predictOnnx, readOnnxModel } from './onnx.js';
export type { OnnxModel, OnnxSignature } from './onnx.js';

/**
 * Predictions of a model an in-process trainer made, by that trainer: values (regression), P(class 1) (binary), or
 * row-major class probabilities rows × k (multiclass).
 */
export function predict(model: { kind: string }, x: FeatureMatrix): Float64Array {
  return trainerOf(model.kind).predict(model, x);
}

/** Predictions of any model, ONNX graphs (run by onnxruntime) included; see `predict`. */
export function predictModel(model: { kind: string }, x: FeatureMatrix): Promise<Float64Array> {
  return model.kind === 'onnx' ? predictOnnx(model as OnnxModel, x) : Promise.resolve(predict(model, x));
}
