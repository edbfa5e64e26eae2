import { describe, expect, it } from 'vitest';
import { computeBinEdges, quantileEdges } from '../../../lib/ml/binning.js';
import {
  canonicalJson,
  defaultGbdtParams,
  evaluate,
  gbdtLossCurve,
  predict,
  predictGbdt,
  predictRow,
  startGbdtHelpers,
  trainGbdt,
} from '../../../lib/ml/index.js';
import type { GbdtModel, GbdtParams, GbdtThreadStats, Task } from '../../../lib/ml/index.js';
import { matrix, slice, synthetic } from './synthetic.js';
import type { Dataset } from './synthetic.js';

const stumps = (task: Task, overrides: Partial<GbdtParams> = {}): GbdtParams => ({
  ...defaultGbdtParams(task),
  maxDepth: 1,
  minDataInLeaf: 1,
  lambda: 0,
  ...overrides,
});

describe('trainGbdt by hand', () => {
  it('finds the split, leaf values and predictions of two boosting rounds', () => {
    // x = [1..6], y = [1, 2, 3, 10, 11, 21]; squared error, depth 1, lambda 0, learning rate 0.5.
    // Distinct values get their own bins, so candidate thresholds are the midpoints 1.5, 2.5, 3.5, 4.5, 5.5.
    //
    // Round 1. Base score = mean(y) = 48/6 = 8. g = pred - y = [7, 6, 5, -2, -3, -13], h = 1, G = 0.
    // Score GL²/nL + GR²/nR (GR = -GL), k rows left:
    //   k=1: 49/1 + 49/5 = 58.8    k=2: 169/2 + 169/4 = 126.75    k=3: 324/3 + 324/3 = 216
    //   k=4: 256/4 + 256/2 = 192   k=5: 169/5 + 169/1 = 202.8
    // Best: k=3, threshold 3.5, gain (216 - 0)/2 = 108. Leaves -GL/nL·0.5 = -18/3·0.5 = -3 and +3.
    // Predictions: 5 for x <= 3.5, 11 above.
    //
    // Round 2. g = [4, 3, 2, 1, 0, -10], G = 0:
    //   k=1: 16 + 16/5 = 19.2      k=2: 49/2 + 49/4 = 36.75       k=3: 81/3 + 81/3 = 54
    //   k=4: 100/4 + 100/2 = 75    k=5: 100/5 + 100/1 = 120
    // Best: k=5, threshold 5.5. Leaves: -10/5·0.5 = -1 (left), 10/1·0.5 = 5 (right).
    // Final: x in 1..3 → 5 - 1 = 4; x in 4..5 → 11 - 1 = 10; x = 6 → 11 + 5 = 16.
    const x = matrix([[1, 2, 3, 4, 5, 6]]);
    const y = Float64Array.from([1, 2, 3, 10, 11, 21]);
    const model = trainGbdt(x, y, stumps('regression', { rounds: 2, learningRate: 0.5 }));

    expect(model.baseScore).toEqual([8]);
    expect(model.binEdges).toEqual([[1.5, 2.5, 3.5, 4.5, 5.5]]);
    expect(model.trees).toHaveLength(2);
    const [first, second] = model.trees;
    expect(first).toMatchObject({
      feature: [0, -1, -1],
      threshold: [3.5, 0, 0],
      left: [1, -1, -1],
      right: [2, -1, -1],
    });
    expect(second).toMatchObject({ feature: [0, -1, -1], threshold: [5.5, 0, 0] });
    // Squared error's histograms sum gradients rounded to steps of max |g| / (2^23 - 1), 13 / 8388607 in round 1:
    // each leaf is within lr * step / 2 = 4e-7 of the exact value.
    const close = (actual: number[], expected: number[]) =>
      expected.forEach((v, i) => expect(Math.abs(actual[i]! - v)).toBeLessThan(1e-6));
    close(first!.value, [0, -3, 3]);
    close(second!.value, [0, -1, 5]);
    close(Array.from(predictGbdt(model, x)), [4, 4, 4, 10, 10, 16]);
    close(Array.from(predictRow(model, [6.5])), [16]);
    // No NaN in training: NaN follows the larger side (3 rows vs 3 → left; 5 vs 1 → left).
    expect(first!.defaultLeft[0]).toBe(true);
    close(Array.from(predictRow(model, [NaN])), [4]);
  });

  it('learns which side missing values go', () => {
    // x = [1, 2, 3, NaN], y = [0, 6, 6, 0]; one stump, learning rate 1, lambda 0. Base 3, g = [3, -3, -3, 3].
    // Value bins {1}, {2}, {3} and a NaN bin. Scores GL²/nL + GR²/nR:
    //   x <= 1.5, NaN right: L = {1}          GL = 3  → 9/1 + 9/3   = 12
    //   x <= 1.5, NaN left:  L = {1, NaN}     GL = 6  → 36/2 + 36/2 = 36   ← best
    //   x <= 2.5, NaN right: L = {1, 2}       GL = 0  → 0
    //   x <= 2.5, NaN left:  L = {1, 2, NaN}  GL = 3  → 9/3 + 9/1   = 12
    //   present / missing:   L = {1, 2, 3}    GL = -3 → 9/3 + 9/1   = 12
    // Leaves: -6/2 = -3 (left: x <= 1.5 or NaN) → 0, and +3 → 6.
    const model = trainGbdt(
      matrix([[1, 2, 3, NaN]]),
      Float64Array.from([0, 6, 6, 0]),
      stumps('regression', {
        rounds: 1,
        learningRate: 1,
      })
    );
    const tree = model.trees[0]!;
    expect(tree.threshold[0]).toBe(1.5);
    expect(tree.defaultLeft[0]).toBe(true);
    expect(Array.from(predictGbdt(model, matrix([[1, 2, 3, NaN, 0.5, 9]])))).toEqual([0, 6, 6, 0, 0, 6]);
  });

  it('starts binary models at the log-odds of the mean and returns probabilities', () => {
    // y = [0, 0, 0, 1]: mean 1/4, base = log(0.25 / 0.75) = -ln 3. x is constant, so there is nothing to split.
    const model = trainGbdt(matrix([[1, 1, 1, 1]]), Float64Array.from([0, 0, 0, 1]), stumps('binary', { rounds: 1 }));
    expect(model.baseScore[0]).toBeCloseTo(-Math.log(3), 14);
    // Single leaf: g = p - y with p = 1/4 → G = 3·(1/4) + (1/4 - 1) = 0: the leaf is 0 and P stays 1/4.
    expect(predictGbdt(model, matrix([[1]]))[0]).toBeCloseTo(0.25, 14);
  });
});

