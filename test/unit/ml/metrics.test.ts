import { describe, expect, it } from 'vitest';
import { accuracy, evaluate, logLoss, macroF1, mae, r2, rmse, rocAuc } from '../../../lib/ml/index.js';

describe('regression metrics', () => {
  // yTrue = [3, -0.5, 2, 7], yPred = [2.5, 0, 2, 8]: errors 0.5, -0.5, 0, -1.
  const yTrue = [3, -0.5, 2, 7];
  const yPred = [2.5, 0, 2, 8];
  it('computes RMSE, MAE and R²', () => {
    // RMSE = sqrt((0.25 + 0.25 + 0 + 1) / 4) = sqrt(0.375).
    expect(rmse(yTrue, yPred)).toBeCloseTo(Math.sqrt(0.375), 14);
    // MAE = (0.5 + 0.5 + 0 + 1) / 4 = 0.5.
    expect(mae(yTrue, yPred)).toBe(0.5);
    // mean = 11.5/4 = 2.875; SStot = 0.125² + 3.375² + 0.875² + 4.125² = 29.1875; SSres = 1.5.
    expect(r2(yTrue, yPred)).toBeCloseTo(1 - 1.5 / 29.1875, 14);
  });
  it('gives R² 1 for a perfect fit of a constant and 0 otherwise', () => {
    expect(r2([2, 2], [2, 2])).toBe(1);
    expect(r2([2, 2], [2, 3])).toBe(0);
  });
});

describe('classification metrics', () => {
  it('computes accuracy and macro-F1', () => {
    const yTrue = [0, 1, 2, 2, 1, 0];
    const yPred = [0, 2, 2, 2, 1, 1];
    // Hits at rows 0, 2, 3, 4.
    expect(accuracy(yTrue, yPred)).toBeCloseTo(4 / 6, 15);
    // F1 = 2TP / (2TP + FP + FN): class 0: TP 1, FP 0, FN 1 → 2/3; class 1: TP 1, FP 1, FN 1 → 2/4;
    // class 2: TP 2, FP 1, FN 0 → 4/5. Mean = (2/3 + 1/2 + 4/5) / 3 = 59/90.
    expect(macroF1(yTrue, yPred)).toBeCloseTo(59 / 90, 15);
  });

  it('computes binary ROC-AUC with tied scores at their average rank', () => {
    // Positives score 0.35, 0.8, 0.4; negatives 0.1, 0.4, 0.4. Pairs won (ties count ½):
    // 0.35 → 1 (beats 0.1); 0.8 → 3; 0.4 → 1 + ½ + ½ = 2. AUC = 6/9.
    // By ranks: 0.1→1, 0.35→2, the three 0.4s→4 each, 0.8→6; positive ranks 2 + 4 + 6 = 12; (12 - 3·4/2)/(3·3) = 6/9.
    expect(rocAuc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.4, 0.4])).toBeCloseTo(2 / 3, 15);
    expect(rocAuc([1, 1, 0], [0.5, 0.5, 0.5])).toBe(0.5);
    expect(rocAuc([1, 1], [0.2, 0.3])).toBeNaN();
  });

  it('computes multiclass ROC-AUC as the macro average of one-vs-rest', () => {
    // Row-major probabilities; class 0 positives (rows 0, 3) score 0.6, 0.3 against negatives 0.4, 0.1:
    // 3 of 4 pairs → 0.75. Classes 1 and 2 are ranked perfectly → 1. Macro = (0.75 + 1 + 1) / 3 = 11/12.
    const probabilities = [0.6, 0.3, 0.1, 0.4, 0.5, 0.1, 0.1, 0.3, 0.6, 0.3, 0.3, 0.4];
    expect(rocAuc([0, 1, 2, 0], probabilities)).toBeCloseTo(11 / 12, 15);
  });

  it('computes log loss with probabilities clipped to [1e-15, 1 - 1e-15]', () => {
    // -(ln 0.9 + ln(1 - 0.2) + ln(1 - 1e-15)) / 3: the certain, right prediction is clipped.
    expect(logLoss([1, 0, 1], [0.9, 0.2, 1])).toBeCloseTo(
      -(Math.log(0.9) + Math.log(0.8) + Math.log(1 - 1e-15)) / 3,
      15
    );
    // A certain, wrong prediction costs -ln(1e-15) ≈ 34.54 rather than infinity.
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1e-15), 12);
    // Multiclass, row-major: -(ln 0.7 + ln 0.6) / 2.
    expect(logLoss([0, 2], [0.7, 0.2, 0.1, 0.1, 0.3, 0.6])).toBeCloseTo(-(Math.log(0.7) + Math.log(0.6)) / 2, 15);
  });
});

describe('evaluate', () => {
  it('reports the metrics that apply to each task', () => {
    expect(Object.keys(evaluate('regression', [1, 2], [1, 3])).sort()).toEqual(['mae', 'r2', 'rmse']);
    const binary = evaluate('binary', [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.6]);
    // Labels at P > 0.5: [0, 1, 0, 1] → accuracy 2/4. AUC: positives 0.7, 0.4 vs negatives 0.2, 0.6 → 3/4.
    expect(binary).toEqual({
      accuracy: 0.5,
      macroF1: 0.5,
      rocAuc: 0.75,
      logLoss: -(Math.log(0.8) + Math.log(0.7) + Math.log(0.4) + Math.log(0.4)) / 4,
    });
    const multiclass = evaluate('multiclass', [0, 2], [0.7, 0.2, 0.1, 0.1, 0.3, 0.6], 3);
    expect(multiclass.accuracy).toBe(1);
  });

  it('leaves ROC-AUC out when the labels hold one class', () => {
    expect(evaluate('binary', [1, 1], [0.2, 0.9])).not.toHaveProperty('rocAuc');
  });

  it('refuses predictions of the wrong shape', () => {
    expect(() => evaluate('multiclass', [0, 1], [0.5, 0.5, 0.5, 0.5], 3)).toThrow(/3 value\(s\) per row, got 2/);
  });
});
