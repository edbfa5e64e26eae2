import { describe, expect, it } from 'vitest';
import { evaluate, predict, predictLogistic, trainLogistic } from '../../../lib/ml/index.js';
import { matrix, slice, synthetic } from './synthetic.js';

describe('trainLogistic', () => {
  it('reproduces group frequencies with one binary feature and no penalty (binary)', () => {
    // With a 0/1 feature the maximum-likelihood fit predicts each group's positive rate:
    // x = 0: y = [0, 0, 0, 1] → 1/4, intercept = logit(1/4) = log(1/3) = -ln 3;
    // x = 1: y = [0, 1, 1, 1] → 3/4, intercept + β = logit(3/4) = ln 3, so β = 2 ln 3.
    const x = matrix([[0, 0, 0, 0, 1, 1, 1, 1]]);
    const y = Float64Array.from([0, 0, 0, 1, 0, 1, 1, 1]);
    const model = trainLogistic(x, y, { task: 'binary', l2: 0, maxIterations: 50, tolerance: 1e-10 });
    expect(model.converged).toBe(true);
    expect(model.intercepts[0]).toBeCloseTo(-Math.log(3), 9);
    expect(model.coefficients[0]![0]).toBeCloseTo(2 * Math.log(3), 9);
    const p = predictLogistic(model, matrix([[0, 1]]));
    expect(p[0]).toBeCloseTo(0.25, 9);
    expect(p[1]).toBeCloseTo(0.75, 9);
  });

  it('reproduces group frequencies with one binary feature and no penalty (multinomial)', () => {
    // x = 0: classes [0, 0, 1, 2] → (1/2, 1/4, 1/4); x = 1: classes [0, 1, 1, 2, 2, 2] → (1/6, 2/6, 3/6).
    const x = matrix([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1]]);
    const y = Float64Array.from([0, 0, 1, 2, 0, 1, 1, 2, 2, 2]);
    const model = trainLogistic(x, y, { task: 'multiclass', l2: 0, maxIterations: 50, tolerance: 1e-10 });
    expect(model.converged).toBe(true);
    const p = Array.from(predictLogistic(model, matrix([[0, 1]])));
    [1 / 2, 1 / 4, 1 / 4, 1 / 6, 2 / 6, 3 / 6].forEach((expected, i) => expect(p[i]).toBeCloseTo(expected, 9));
    // Softmax cannot tell a shift of all classes apart; the reported intercepts are centred.
    expect(model.intercepts.reduce((s, v) => s + v, 0)).toBeCloseTo(0, 12);
  });

  it('separates a noisy linear boundary, with coefficients for the raw features', () => {
    // y = 1 when 2·x0 - x1 + noise > 0; x0 is scaled by 100 to show the raw-scale coefficients.
    const data = synthetic(3000, 11, (r, _m, noise) => (2 * r[0]! - r[1]! + noise > 0 ? 1 : 0), {
      features: 2,
      missing: 0,
    });
    data.x.columns[0] = data.x.columns[0]!.map((v) => v * 100);
    const train = slice(data, 0, 2000);
    const test = slice(data, 2000, 3000);
    const model = trainLogistic(train.x, train.y, { task: 'binary', l2: 1, maxIterations: 100, tolerance: 1e-8 });
    expect(model.converged).toBe(true);
    const [b0, b1] = model.coefficients[0]!;
    // β0·(x0·100) - ... : the raw ratio is 2/100 to -1.
    expect((b0! * 100) / -b1!).toBeCloseTo(2, 0);
    const metrics = evaluate('binary', test.y, predict(model, test.x));
    expect(metrics.accuracy).toBeGreaterThan(0.9);
    expect(metrics.rocAuc).toBeGreaterThan(0.97);
  });

  it('classifies three classes from a multinomial boundary', () => {
    const data = synthetic(
      3000,
      12,
      (r) => {
        const scores = [r[0]!, r[1]!, -r[0]! - r[1]!];
        return scores.indexOf(Math.max(...scores));
      },
      { features: 3, missing: 0.05, missingIn: 2 }
    );
    const train = slice(data, 0, 2000);
    const test = slice(data, 2000, 3000);
    const model = trainLogistic(train.x, train.y, { task: 'multiclass', l2: 1, maxIterations: 100, tolerance: 1e-8 });
    expect(model.numClasses).toBe(3);
    const metrics = evaluate('multiclass', test.y, predict(model, test.x), 3);
    expect(metrics.accuracy).toBeGreaterThan(0.9);
  });

  it('refuses regression', () => {
    expect(() => trainLogistic(matrix([[1, 2]]), Float64Array.from([1, 2]), { task: 'regression' })).toThrow(
      /binary or multiclass/
    );
  });
});
