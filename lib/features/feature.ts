import type { Column } from '../data/table.js';

/**
 * One feature: how to learn its state from the training rows and how to compute it for any rows. The same
 * `apply` serves training, batch scoring and online serving (a request becomes a small table), so there is no
 * training/serving skew. State must be plain JSON: it is saved in the model package.
 */
export interface FeatureDef<S = unknown> {
  /** Name of the model input this produces. */
  name: string;
  /** What it is (`numeric`, `category`, `hour`, …) and its parameters, recorded in the model's feature spec. */
  kind: string;
  params?: Record<string, unknown>;
  /** Contract columns it reads, in order. */
  inputs: readonly string[];
  fit(columns: Column[], rows: Int32Array): S;
  /** Writes the feature for `rows` (indices into the columns) into `out` (same length as rows); NaN = missing. */
  apply(columns: Column[], state: S, rows: Int32Array, out: Float64Array): void;
}

/** What a model package records of each feature. */
export interface FeatureSpec {
  name: string;
  kind: string;
  params?: Record<string, unknown>;
  inputs: readonly string[];
  state: unknown;
}