describe('binning', () => {
  it('gives every distinct value its own bin when there are few, and equal-count bins otherwise', () => {
    expect(quantileEdges(Float64Array.from([1, 1, 2, 3]), 255)).toEqual([1.5, 2.5]);
    const many = Float64Array.from({ length: 1000 }, (_, i) => i);
    const edges = quantileEdges(many, 4);
    expect(edges).toEqual([249.5, 499.5, 749.5]);
  });

  it('samples large inputs deterministically', () => {
    const { x } = synthetic(210_000, 5, () => 0, { features: 1, missing: 0.05 });
    const a = computeBinEdges(x, 255, 42);
    expect(a[0]!.length).toBe(254);
    expect(computeBinEdges(x, 255, 42)).toEqual(a);
    expect(computeBinEdges(x, 255, 43)).not.toEqual(a);
  });
});

/** Regression, binary and 3-class problems with NaN in x0 (10% of rows). */
const problems: Record<Task, { data: Dataset; params: GbdtParams }> = {
  regression: {
    data: synthetic(4000, 1, (r, _m, noise) => Math.sin(r[0]!) + r[1]! ** 2 + 0.3 * noise),
    params: { ...defaultGbdtParams('regression'), rounds: 200, maxDepth: 4, learningRate: 0.1 },
  },
  binary: {
    // Missing x0 is informative: those rows are positive.
    data: synthetic(4000, 2, (r, missing) => (missing || r[0]! + 0.5 * r[1]! ** 2 > 1 ? 1 : 0)),
    params: { ...defaultGbdtParams('binary'), rounds: 100, maxDepth: 4 },
  },
  multiclass: {
    data: synthetic(4000, 3, (r) => (r[0]! < -1 ? 0 : r[1]! < 0.5 ? 1 : 2)),
    params: { ...defaultGbdtParams('multiclass'), numClasses: 3, rounds: 60, maxDepth: 4 },
  },
};

