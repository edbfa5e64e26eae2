/**
 * A Schur complement at or below this fraction of its diagonal entry marks a column as a combination of earlier
 * ones (collinear or constant); its coefficient is fixed at 0 instead of blowing up.
 */
const PIVOT_TOLERANCE = 1e-10;

/**
 * Solves A θ = b for a symmetric positive semi-definite d×d matrix A (row-major) by Cholesky, in a fixed order so
 * the result is deterministic. Columns that are numerically dependent on earlier columns get θ = 0, which is the
 * minimum-norm-in-those-coordinates answer R's lm gives as NA.
 */
export function solveSymmetric(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  const skip = new Uint8Array(d);
  for (let j = 0; j < d; j++) {
    const ajj = a[j * d + j]!;
    let s = ajj;
    for (let k = 0; k < j; k++) s -= l[j * d + k]! * l[j * d + k]!;
    if (!(ajj > 0) || !(s > PIVOT_TOLERANCE * ajj)) {
      skip[j] = 1;
      continue;
    }
    const ljj = Math.sqrt(s);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j]!;
      for (let k = 0; k < j; k++) t -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = t / ljj;
    }
  }
  const z = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    if (skip[j]) continue;
    let t = b[j]!;
    for (let k = 0; k < j; k++) t -= l[j * d + k]! * z[k]!;
    z[j] = t / l[j * d + j]!;
  }
  const theta = new Float64Array(d);
  for (let j = d - 1; j >= 0; j--) {
    if (skip[j]) continue;
    let t = z[j]!;
    for (let i = j + 1; i < d; i++) t -= l[i * d + j]! * theta[i]!;
    theta[j] = t / l[j * d + j]!;
  }
  return theta;
}

/** A column with NaN read as 0: linear models treat missing as 0 (impute before them if that is wrong). */
export function nanAsZero(column: Float64Array): Float64Array {
  return column.map((v) => (v === v ? v : 0));
}

export function mean(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length > 0 ? sum / values.length : 0;
}

export function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
