import { MlInputError } from './types.js';
import type { Task } from './types.js';

/** Probabilities are clipped to [1e-15, 1 - 1e-15] before the log, as scikit-learn does. */
export const LOG_LOSS_CLIP = 1e-15;

export type MetricName = 'rmse' | 'mae' | 'r2' | 'accuracy' | 'macroF1' | 'rocAuc' | 'logLoss';

/** The metrics that apply to a task; rocAuc is left out when it is undefined (a single class in yTrue). */
export type EvaluationMetrics = Partial<Record<MetricName, number>>;

function checkPairs(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  if (yTrue.length === 0) throw new MlInputError('no rows to score', 'yTrue');
  if (yPred.length !== yTrue.length) throw new MlInputError(`${yPred.length} predictions for ${yTrue.length} rows`);
  return yTrue.length;
}

/** Classes per row of a prediction array: 1 (one value per row) or k (row-major rows × k). */
function widthOf(yTrue: ArrayLike<number>, predictions: ArrayLike<number>): number {
  const n = yTrue.length;
  if (n === 0) throw new MlInputError('no rows to score', 'yTrue');
  const k = predictions.length / n;
  if (!Number.isInteger(k) || k < 1) {
    throw new MlInputError(`${predictions.length} predictions is not a whole number per row for ${n} rows`);
  }
  return k;
}

export function rmse(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = checkPairs(yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yTrue[i]! - yPred[i]!) ** 2;
  return Math.sqrt(sum / n);
}

export function mae(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = checkPairs(yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.abs(yTrue[i]! - yPred[i]!);
  return sum / n;
}

/** 1 - SSres/SStot. A constant yTrue gives 1 for a perfect prediction and 0 otherwise (scikit-learn's choice). */
export function r2(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = checkPairs(yTrue, yPred);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i]!;
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    ssRes += (yTrue[i]! - yPred[i]!) ** 2;
    ssTot += (yTrue[i]! - mean) ** 2;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

/** Fraction of rows whose predicted label equals the true label. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = checkPairs(yTrue, yPred);
  let hits = 0;
  for (let i = 0; i < n; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / n;
}

/** Unweighted mean over the labels seen in yTrue or yPred of F1 = 2TP / (2TP + FP + FN). */
export function macroF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = checkPairs(yTrue, yPred);
  const counts = new Map<number, { tp: number; fp: number; fn: number }>();
  const of = (label: number) => {
    let c = counts.get(label);
    if (!c) counts.set(label, (c = { tp: 0, fp: 0, fn: 0 }));
    return c;
  };
  for (let i = 0; i < n; i++) {
    const t = yTrue[i]!;
    const p = yPred[i]!;
    if (t === p) of(t).tp++;
    else {
      of(p).fp++;
      of(t).fn++;
    }
  }
  let sum = 0;
  for (const { tp, fp, fn } of counts.values()) sum += (2 * tp) / (2 * tp + fp + fn);
  return sum / counts.size;
}

/** Binary ROC-AUC from the Mann–Whitney statistic; tied scores share their average rank. NaN for a single class. */
function binaryAuc(positive: (i: number) => boolean, score: (i: number) => number, n: number): number {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(score(i))) throw new MlInputError(`score ${i} is NaN`);
  }
  order.sort((a, b) => score(a) - score(b) || a - b);
  let rankSum = 0;
  let positives = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && score(order[end]!) === score(order[start]!)) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) {
      if (positive(order[i]!)) {
        rankSum += averageRank;
        positives++;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * ROC-AUC. With one score per row, binary (yTrue 0/1, score for class 1); with k per row (row-major rows × k),
 * the macro average of one-vs-rest AUCs over the classes that have both positives and negatives.
 * NaN when no class has both.
 */
export function rocAuc(yTrue: ArrayLike<number>, scores: ArrayLike<number>): number {
  const k = widthOf(yTrue, scores);
  const n = yTrue.length;
  if (k === 1)
    return binaryAuc(
      (i) => yTrue[i] === 1,
      (i) => scores[i]!,
      n
    );
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < k; c++) {
    const auc = binaryAuc(
      (i) => yTrue[i] === c,
      (i) => scores[i * k + c]!,
      n
    );
    if (Number.isNaN(auc)) continue;
    sum += auc;
    classes++;
  }
  return classes > 0 ? sum / classes : NaN;
}

/**
 * Mean negative log-likelihood of the true class. One probability per row means binary (P(class 1)); k per row
 * means row-major class probabilities. Probabilities are clipped to [1e-15, 1 - 1e-15].
 */
export function logLoss(yTrue: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  const k = widthOf(yTrue, probabilities);
  const n = yTrue.length;
  const clip = (p: number) => Math.min(Math.max(p, LOG_LOSS_CLIP), 1 - LOG_LOSS_CLIP);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const y = yTrue[i]!;
    if (k === 1) {
      const p = clip(probabilities[i]!);
      sum -= y === 1 ? Math.log(p) : Math.log(1 - p);
    } else {
      if (!Number.isInteger(y) || y < 0 || y >= k) throw new MlInputError(`class index ${i} is ${y}`, 'yTrue');
      sum -= Math.log(clip(probabilities[i * k + y]!));
    }
  }
  return sum / n;
}

/**
 * Labels from probabilities: class 1 when P(class 1) > 0.5 (binary), else the most probable class, the lowest
 * index on ties (multiclass, row-major rows × k).
 */
export function predictedLabels(probabilities: ArrayLike<number>, rows: number): Float64Array {
  const k = probabilities.length / rows;
  const labels = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    if (k === 1) {
      labels[i] = probabilities[i]! > 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (probabilities[i * k + c]! > probabilities[i * k + best]!) best = c;
    labels[i] = best;
  }
  return labels;
}

/**
 * The metrics that apply to a task, from what `predict` returns: values (regression), P(class 1) (binary) or
 * row-major probabilities rows × k (multiclass; k is `numClasses` or inferred from the length).
 */
export function evaluate(
  task: Task,
  yTrue: ArrayLike<number>,
  predictions: ArrayLike<number>,
  numClasses?: number
): EvaluationMetrics {
  if (task === 'regression') {
    return { rmse: rmse(yTrue, predictions), mae: mae(yTrue, predictions), r2: r2(yTrue, predictions) };
  }
  const k = widthOf(yTrue, predictions);
  const expected = task === 'binary' ? 1 : (numClasses ?? k);
  if (k !== expected || (task === 'multiclass' && k < 2)) {
    throw new MlInputError(`${task} predictions should have ${expected} value(s) per row, got ${k}`, 'predictions');
  }
  const labels = predictedLabels(predictions, yTrue.length);
  const metrics: EvaluationMetrics = {
    accuracy: accuracy(yTrue, labels),
    macroF1: macroF1(yTrue, labels),
    logLoss: logLoss(yTrue, predictions),
  };
  const auc = rocAuc(yTrue, predictions);
  if (!Number.isNaN(auc)) metrics.rocAuc = auc;
  return metrics;
}
