import { describe, expect, it } from 'vitest';
import { defaultGbdtParams, predictGbdt, predictRow, trainGbdt } from '../../../lib/ml/index.js';
import type { FeatureMatrix, GbdtModel, Task } from '../../../lib/ml/index.js';
import { synthetic } from './synthetic.js';

/*
 * Online serving scores one row at a time, batch inference thousands: both must give the numbers training's
 * evaluation gave, bit for bit (packages are content-addressed and reproducible).
 */

/** The bytes of a result, so -0 and NaN payloads count too. */
const bytes = (values: Float64Array) => Array.from(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

/** Row i of `x` as its own matrix. */
const rowMatrix = (x: FeatureMatrix, i: number): FeatureMatrix => ({
  rows: 1,
  columns: x.columns.map((c) => c.slice(i, i + 1)),
  names: x.names,
});

/** The model as plain data says it predicts: walk each tree, add leaves in tree order, then the link function. */
function reference(model: GbdtModel, row: number[]): number[] {
  const raw = [...model.baseScore];
  const k = raw.length;
  model.trees.forEach((tree, t) => {
    let node = 0;
    while (tree.feature[node]! >= 0) {
      const x = row[tree.feature[node]!]!;
      const left = Number.isNaN(x) ? tree.defaultLeft[node]! : x <= tree.threshold[node]!;
      node = left ? tree.left[node]! : tree.right[node]!;
    }
    raw[t % k]! += tree.value[node]!;
  });
  if (model.params.task === 'regression') return raw;
  if (model.params.task === 'binary') return [1 / (1 + Math.exp(-raw[0]!))];
  let max = -Infinity;
  for (const r of raw) max = Math.max(max, r);
  const out = raw.map((r) => Math.exp(r - max));
  let sum = 0;
  for (const v of out) sum += v;
  return out.map((v) => v / sum);
}

describe('GBDT predictions: one row, a few rows, many rows', () => {
  // Depth 10 with 40 rows a leaf grows trees of different depths; 7 rounds leave a tree count that is not a multiple
  // of 4 (single rows route four trees at a time); 600 rows span a partial second block of 256.
  const cases: { task: Task; target: (r: Float64Array, missing: boolean) => number; numClasses?: number }[] = [
    { task: 'regression', target: (r) => Math.sin(r[0]!) + r[1]! ** 2 },
    { task: 'binary', target: (r, missing) => (missing || r[0]! + 0.5 * r[1]! ** 2 > 1 ? 1 : 0) },
    { task: 'multiclass', target: (r) => (r[0]! < -1 ? 0 : r[1]! < 0.5 ? 1 : 2), numClasses: 3 },
  ];

  it.each(cases)('$task: every path gives the same bits', ({ task, target, numClasses }) => {
    const data = synthetic(600, 11, target, { features: 5, missing: 0.15 });
    const model = trainGbdt(data.x, data.y, {
      ...defaultGbdtParams(task),
      ...(numClasses ? { numClasses } : {}),
      rounds: 7,
      maxDepth: 10,
      minDataInLeaf: 40,
    });
    const depthOf = (tree: GbdtModel['trees'][number], node = 0): number =>
      tree.feature[node]! < 0 ? 0 : 1 + Math.max(depthOf(tree, tree.left[node]), depthOf(tree, tree.right[node]));
    const depths = new Set(model.trees.map((t) => depthOf(t)));
    expect(depths.size).toBeGreaterThan(1);
    expect(model.trees.length % 4).not.toBe(0);

    const k = task === 'multiclass' ? numClasses! : 1;
    const all = predictGbdt(model, data.x);
    expect(all).toHaveLength(600 * k);
    const copy = JSON.parse(JSON.stringify(model)) as GbdtModel;
    let missingRows = 0;
    for (let i = 0; i < 600; i++) {
      const row = data.x.columns.map((c) => c[i]!);
      if (row.some(Number.isNaN)) missingRows++;
      const want = bytes(all.subarray(i * k, (i + 1) * k));
      expect(bytes(Float64Array.from(reference(model, row)))).toEqual(want);
      expect(bytes(predictGbdt(model, rowMatrix(data.x, i)))).toEqual(want);
      // A model loaded from its JSON (as serving does) and predicted twice (compiled once, then from the cache).
      expect(bytes(predictGbdt(copy, rowMatrix(data.x, i)))).toEqual(want);
      expect(bytes(predictGbdt(copy, rowMatrix(data.x, i)))).toEqual(want);
      expect(bytes(predictRow(model, row))).toEqual(want);
    }
    expect(missingRows).toBeGreaterThan(0);
    const few = { rows: 3, columns: data.x.columns.map((c) => c.slice(297, 300)), names: data.x.names };
    expect(bytes(predictGbdt(model, few))).toEqual(bytes(all.subarray(297 * k, 300 * k)));
  });

  it('follows a model whose tree list was replaced after it predicted', () => {
    const data = synthetic(300, 5, (r) => r[0]! * 2 + r[1]!, { features: 3 });
    const model = trainGbdt(data.x, data.y, { ...defaultGbdtParams('regression'), rounds: 10, maxDepth: 3 });
    const one = rowMatrix(data.x, 4);
    const before = predictGbdt(model, one);
    const fewer = { ...model, trees: model.trees.slice(0, 5) };
    const want = predictGbdt(fewer, one);
    expect(want[0]).not.toBe(before[0]);
    model.trees = model.trees.slice(0, 5);
    expect(bytes(predictGbdt(model, one))).toEqual(bytes(want));
    model.trees.push(...fewer.trees);
    const doubled = { ...model, trees: [...fewer.trees, ...fewer.trees] };
    expect(bytes(predictGbdt(model, one))).toEqual(bytes(predictGbdt(doubled, one)));
  });
});
