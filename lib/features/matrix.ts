import type { Table } from '../data/table.js';
import type { FeatureMatrix } from '../ml/types.js';
import type { FeatureDef, FeatureSpec } from './feature.js';
import { CairnError } from '../errors.js';

/** The fitted state does not match the feature definitions (a package made by another version of the pipeline). */
export class FeatureStateError extends CairnError {
  override readonly name = 'FeatureStateError';
  readonly type = 'FeatureStateError';
}

function inputsOf(def: FeatureDef, table: Table) {
  return def.inputs.map((name) => {
    const column = table.columns[name];
    if (!column) throw new Error(`feature ${def.name} reads column ${name}, which the table does not have`);
    return column;
  });
}

/** Learns every feature's state from the training rows. */
export function fitFeatures(defs: FeatureDef[], table: Table, rows: Int32Array): FeatureSpec[] {
  return defs.map((def) => ({
    name: def.name,
    kind: def.kind,
    ...(def.params ? { params: def.params } : {}),
    inputs: def.inputs,
    state: def.fit(inputsOf(def, table), rows),
  }));
}

/** Computes the model inputs for `rows` with fitted state: the one code path for training, batch and online. */
export function buildMatrix(defs: FeatureDef[], specs: FeatureSpec[], table: Table, rows: Int32Array): FeatureMatrix {
  const columns = defs.map((def, i) => {
    const spec = specs[i];
    if (!spec || spec.name !== def.name || spec.kind !== def.kind) {
      throw new FeatureStateError(
        `feature ${def.name} has no fitted state (found ${spec ? `${spec.kind} ${spec.name}` : 'nothing'})`
      );
    }
    const out = new Float64Array(rows.length);
    def.apply(inputsOf(def, table), spec.state, rows, out);
    return out;
  });
  return { rows: rows.length, columns, names: defs.map((d) => d.name) };
}

/**
 * The target as numbers: regression values as they are; classes as indices into `classes`
 * (a row whose class is missing or not in `classes` gets NaN, which the caller must reject or drop).
 */
export function encodeTarget(
  table: Table,
  column: string,
  rows: Int32Array,
  classes?: readonly string[]
): Float64Array {
  const col = table.columns[column];
  if (!col) throw new Error(`target column ${column} is missing`);
  const y = new Float64Array(rows.length);
  if (classes) {
    if (col.type !== 'string') throw new Error(`target column ${column} must hold class names, found ${col.type}`);
    const index = new Map(classes.map((c, i) => [c, i]));
    const classOf = Float64Array.from(col.dictionary, (name) => index.get(name) ?? Number.NaN);
    for (let i = 0; i < rows.length; i++) {
      const code = col.codes[rows[i]!]!;
      y[i] = code < 0 ? Number.NaN : classOf[code]!;
    }
    return y;
  }
  if (col.type === 'string') throw new Error(`target column ${column} must be numeric for regression, found strings`);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    y[i] = col.missing[r] === 1 ? Number.NaN : col.values[r]!;
  }
  return y;
}
