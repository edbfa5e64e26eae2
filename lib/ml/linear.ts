import { dot, mean, nanAsZero, solveSymmetric } from './linear-algebra.js';
import { checkFeatures, checkMatrix, checkTargets, MlInputError } from './types.js';
import type { FeatureMatrix } from './types.js';

export interface LinearOptions {
  /**
   * Ridge penalty: minimizes sum((y - intercept - x·β)²) + l2·|β|² on the raw features; the intercept is not
   * penalized. @default 0
   */
  l2?: number;
}

/** Plain data: serialize with canonicalJson, load with JSON.parse. */
export interface LinearModel {
  kind: 'linear';
  version: 1;
  featureNames: string[];
  intercept: number;
  /** One per feature; 0 for a feature that is constant or a combination of earlier ones (when l2 is 0). */
  coefficients: number[];
  l2: number;
}

/**
 * Least squares with an intercept: centres the features, solves the normal equations (XᵀX + l2·I) β = Xᵀy by
 * Cholesky, then intercept = mean(y) - mean(x)·β. NaN features are read as 0.
 */
export function trainLinear(x: FeatureMatrix, y: Float64Array, options: LinearOptions = {}): LinearModel {
  checkMatrix(x);
  checkTargets(y, x.rows, 'regression');
  const l2 = options.l2 ?? 0;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new MlInputError('l2 must be >= 0', 'l2');
  if (x.rows === 0) throw new MlInputError('no training rows', 'rows');
  const d = x.columns.length;
  const yMean = mean(y);
  const yc = y.map((v) => v - yMean);
  const means: number[] = [];
  const centred = x.columns.map((column) => {
    const values = nanAsZero(column);
    const m = mean(values);
    means.push(m);
    return values.map((v) => v - m);
  });
  const a = new Float64Array(d * d);
  const b = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    b[j] = dot(centred[j]!, yc);
    for (let k = 0; k <= j; k++) a[j * d + k] = a[k * d + j] = dot(centred[j]!, centred[k]!);
    a[j * d + j]! += l2;
  }
  const beta = solveSymmetric(a, b, d);
  let intercept = yMean;
  for (let j = 0; j < d; j++) intercept -= beta[j]! * means[j]!;
  return { kind: 'linear', version: 1, featureNames: [...x.names], intercept, coefficients: Array.from(beta), l2 };
}

export function predictLinear(model: LinearModel, x: FeatureMatrix): Float64Array {
  checkFeatures(x, model.featureNames);
  const out = new Float64Array(x.rows).fill(model.intercept);
  x.columns.forEach((column, j) => {
    const beta = model.coefficients[j]!;
    for (let i = 0; i < x.rows; i++) {
      const v = column[i]!;
      if (v === v) out[i]! += beta * v;
    }
  });
  return out;
}
