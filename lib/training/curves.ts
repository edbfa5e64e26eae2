import type { FeatureMatrix } from '../ml/types.js';

/**
 * Training curves by run metric name (`train.rmse`, `validation.rmse`): [step, value] pairs, steps ascending. Stored
 * as a JSON artifact of the train stage and recorded in run_metrics, one row per step.
 */
export type TrainingCurves = Record<string, Array<[number, number]>>;

/** Rows a curve is computed on, at most: an evenly strided sample of a larger set (the same rows every time). */
export const CURVE_ROWS = 100_000;

/** Evenly strided rows of (x, y), at most `max`: every row when there are no more. */
export function strideRows(x: FeatureMatrix, y: Float64Array, max = CURVE_ROWS): { x: FeatureMatrix; y: Float64Array } {
  if (x.rows <= max) return { x, y };
  const step = x.rows / max;
  const pick = <T extends Float64Array>(column: T) =>
    Float64Array.from({ length: max }, (_, i) => column[Math.floor(i * step)]!);
  return { x: { rows: max, names: x.names, columns: x.columns.map(pick) }, y: pick(y) };
}

/** A curve (values for rounds 1..n) under `<set>.<metric>`. */
export function curveOf(set: string, metric: string, values: number[]): TrainingCurves {
  return { [`${set}.${metric}`]: values.map((v, i) => [i + 1, v]) };
}