describe('trainGbdt on synthetic data', () => {
  it('fits y = sin(x0) + x1² + noise with NaN in x0: R² > 0.9 on held-out rows', () => {
    const { data, params } = problems.regression;
    const model = trainGbdt(slice(data, 0, 3000).x, slice(data, 0, 3000).y, params);
    const test = slice(data, 3000, 4000);
    const metrics = evaluate('regression', test.y, predictGbdt(model, test.x));
    expect(metrics.r2).toBeGreaterThan(0.9);
  });

  it.each(['binary', 'multiclass'] as const)('classifies %s held-out rows with accuracy > 0.9', (task) => {
    const { data, params } = problems[task];
    const train = slice(data, 0, 3000);
    const test = slice(data, 3000, 4000);
    const model = trainGbdt(train.x, train.y, params);
    const predictions = predict(model, test.x);
    const metrics = evaluate(task, test.y, predictions, task === 'multiclass' ? 3 : undefined);
    expect(metrics.accuracy).toBeGreaterThan(0.9);
    expect(metrics.rocAuc).toBeGreaterThan(0.95);
    if (task === 'multiclass') {
      // Row-major probabilities that sum to 1 per row.
      expect(predictions).toHaveLength(3000);
      expect(predictions[0]! + predictions[1]! + predictions[2]!).toBeCloseTo(1, 12);
    }
  });

  it.each(['regression', 'binary', 'multiclass'] as const)(
    "gives a %s loss curve per round that falls on the training rows and ends at the model's own loss",
    (task) => {
      const { data, params } = problems[task];
      const train = slice(data, 0, 3000);
      const test = slice(data, 3000, 4000);
      const model = trainGbdt(train.x, train.y, { ...params, rounds: 30 });
      const metric = task === 'regression' ? 'rmse' : 'logLoss';
      const onTrain = gbdtLossCurve(model, train.x, train.y);
      const onTest = gbdtLossCurve(model, test.x, test.y);
      expect(onTrain).toHaveLength(30);
      expect(onTest).toHaveLength(30);
      // Boosting never raises the training loss much from round to round; over 30 rounds it falls a lot.
      expect(onTrain.at(-1)!).toBeLessThan(onTrain[0]! * 0.7);
      onTrain.slice(1).forEach((loss, r) => expect(loss).toBeLessThanOrEqual(onTrain[r]! * 1.001));
      const own = evaluate(task, test.y, predictGbdt(model, test.x), task === 'multiclass' ? 3 : undefined)[metric];
      expect(onTest.at(-1)).toBe(own);
    }
  );

  it('predictRow matches predictGbdt row for row', () => {
    const { data, params } = problems.multiclass;
    const model = trainGbdt(data.x, data.y, { ...params, rounds: 5 });
    const all = predictGbdt(model, data.x);
    for (const i of [0, 1, 17, 3999]) {
      const row = data.x.columns.map((c) => c[i]!);
      expect(Array.from(predictRow(model, row))).toEqual(Array.from(all.subarray(i * 3, i * 3 + 3)));
    }
  });
});

