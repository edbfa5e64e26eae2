import { describe, expect, it } from 'vitest';
import { canonicalJson, predict, predictLinear, trainLinear } from '../../../lib/ml/index.js';
import { matrix } from './synthetic.js';

describe('trainLinear', () => {
  // x1 = [1, 2, 3, 4, 5], x2 = [2, 0, 1, 1, 1], y = [2, 3, 5, 6, 9].
  // Means: x1 3, x2 1, y 5. Centred: c1 = [-2, -1, 0, 1, 2], c2 = [1, -1, 0, 0, 0], cy = [-3, -2, 0, 1, 4].
  // S11 = 4+1+0+1+4 = 10, S12 = -2+1+0+0+0 = -1, S22 = 1+1 = 2,
  // S1y = 6+2+0+1+8 = 17, S2y = -3+2 = -1.
  // [10 -1; -1 2] β = [17; -1]: det = 20 - 1 = 19,
  //   β1 = (2·17 - (-1)(-1)) / 19 = 33/19, β2 = (10·(-1) - (-1)·17) / 19 = 7/19,
  //   intercept = 5 - 3·33/19 - 1·7/19 = (95 - 99 - 7)/19 = -11/19.
  const x = matrix([
    [1, 2, 3, 4, 5],
    [2, 0, 1, 1, 1],
  ]);
  const y = Float64Array.from([2, 3, 5, 6, 9]);

  it('solves ordinary least squares in closed form', () => {
    const model = trainLinear(x, y);
    expect(model.coefficients[0]).toBeCloseTo(33 / 19, 12);
    expect(model.coefficients[1]).toBeCloseTo(7 / 19, 12);
    expect(model.intercept).toBeCloseTo(-11 / 19, 12);
    // Row 1: -11/19 + 33/19 + 14/19 = 36/19.
    expect(predictLinear(model, x)[0]).toBeCloseTo(36 / 19, 12);
    expect(predict(model, x)).toEqual(predictLinear(model, x));
  });

  it('adds the ridge penalty to the diagonal, not to the intercept', () => {
    // [11 -1; -1 3] β = [17; -1]: det = 33 - 1 = 32, β1 = (3·17 - 1)/32 = 25/16, β2 = (11·(-1) + 17)/32 = 3/16,
    // intercept = 5 - 3·25/16 - 3/16 = (80 - 75 - 3)/16 = 1/8.
    const model = trainLinear(x, y, { l2: 1 });
    expect(model.coefficients[0]).toBeCloseTo(25 / 16, 12);
    expect(model.coefficients[1]).toBeCloseTo(3 / 16, 12);
    expect(model.intercept).toBeCloseTo(1 / 8, 12);
  });

  it('gives 0 to a constant or duplicated feature instead of failing', () => {
    const model = trainLinear(
      matrix([
        [1, 2, 3, 4, 5],
        [7, 7, 7, 7, 7],
        [2, 4, 6, 8, 10],
      ]),
      y
    );
    // y on x1 alone: S1y/S11 = 17/10, intercept 5 - 3·1.7 = -0.1.
    expect(model.coefficients).toEqual([expect.closeTo(1.7, 10), 0, 0]);
    expect(model.intercept).toBeCloseTo(-0.1, 10);
  });

  it('reads NaN as 0, in training and in prediction', () => {
    const withNaN = trainLinear(matrix([[NaN, 2, 3, 4, 5]]), y);
    const withZero = trainLinear(matrix([[0, 2, 3, 4, 5]]), y);
    expect(canonicalJson(withNaN)).toBe(canonicalJson(withZero));
    expect(predictLinear(withNaN, matrix([[NaN]]))[0]).toBe(withNaN.intercept);
  });

  it('refuses a matrix with other features than it was trained on', () => {
    const model = trainLinear(x, y);
    expect(() => predictLinear(model, matrix([[1], [2]], ['x1', 'x0']))).toThrow(
      /feature 0 is x1, the model expects x0/
    );
  });
});
