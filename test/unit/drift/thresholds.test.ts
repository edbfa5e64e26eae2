import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DRIFT_THRESHOLDS,
  DriftThresholdsError,
  driftThresholdsSchema,
  resolveDriftThresholds,
} from '../../../lib/drift/index.js';

function problems(overrides: unknown): string[] {
  try {
    resolveDriftThresholds(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(DriftThresholdsError);
    return (err as DriftThresholdsError).problems;
  }
  return [];
}

describe('drift thresholds', () => {
  it('defaults to what Evidently and friends ship', () => {
    expect(DEFAULT_DRIFT_THRESHOLDS).toEqual({
      psi: { warn: 0.1, alert: 0.25 },
      ks: { pValue: 0.05, correction: 'bonferroni' },
      jensenShannon: { alert: 0.1 },
      wasserstein: { alert: 0.1 },
      chiSquared: { pValue: 0.05, correction: 'bonferroni' },
      largeSampleSize: 10_000,
    });
    expect(driftThresholdsSchema.parse({})).toEqual(DEFAULT_DRIFT_THRESHOLDS);
    expect(driftThresholdsSchema.parse(undefined)).toEqual(DEFAULT_DRIFT_THRESHOLDS);
  });

  it('completes partial overrides from the defaults', () => {
    const t = resolveDriftThresholds({ psi: { alert: 0.3 }, ks: { correction: 'benjamini-hochberg' } });
    expect(t.psi).toEqual({ warn: 0.1, alert: 0.3 });
    expect(t.ks).toEqual({ pValue: 0.05, correction: 'benjamini-hochberg' });
    expect(t.largeSampleSize).toBe(10_000);
  });

  it('says when psi.warn is not below psi.alert, defaults included', () => {
    expect(problems({ psi: { warn: 0.3 } })).toEqual(['psi.warn (0.3) must be less than psi.alert (0.25)']);
    expect(problems({ psi: { alert: 0.05 } })).toEqual(['psi.warn (0.1) must be less than psi.alert (0.05)']);
  });

  it('says when a p-value is not a significance level', () => {
    for (const pValue of [0, 1, 1.5, -0.1]) {
      expect(problems({ ks: { pValue } })).toEqual(['ks.pValue is a significance level and must be in (0, 1)']);
    }
    expect(problems({ chiSquared: { pValue: 2 } })).toEqual([
      'chiSquared.pValue is a significance level and must be in (0, 1)',
    ]);
    expect(problems({ ks: { pValue: '0.05' } })).toEqual(['ks.pValue must be a number']);
  });

  it('names every other problem and refuses unknown keys', () => {
    expect(problems({ ks: { correction: 'holm' } })).toEqual([
      "ks.correction must be 'bonferroni', 'benjamini-hochberg' or 'none'",
    ]);
    expect(problems({ jensenShannon: { alert: 1.2 } })).toEqual([
      'jensenShannon.alert must be <= 1 (the distance is at most 1)',
    ]);
    expect(problems({ wasserstein: { alert: 0 } })).toEqual(['wasserstein.alert must be > 0']);
    expect(problems({ largeSampleSize: 100.5 })).toEqual(['largeSampleSize must be an integer']);
    expect(problems({ psi: { alret: 0.3 } })).toEqual(['unknown threshold "alret" in psi (known: warn, alert)']);
    expect(problems({ kss: {} })).toEqual([
      'unknown threshold "kss" (known: psi, ks, jensenShannon, wasserstein, chiSquared, largeSampleSize)',
    ]);
    expect(problems({ psi: 0.2 })).toEqual(['psi must be an object']);
    expect(problems(null)).toEqual(['drift thresholds must be an object']);
  });

  it('is a user-facing error listing all problems', () => {
    const error = (() => {
      try {
        resolveDriftThresholds({ psi: { warn: -1 }, ks: { pValue: 0 } });
      } catch (err) {
        return err as DriftThresholdsError;
      }
    })()!;
    expect(error.userFacing).toBe(true);
    expect(error.message).toBe(
      'invalid drift thresholds: psi.warn must be > 0; ks.pValue is a significance level and must be in (0, 1)'
    );
  });
});
