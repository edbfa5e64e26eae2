import { tableFromRows } from '../data/read-json.js';
import type { TableStatistics } from '../data/statistics.js';
import type { ColumnType, Table } from '../data/table.js';
import { DataReadError } from '../data/table.js';
import type { FeatureDef, FeatureSpec } from '../features/feature.js';
import type { PackagedFeatureView } from '../features/store/lookup.js';
import { featureFromSpec } from '../features/kinds.js';
import { buildMatrix } from '../features/matrix.js';
import type { Model } from '../ml/index.js';
import { predict, predictModel } from '../ml/index.js';
import { onnxSession } from '../ml/onnx.js';
import type { Task } from '../ml/types.js';
import type { PredictionLogPolicy } from '../monitoring/log-policy.js';
import { checkContract } from '../validate/check.js';
import type { ColumnRule } from '../validate/contract.js';

/** What serving needs of a model package (the package holds more: metrics, gate, full lineage). */
export interface ServablePackage {
  format: string;
  pipeline: { name: string; version: string };
  task: Task;
  target: string;
  classes?: string[];
  model: unknown;
  features: unknown;
  contract: ColumnRule[];
  referenceStatistics: TableStatistics;
  lineage: { config: Record<string, unknown> };
  /** What the prediction log may keep of this model's inputs (the pipeline's policy; absent: everything). */
  predictionLog?: PredictionLogPolicy;
  /** Feature views the model was trained with: the online server looks their values up by entity key. */
  featureViews?: PackagedFeatureView[];
}

export type Prediction =
  { value: number } | { label: string; probability: number } | { label: string; probabilities: Record<string, number> };

/** One problem with the rows a caller sent: which field, which row (0-based), what is wrong. */
export interface InputProblem {
  field: string;
  row?: number;
  message: string;
}

/** Rows that do not honour the model's data contract; every problem is listed. */
export class ScoringInputError extends Error {
  override readonly name = 'ScoringInputError';
  constructor(readonly problems: InputProblem[]) {
    super(problems.map((p) => `${p.field}${p.row === undefined ? '' : ` (row ${p.row})`}: ${p.message}`).join('; '));
  }
}

export interface Scorer {
  readonly pkg: ServablePackage;
  /** The contract columns a caller sends: the data contract without the target. */
  readonly inputs: readonly ColumnRule[];
  /** Parses request rows (an object or an array of objects) into a table, checked against the contract. */
  parseRows(body: unknown): Table;
  /** Raw model outputs for `rows` of `table` (all rows by default): see `predictModel`. */
  score(table: Table, rows?: Int32Array): Promise<Float64Array>;
  /**
   * `score` without a promise, for models scored in this thread (all but ONNX graphs): the online server answers
   * those synchronously, which keeps a promise and a turn of the microtask queue off every request.
   */
  scoreNow?: (table: Table, rows?: Int32Array) => Float64Array;
  /** The prediction of row `i` of raw outputs, in the caller's terms (class names, probabilities). */
  prediction(raw: Float64Array, i: number): Prediction;
  /** The number a prediction is histogrammed by: the value, P(class 1), or the index of the predicted class. */
  outputValue(raw: Float64Array, i: number): number;
}

function allRows(n: number): Int32Array {
  const rows = new Int32Array(n);
  for (let i = 0; i < n; i++) rows[i] = i;
  return rows;
}

/**
 * Builds the scorer of a package from the package alone: its contract rules, and its features rebuilt from their
 * recorded kind, params and fitted state, the same feature code as training (no training/serving skew). No pipeline
 * code is needed, so any server can load any version. An ONNX model's session is made here, its file checked
 * against its digest and its graph against the recorded signature.
 */
export async function scorerFor(pkg: ServablePackage): Promise<Scorer> {
  const model = pkg.model as Model;
  if (model.kind === 'onnx') await onnxSession(model);
  return createScorer(pkg, (pkg.features as FeatureSpec[]).map(featureFromSpec));
}

/** The scorer of a package with explicit feature definitions (they must match the package's specs). */
export function createScorer(pkg: ServablePackage, defs: FeatureDef[]): Scorer {
  const inputs = pkg.contract.filter((r) => r.column !== pkg.target).map((r) => ({ ...r, unique: false }));
  const known = new Set(inputs.map((r) => r.column));
  const expectedTypes: Record<string, ColumnType> = Object.fromEntries(inputs.map((r) => [r.column, r.type]));
  const specs = pkg.features as FeatureSpec[];
  const model = pkg.model as Model;
  const classes = pkg.classes ?? [];
  const k = pkg.task === 'multiclass' ? classes.length : 1;

  return {
    pkg,
    inputs,
    parseRows(body) {
      const rows = Array.isArray(body) ? body : [body];
      let table: Table;
      try {
        table = tableFromRows(rows, 'request', { expectedTypes });
      } catch (err) {
        if (!(err instanceof DataReadError)) throw err;
        throw new ScoringInputError([
          { field: err.details.column ?? '(body)', row: err.details.row && err.details.row - 1, message: err.reason },
        ]);
      }
      // The expected fields are listed once, on the first unknown one: a request of many unknown fields gets one list.
      const problems: InputProblem[] = table.names
        .filter((name) => !known.has(name))
        .map((field, i) => ({
          field,
          message: i === 0 ? `unknown field (expected: ${[...known].join(', ')})` : 'unknown field',
        }));
      for (const v of checkContract(table, inputs)) {
        const first = v.examples[0];
        problems.push({
          field: v.column,
          ...(first && v.rule !== 'required-column' ? { row: first.row } : {}),
          message: v.message,
        });
      }
      if (problems.length) throw new ScoringInputError(problems);
      return table;
    },
    score(table, rows = allRows(table.rowCount)) {
      return predictModel(model, buildMatrix(defs, specs, table, rows));
    },
    ...(model.kind === 'onnx'
      ? {}
      : {
          scoreNow: (table: Table, rows = allRows(table.rowCount)) =>
            predict(model, buildMatrix(defs, specs, table, rows)),
        }),
    prediction(raw, i) {
      if (pkg.task === 'regression') return { value: raw[i]! };
      if (pkg.task === 'binary') {
        const p = raw[i]!;
        return { label: classes[p > 0.5 ? 1 : 0]!, probability: p };
      }
      const probabilities: Record<string, number> = {};
      let best = 0;
      for (let c = 0; c < k; c++) {
        probabilities[classes[c]!] = raw[i * k + c]!;
        if (raw[i * k + c]! > raw[i * k + best]!) best = c;
      }
      return { label: classes[best]!, probabilities };
    },
    outputValue(raw, i) {
      if (k === 1) return raw[i]!;
      let best = 0;
      for (let c = 1; c < k; c++) if (raw[i * k + c]! > raw[i * k + best]!) best = c;
      return best;
    },
  };
}
