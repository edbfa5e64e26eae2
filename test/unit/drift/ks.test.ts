import { describe, expect, it } from 'vitest';
import { kolmogorovN, ksTwoSample, smirnovSf } from '../../../lib/drift/index.js';
import { cases, expectClose, f64 } from './cases.js';

const TOLERANCE = 1e-9;

describe('ksTwoSample against scipy.stats.ks_2samp', () => {
  it.each(cases.ks.map((c) => [c.name, c] as const))("%s (method='asymp')", (_, c) => {
    const result = ksTwoSample(f64(c.a), f64(c.b), { method: 'asymp' });
    expect(result.method).toBe('asymp');
    expectClose(result.statistic, c.asymp.statistic, TOLERANCE, 'statistic');
    if (c.asymp.pValue === null) expect(result.pValue).toBeNaN();
    else expectClose(result.pValue, c.asymp.pValue, TOLERANCE, 'p-value');
    expect(result.location).toBe(c.asymp.location);
    expect(result.sign).toBe(c.asymp.sign);
  });

  it.each(cases.ks.map((c) => [c.name, c] as const))("%s (method='exact')", (_, c) => {
    const result = ksTwoSample(f64(c.a), f64(c.b), { method: 'exact' });
    expect(result.method).toBe(c.exact.method);
    expectClose(result.statistic, c.exact.statistic, TOLERANCE, 'statistic');
    expectClose(result.pValue, c.exact.pValue, TOLERANCE, 'p-value');
  });

  it("uses 'asymp' by default and 'exact' under 'auto' for small samples", () => {
    const c = cases.ks[0]!;
    expect(ksTwoSample(f64(c.a), f64(c.b)).method).toBe('asymp');
    expect(ksTwoSample(f64(c.a), f64(c.b), { method: 'auto' }).pValue).toBe(
      ksTwoSample(f64(c.a), f64(c.b), { method: 'exact' }).pValue
    );
  });

  it('leaves its inputs alone and refuses an empty side', () => {
    const a = Float64Array.of(3, NaN, 1, 2);
    ksTwoSample(a, Float64Array.of(0.5));
    expect(Array.from(a)).toEqual([3, NaN, 1, 2]);
    expect(() => ksTwoSample(Float64Array.of(NaN), Float64Array.of(1))).toThrow('values on both sides (got 0 and 1)');
  });
});

describe('Kolmogorov distributions', () => {
  it('kolmogorovN matches scipy.stats.kstwo.sf and .cdf in every region of (n, x)', () => {
    expect(cases.kstwo.length).toBeGreaterThan(500);
    for (const [n, x, sf, cdf] of cases.kstwo) {
      expectClose(kolmogorovN(n, x), sf, TOLERANCE, `kstwo.sf(${x}, ${n})`);
      expectClose(kolmogorovN(n, x, true), cdf, TOLERANCE, `kstwo.cdf(${x}, ${n})`);
    }
  });

  it('smirnovSf matches scipy.special.smirnov', () => {
    for (const [n, x, sf] of cases.smirnov) expectClose(smirnovSf(n, x), sf, TOLERANCE, `smirnov(${n}, ${x})`);
  });

  it('is NaN for an n that is not a positive integer', () => {
    expect(kolmogorovN(0, 0.5)).toBeNaN();
    expect(kolmogorovN(2.5, 0.5)).toBeNaN();
  });
});
