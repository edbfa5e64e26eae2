import { mean, nanAsZero, solveSymmetric } from './linear-algebra.js';
import { checkFeatures, checkMatrix, checkTargets, inferNumClasses, MlInputError } from './types.js';
import type { FeatureMatrix, Task } from './types.js';

export interface LogisticOptions {
  /** 'binary' or 'multiclass'; regression is refused. */
  task: Task;
  /** Classes for multiclass; inferred as the largest class index + 1 when left out. */
  numClasses?: number;
  /**
   * L2 penalty on the coefficients of the standardized features (as glmnet does, so the penalty does not depend on
   * feature units): minimizes the summed log loss + l2/2·|β|². Intercepts are not penalized. @default 1
   */
  l2?: number;
  /** Newton iterations at most. @default 100 */
  maxIterations?: number;
  /** Converged when no parameter (on the standardized scale) moves by more than this. @default 1e-8 */
  tolerance?: number;
}

/** Plain data: serialize with canonicalJson, load with JSON.parse. */
export interface LogisticModel {
  kind: 'logistic';
  version: 1;
  task: 'binary' | 'multiclass';
  numClasses: number;
  featureNames: string[];
  /** Per output: one (log-odds of class 1) for binary, one per class for multiclass (summing to 0). */
  intercepts: number[];
  /** Per output, one coefficient per raw feature. */
  coefficients: number[][];
  l2: number;
  iterations: number;
  converged: boolean;
}

const PROBABILITY_CLIP = 1e-15;
const ARMIJO = 1e-4;
const MAX_HALVINGS = 50;

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/**
 * Logistic regression by Newton's method (IRLS) with a backtracking line search, on standardized features; the
 * coefficients are then mapped back to the raw features. Binary fits one sigmoid output. Multiclass fits the
 * multinomial (softmax) model with the full Hessian over all k classes' coefficients, penalized symmetrically;
 * the last class's intercept (and, with l2 = 0, its coefficients) is pinned because softmax cannot tell it apart
 * from a shift of all classes. Cost per iteration is about n·(k·(d+1))²/2, meant for tens of features, not
 * thousands. NaN features are read as 0.
 */