describe('trainGbdt determinism', () => {
  // Every task, with all rows in every tree and with row and feature subsampling (every random stream in use).
  const cases = (['regression', 'binary', 'multiclass'] as const).flatMap((task) =>
    [1, 0.8].map((subsample) => ({ task, subsample }))
  );
  const setup = (task: Task, subsample = 0.8) => {
    const { data, params } = problems[task];
    const small = slice(data, 0, 1500);
    const featureFraction = subsample < 1 ? 0.75 : 1;
    return { ...small, params: { ...params, rounds: 12, subsample, featureFraction, seed: 7 } };
  };

  it.each(cases)(
    'gives byte-identical models for the same seed ($task, subsample $subsample)',
    ({ task, subsample }) => {
      const { x, y, params } = setup(task, subsample);
      const a = canonicalJson(trainGbdt(x, y, params));
      expect(canonicalJson(trainGbdt(x, y, params))).toBe(a);
      if (subsample < 1) expect(canonicalJson(trainGbdt(x, y, { ...params, seed: 8 }))).not.toBe(a);
    }
  );

  it.each(cases)(
    'resumes from a checkpoint to the same bytes as an uninterrupted run ($task, subsample $subsample)',
    ({ task, subsample }) => {
      const { x, y, params } = setup(task, subsample);
      const uninterrupted = canonicalJson(trainGbdt(x, y, params));

      let checkpoint: string | undefined;
      const stopped = trainGbdt(x, y, params, {
        onRound(round, model) {
          expect(model.trees).toHaveLength(round * (task === 'multiclass' ? 3 : 1));
          if (round === 5) {
            checkpoint = canonicalJson(model);
            return 'stop';
          }
        },
      });
      expect(canonicalJson(stopped)).toBe(checkpoint);
      // What a retried activity sees: the checkpoint's bytes, parsed back.
      const resumeFrom = JSON.parse(checkpoint!) as GbdtModel;
      const rounds: number[] = [];
      const resumed = trainGbdt(x, y, params, { resumeFrom, onRound: (round) => void rounds.push(round) });
      expect(rounds).toEqual([6, 7, 8, 9, 10, 11, 12]);
      expect(canonicalJson(resumed)).toBe(uninterrupted);
    }
  );

  // Enough rows for two helper threads (each needs two chunks of 16,384), so partitions and histograms are shared out.
  const targets = {
    regression: (r: Float64Array, _m: boolean, noise: number) => Math.sin(r[0]!) + r[1]! ** 2 + 0.3 * noise,
    binary: (r: Float64Array, missing: boolean) => (missing || r[0]! + 0.5 * r[1]! ** 2 > 1 ? 1 : 0),
    multiclass: (r: Float64Array) => (r[0]! < -1 ? 0 : r[1]! < 0.5 ? 1 : 2),
  };
  it.each(cases)(
    'gives the same bytes on one thread and on three ($task, subsample $subsample)',
    async ({ task, subsample }) => {
      const { x, y } = synthetic(70_000, 11, targets[task], { features: 5 });
      const params: GbdtParams = {
        ...problems[task].params,
        rounds: 4,
        maxDepth: 6,
        subsample,
        featureFraction: subsample < 1 ? 0.8 : 1,
      };
      const stats = (): GbdtThreadStats => ({ threads: 0, tasks: 0, helperTasks: 0 });
      const [one, three] = [stats(), stats()];
      const single = canonicalJson(trainGbdt(x, y, params, { threads: 1, stats: one }));
      // Helpers already up, so that they take part in so short a training.
      await startGbdtHelpers(2);
      expect(canonicalJson(trainGbdt(x, y, params, { threads: 3, stats: three }))).toBe(single);
      expect(one).toMatchObject({ threads: 1, helperTasks: 0 });
      expect(three.threads).toBe(3);
      expect(three.tasks).toBe(one.tasks);
      expect(three.helperTasks).toBeGreaterThan(0);
    },
    30_000
  );

  it('refuses to resume from a model trained with other parameters', () => {
    const { x, y, params } = setup('regression');
    const partial = trainGbdt(x, y, { ...params, rounds: 2 });
    expect(() => trainGbdt(x, y, { ...params, learningRate: 0.3 }, { resumeFrom: partial })).toThrow(/resumeFrom/);
    // More rounds than the checkpoint's run asked for is fine: training continues.
    expect(trainGbdt(x, y, params, { resumeFrom: partial }).trees).toHaveLength(12);
  });
});

describe('trainGbdt input checks', () => {
  const x = matrix([[1, 2, 3]]);
  it('names the bad parameter', () => {
    expect(() => trainGbdt(x, Float64Array.from([1, 2, 3]), { ...defaultGbdtParams('regression'), bins: 256 })).toThrow(
      /bins must be an integer in \[2, 255\]/
    );
  });
  it('rejects targets that do not fit the task, and infinite features', () => {
    expect(() => trainGbdt(x, Float64Array.from([0, 1, 2]), defaultGbdtParams('binary'))).toThrow(/not 0 or 1/);
    expect(() =>
      trainGbdt(matrix([[1, Infinity, 3]]), Float64Array.from([1, 2, 3]), defaultGbdtParams('regression'))
    ).toThrow(/x0 row 1 is Infinity/);
  });
});
