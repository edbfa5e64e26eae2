import { mulberry32 } from '../../../lib/ml/random.js';
import type { FeatureMatrix } from '../../../lib/ml/index.js';

export interface Dataset {
  x: FeatureMatrix;
  y: Float64Array;
}

/** A matrix from columns given as plain arrays; names x0, x1, … unless given. */
export function matrix(columns: number[][], names = columns.map((_, j) => `x${j}`)): FeatureMatrix {
  return { rows: columns[0]?.length ?? 0, columns: columns.map((c) => Float64Array.from(c)), names };
}

/**
 * `rows` rows of `features` uniform features in [-3, 3), a fraction `missing` of column `missingIn` set to NaN, and
 * a target computed from the complete row (and from whether the value went missing).
 */
export function synthetic(
  rows: number,
  seed: number,
  target: (row: Float64Array, wasMissing: boolean, noise: number) => number,
  { features = 4, missing = 0.1, missingIn = 0 } = {}
): Dataset {
  const random = mulberry32(seed);
  const columns = Array.from({ length: features }, () => new Float64Array(rows));
  const y = new Float64Array(rows);
  const row = new Float64Array(features);
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < features; f++) row[f] = columns[f]![i] = random() * 6 - 3;
    const wasMissing = random() < missing;
    if (wasMissing) columns[missingIn]![i] = NaN;
    y[i] = target(row, wasMissing, random() - 0.5);
  }
  return { x: { rows, columns, names: columns.map((_, f) => `x${f}`) }, y };
}

/** Rows [from, to) of a dataset. */
export function slice({ x, y }: Dataset, from: number, to: number): Dataset {
  return {
    x: { rows: to - from, columns: x.columns.map((c) => c.slice(from, to)), names: x.names },
    y: y.slice(from, to),
  };
}
