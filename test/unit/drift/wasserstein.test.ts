import { describe, expect, it } from 'vitest';
import { sortedWithoutNaN, wassersteinDistance, wassersteinDistanceSorted } from '../../../lib/drift/index.js';
import { cases, expectClose, f64 } from './cases.js';

describe('wassersteinDistance against scipy.stats.wasserstein_distance', () => {
  it.each(cases.wasserstein.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expectClose(wassersteinDistance(f64(c.u), f64(c.v)), c.distance, 1e-9);
    // Symmetric, and the same from pre-sorted samples.
    expectClose(wassersteinDistance(f64(c.v), f64(c.u)), c.distance, 1e-9);
    expectClose(wassersteinDistanceSorted(sortedWithoutNaN(f64(c.u)), sortedWithoutNaN(f64(c.v))), c.distance, 1e-9);
  });

  it('refuses an empty side', () => {
    expect(() => wassersteinDistance(Float64Array.of(1), Float64Array.of(NaN))).toThrow('values on both sides');
  });
});
