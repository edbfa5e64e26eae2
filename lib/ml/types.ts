import { CairnError } from '../errors.js';
/**
 * Shared shapes for the trainers. A feature matrix is column-major: one Float64Array per feature, each `rows` long,
 * so trainers run plain loops over a column and a Table's number columns can be handed over without copying.
 *
 * Missing values are NaN. Gradient-boosted trees learn where NaN goes at every split; the linear and logistic
 * models treat NaN as 0, so impute or indicator-encode before them if 0 is not what missing should mean.
 */
export interface FeatureMatrix {
  rows: number;
  /** One column per feature, each `rows` long. NaN = missing. */
  columns: Float64Array[];
  /** Feature names, same order as `columns`; models remember them and refuse a matrix that disagrees. */
  names: string[];
}

/**
 * Targets are a Float64Array: the value for regression, 0 or 1 for binary, the class index 0..k-1 for multiclass.
 */
export type Task = 'regression' | 'binary' | 'multiclass';

export const TASKS = ['regression', 'binary', 'multiclass'] as const satisfies readonly Task[];

/** Bad training or prediction input: a mismatched matrix, an invalid target or parameter. Not retryable. */
export class MlInputError extends CairnError {
  override readonly name = 'MlInputError';
  readonly type = 'MlInputError';
  constructor(
    message: string,
    /** The parameter, feature or field at fault, when there is one. */
    readonly field?: string
  ) {
    super(message);
  }
  override failureDetails() {
    return { field: this.field ?? null };
  }
}

/** Checks that every column is `rows` long and that there is one name per column. */
export function checkMatrix(x: FeatureMatrix): void {
  if (!Number.isInteger(x.rows) || x.rows < 0) throw new MlInputError(`rows must be a non-negative integer`, 'rows');
  if (x.columns.length !== x.names.length) {
    throw new MlInputError(`${x.columns.length} columns but ${x.names.length} names`, 'names');
  }
  x.columns.forEach((column, j) => {
    if (column.length !== x.rows) {
      throw new MlInputError(`column ${x.names[j]} has ${column.length} values, expected ${x.rows}`, x.names[j]);
    }
  });
}

/** Checks a matrix against the feature names a model was trained on (same names, same order). */
export function checkFeatures(x: FeatureMatrix, featureNames: readonly string[]): void {
  checkMatrix(x);
  if (x.columns.length !== featureNames.length) {
    throw new MlInputError(`the model expects ${featureNames.length} features, got ${x.columns.length}`, 'columns');
  }
  featureNames.forEach((name, j) => {
    if (x.names[j] !== name) throw new MlInputError(`feature ${j} is ${x.names[j]}, the model expects ${name}`, name);
  });
}

/** Checks targets: one per row, finite, and 0/1 (binary) or an integer class index below `numClasses` (multiclass). */
export function checkTargets(y: Float64Array, rows: number, task: Task, numClasses?: number): void {
  if (y.length !== rows) throw new MlInputError(`${y.length} targets for ${rows} rows`, 'y');
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isFinite(v)) throw new MlInputError(`target ${i} is ${v}`, 'y');
    if (task === 'binary' && v !== 0 && v !== 1) throw new MlInputError(`binary target ${i} is ${v}, not 0 or 1`, 'y');
    if (task === 'multiclass' && (!Number.isInteger(v) || v < 0 || v >= (numClasses ?? Infinity))) {
      throw new MlInputError(`class index ${i} is ${v}, expected an integer in [0, ${numClasses})`, 'y');
    }
  }
}

/** The number of classes in multiclass targets when the caller did not say: the largest index plus one. */
export function inferNumClasses(y: Float64Array): number {
  let max = 0;
  for (let i = 0; i < y.length; i++) if (y[i]! > max) max = y[i]!;
  return Math.max(2, Math.floor(max) + 1);
}
