import { describe, expect, it } from 'vitest';
import { MlInputError, predict, TRAINERS, trainerOf, trainerParams } from '../../../lib/ml/index.js';

const x = { rows: 4, names: ['a'], columns: [Float64Array.from([0, 1, 2, 3])] };
const y = Float64Array.from([1, 3, 5, 7]);

describe('the trainer registry', () => {
  it('holds each trainer with its params schema, tasks, rounds, train and predict', () => {
    expect(Object.keys(TRAINERS).sort()).toEqual(['gbdt', 'linear', 'logistic']);
    const linear = trainerOf('linear');
    expect(linear.tasks).toEqual(['regression']);
    const model = linear.train(x, y, trainerParams({ kind: 'linear', l2: 0 }), { task: 'regression' });
    expect(Array.from(predict(model as never, x)).map((v) => Number(v.toFixed(6)))).toEqual([1, 3, 5, 7]);
    expect(trainerOf('gbdt').rounds(trainerParams({ kind: 'gbdt', ...gbdtParams }))).toBe(7);
  });

  it('names an unknown trainer and a bad parameter', () => {
    expect(() => trainerOf('xgboost')).toThrow(
      new MlInputError('unknown trainer xgboost (trainers: gbdt, linear, logistic, external)', 'kind')
    );
    expect(() => trainerParams({ kind: 'linear', l2: -1 })).toThrow(/^trainer linear: l2: /);
    expect(() => trainerParams({ kind: 'linear', l2: 0, depth: 3 } as never)).toThrow(/trainer linear: .*depth/);
  });
});

const gbdtParams = { rounds: 7, learningRate: 0.1, maxDepth: 3, minDataInLeaf: 1, lambda: 1, bins: 16, seed: 1 };