export function trainLogistic(x: FeatureMatrix, y: Float64Array, options: LogisticOptions): LogisticModel {
  const { task } = options;
  if (task !== 'binary' && task !== 'multiclass') {
    throw new MlInputError(`logistic regression is for binary or multiclass tasks, not ${task}`, 'task');
  }
  checkMatrix(x);
  const numClasses = task === 'binary' ? 2 : (options.numClasses ?? inferNumClasses(y));
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new MlInputError('numClasses must be >= 2', 'numClasses');
  checkTargets(y, x.rows, task, numClasses);
  const l2 = options.l2 ?? 1;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-8;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new MlInputError('l2 must be >= 0', 'l2');
  if (!Number.isInteger(maxIterations) || maxIterations < 0) {
    throw new MlInputError('maxIterations must be a non-negative integer', 'maxIterations');
  }
  if (!(tolerance > 0)) throw new MlInputError('tolerance must be positive', 'tolerance');
  const n = x.rows;
  if (n === 0) throw new MlInputError('no training rows', 'rows');

  const d = x.columns.length;
  const w = d + 1;
  const outputs = task === 'binary' ? 1 : numClasses;
  const size = outputs * w;
  // z[0] is the intercept column.
  const means: number[] = [];
  const scales: number[] = [];
  const z: Float64Array[] = [new Float64Array(n).fill(1)];
  for (const column of x.columns) {
    const values = nanAsZero(column);
    const m = mean(values);
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (values[i]! - m) ** 2;
    const s = ss > 0 ? Math.sqrt(ss / n) : 1;
    means.push(m);
    scales.push(s);
    z.push(values.map((v) => (v - m) / s));
  }

  // Gauge fixing for softmax: which parameters Newton may move.
  const free: number[] = [];
  for (let p = 0; p < size; p++) {
    const c = Math.floor(p / w);
    const pinned = task === 'multiclass' && c === outputs - 1 && (p % w === 0 || l2 === 0);
    if (!pinned) free.push(p);
  }

  const theta = new Float64Array(size);
  if (task === 'binary') {
    const p = Math.min(Math.max(mean(y), PROBABILITY_CLIP), 1 - PROBABILITY_CLIP);
    theta[0] = Math.log(p / (1 - p));
  } else {
    const counts = new Float64Array(outputs);
    for (let i = 0; i < n; i++) counts[y[i]!]!++;
    const last = Math.log(Math.max(counts[outputs - 1]! / n, PROBABILITY_CLIP));
    for (let c = 0; c < outputs; c++) theta[c * w] = Math.log(Math.max(counts[c]! / n, PROBABILITY_CLIP)) - last;
  }

  const eta = Array.from({ length: outputs }, () => new Float64Array(n));
  const prob = Array.from({ length: outputs }, () => new Float64Array(n));
  /** The penalized objective at `t`, leaving linear predictors in `eta` and probabilities in `prob`. */
  const objective = (t: Float64Array): number => {
    for (let c = 0; c < outputs; c++) {
      const e = eta[c]!;
      e.fill(t[c * w]!);
      for (let j = 1; j < w; j++) {
        const beta = t[c * w + j]!;
        if (beta === 0) continue;
        const col = z[j]!;
        for (let i = 0; i < n; i++) e[i]! += beta * col[i]!;
      }
    }
    let loss = 0;
    if (task === 'binary') {
      const e = eta[0]!;
      const p = prob[0]!;
      for (let i = 0; i < n; i++) {
        loss += softplus(e[i]!) - y[i]! * e[i]!;
        p[i] = 1 / (1 + Math.exp(-e[i]!));
      }
    } else {
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let c = 0; c < outputs; c++) max = Math.max(max, eta[c]![i]!);
        let sum = 0;
        for (let c = 0; c < outputs; c++) sum += Math.exp(eta[c]![i]! - max);
        loss += max + Math.log(sum) - eta[y[i]!]![i]!;
        for (let c = 0; c < outputs; c++) prob[c]![i] = Math.exp(eta[c]![i]! - max) / sum;
      }
    }
    let penalty = 0;
    for (let c = 0; c < outputs; c++) for (let j = 1; j < w; j++) penalty += t[c * w + j]! ** 2;
    return loss + (l2 / 2) * penalty;
  };

  const m = free.length;
  const gradient = new Float64Array(size);
  const hessian = new Float64Array(size * size);
  const weights = new Float64Array(n);
  const weighted = new Float64Array(n);
  const candidate = new Float64Array(size);
  let value = objective(theta);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && !converged) {
    iterations++;
    // Gradient: Zᵀ(p - y) + l2·β per output.
    for (let c = 0; c < outputs; c++) {
      const p = prob[c]!;
      for (let i = 0; i < n; i++) weighted[i] = p[i]! - (task === 'binary' ? y[i]! : y[i] === c ? 1 : 0);
      for (let j = 0; j < w; j++) {
        let s = 0;
        const col = z[j]!;
        for (let i = 0; i < n; i++) s += weighted[i]! * col[i]!;
        gradient[c * w + j] = s + (j > 0 ? l2 * theta[c * w + j]! : 0);
      }
    }
    // Hessian blocks: Zᵀ diag(p_c (δ_cc' - p_c')) Z, plus l2 on the coefficient diagonal.
    for (let c = 0; c < outputs; c++) {
      for (let c2 = c; c2 < outputs; c2++) {
        const pc = prob[c]!;
        const pc2 = prob[c2]!;
        for (let i = 0; i < n; i++) weights[i] = c === c2 ? pc[i]! * (1 - pc[i]!) : -pc[i]! * pc2[i]!;
        for (let a = 0; a < w; a++) {
          const za = z[a]!;
          for (let i = 0; i < n; i++) weighted[i] = weights[i]! * za[i]!;
          for (let b = c === c2 ? a : 0; b < w; b++) {
            const zb = z[b]!;
            let s = 0;
            for (let i = 0; i < n; i++) s += weighted[i]! * zb[i]!;
            if (c === c2 && a === b && a > 0) s += l2;
            const row = c * w + a;
            const col = c2 * w + b;
            hessian[row * size + col] = s;
            hessian[col * size + row] = s;
          }
        }
      }
    }
    const hFree = new Float64Array(m * m);
    const gFree = new Float64Array(m);
    for (let r = 0; r < m; r++) {
      gFree[r] = -gradient[free[r]!]!;
      for (let s = 0; s < m; s++) hFree[r * m + s] = hessian[free[r]! * size + free[s]!]!;
    }
    const step = solveSymmetric(hFree, gFree, m);
    let slope = 0;
    for (let r = 0; r < m; r++) slope -= gFree[r]! * step[r]!;
    let t = 1;
    let accepted = false;
    for (let halving = 0; halving <= MAX_HALVINGS; halving++, t /= 2) {
      candidate.set(theta);
      for (let r = 0; r < m; r++) candidate[free[r]!]! += t * step[r]!;
      const next = objective(candidate);
      if (next <= value + ARMIJO * t * slope) {
        let largest = 0;
        for (let r = 0; r < m; r++) largest = Math.max(largest, Math.abs(t * step[r]!));
        theta.set(candidate);
        value = next;
        accepted = true;
        converged = largest <= tolerance;
        break;
      }
    }
    if (!accepted) {
      // No step decreases the objective: at the optimum up to rounding. Restore eta/prob for theta.
      value = objective(theta);
      converged = true;
    }
  }

  if (task === 'multiclass') {
    // Softmax is unchanged by adding the same vector to every class; report the centred representative.
    for (let j = 0; j < w; j++) {
      if (j > 0 && l2 > 0) continue;
      let s = 0;
      for (let c = 0; c < outputs; c++) s += theta[c * w + j]!;
      for (let c = 0; c < outputs; c++) theta[c * w + j]! -= s / outputs;
    }
  }
  const intercepts: number[] = [];
  const coefficients: number[][] = [];
  for (let c = 0; c < outputs; c++) {
    let intercept = theta[c * w]!;
    const row: number[] = [];
    for (let j = 0; j < d; j++) {
      const beta = theta[c * w + 1 + j]! / scales[j]!;
      row.push(beta);
      intercept -= beta * means[j]!;
    }
    intercepts.push(intercept);
    coefficients.push(row);
  }
  return {
    kind: 'logistic',
    version: 1,
    task,
    numClasses,
    featureNames: [...x.names],
    intercepts,
    coefficients,
    l2,
    iterations,
    converged,
  };
}

/** P(class 1) per row (binary) or row-major class probabilities rows × k (multiclass). */
export function predictLogistic(model: LogisticModel, x: FeatureMatrix): Float64Array {
  checkFeatures(x, model.featureNames);
  const n = x.rows;
  const eta = model.intercepts.map((b, c) => {
    const e = new Float64Array(n).fill(b);
    x.columns.forEach((column, j) => {
      const beta = model.coefficients[c]![j]!;
      for (let i = 0; i < n; i++) {
        const v = column[i]!;
        if (v === v) e[i]! += beta * v;
      }
    });
    return e;
  });
  if (model.task === 'binary') return eta[0]!.map((e) => 1 / (1 + Math.exp(-e)));
  const k = eta.length;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, eta[c]![i]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += out[i * k + c] = Math.exp(eta[c]![i]! - max);
    for (let c = 0; c < k; c++) out[i * k + c]! /= sum;
  }
  return out;
}
