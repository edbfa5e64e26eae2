import { describe, expect, it } from 'vitest';
import {
  detectColumnDrift,
  detectDrift,
  histogramOnEdges,
  jensenShannonDistance,
  ksTwoSample,
  numericReference,
  psi,
  wassersteinDistance,
} from '../../../lib/drift/index.js';
import type { ColumnDrift, NumericReference } from '../../../lib/drift/index.js';
import { categorical, normal } from './synthetic.js';

// Training column: 100,000 draws from N(0, 1); its profile keeps 20 bins and a 5,000-value reservoir.
const training = normal(100_000, 0, 1, 1);
const reference: NumericReference = numericReference(training, { bins: 20, sampleSize: 5000, seed: 3 });

const numeric = (current: Float64Array, column = 'x') => ({ column, kind: 'numeric' as const, reference, current });

function statistics(result: ColumnDrift) {
  if (result.kind !== 'numeric') throw new Error('expected a numeric column');
  return result.statistics;
}

describe('numericReference', () => {
  it('holds 20 bins over the training range, a reservoir sample and the std', () => {
    expect(reference.edges.length).toBe(21);
    expect(Array.from(reference.counts).reduce((a, b) => a + b)).toBe(100_000);
    expect(reference.sample.length).toBe(5000);
    expect(reference.std).toBeCloseTo(1, 1);
  });
});

describe('a shift of half a standard deviation is detected by each method, no shift by none', () => {
  const shifted = normal(2000, 0.5, 1, 11);
  const same = normal(2000, 0, 1, 12);
  const largeShifted = normal(200_000, 0.5, 1, 13);
  const largeSame = normal(200_000, 0, 1, 14);

  it('KS (small samples)', () => {
    expect(ksTwoSample(reference.sample, shifted).pValue).toBeLessThan(1e-6);
    expect(ksTwoSample(reference.sample, same).pValue).toBeGreaterThan(0.05);
  });

  it('PSI: warn at 0.5 std, alert at 1 std', () => {
    const counts = (values: Float64Array) => histogramOnEdges(values, reference.edges).counts;
    const half = psi(reference.counts, counts(largeShifted));
    expect(half).toBeGreaterThanOrEqual(0.1);
    expect(psi(reference.counts, counts(normal(200_000, 1, 1, 15)))).toBeGreaterThanOrEqual(0.25);
    expect(psi(reference.counts, counts(largeSame))).toBeLessThan(0.01);
  });

  it('Jensen-Shannon distance', () => {
    const counts = (values: Float64Array) => histogramOnEdges(values, reference.edges).counts;
    expect(jensenShannonDistance(reference.counts, counts(largeShifted))).toBeGreaterThanOrEqual(0.1);
    expect(jensenShannonDistance(reference.counts, counts(largeSame))).toBeLessThan(0.05);
  });

  it('Wasserstein distance in reference standard deviations', () => {
    expect(wassersteinDistance(reference.sample, largeShifted) / reference.std).toBeGreaterThan(0.4);
    expect(wassersteinDistance(reference.sample, largeSame) / reference.std).toBeLessThan(0.05);
  });

  it('detectColumnDrift decides by KS on small samples', () => {
    const drift = detectColumnDrift(numeric(shifted));
    expect(drift).toMatchObject({ column: 'x', kind: 'numeric', method: 'ks', drifted: true, severity: 'alert' });
    expect(drift.exceeded).toEqual(['ks.pValue']);
    expect(statistics(drift).ks!.pValue).toBeLessThan(1e-6);
    const quiet = detectColumnDrift(numeric(same));
    expect(quiet).toMatchObject({ method: 'ks', drifted: false, severity: 'ok', exceeded: [] });
  });

  it('detectColumnDrift decides by distances on large samples, without running KS', () => {
    const drift = detectColumnDrift(numeric(largeShifted));
    expect(drift).toMatchObject({ method: 'distance', drifted: true, severity: 'alert' });
    expect(drift.exceeded).toEqual(expect.arrayContaining(['psi.warn', 'jensenShannon.alert', 'wasserstein.alert']));
    expect(statistics(drift).ks).toBeUndefined();
    expect(statistics(drift).currentSize).toBe(200_000);
    const quiet = detectColumnDrift(numeric(largeSame));
    expect(quiet).toMatchObject({ method: 'distance', drifted: false, severity: 'ok', exceeded: [] });
  });

  it('a tiny shift on a large sample: KS would flag it, the distance measures do not', () => {
    const tiny = normal(200_000, 0.03, 1, 16);
    expect(ksTwoSample(training, tiny).pValue).toBeLessThan(0.05);
    expect(detectColumnDrift(numeric(tiny))).toMatchObject({ method: 'distance', drifted: false, severity: 'ok' });
  });

  it('tests while neither sample is larger than largeSampleSize', () => {
    const atLimit = normal(10_000, 0, 1, 17);
    expect(detectColumnDrift(numeric(atLimit)).method).toBe('ks');
    expect(detectColumnDrift(numeric(atLimit), { thresholds: { largeSampleSize: 9999 } }).method).toBe('distance');
    const defaults = numericReference(training, { seed: 3 });
    expect(defaults.sample.length).toBe(10_000);
    expect(detectColumnDrift({ ...numeric(same), reference: defaults }).method).toBe('ks');
  });

  it('PSI alone gives a warning severity when the others stay below their thresholds', () => {
    const drift = detectColumnDrift(numeric(largeShifted), {
      thresholds: { jensenShannon: { alert: 1 }, wasserstein: { alert: 10 } },
    });
    expect(drift).toMatchObject({ method: 'distance', drifted: false, severity: 'warn', exceeded: ['psi.warn'] });
  });
});

describe('categorical columns', () => {
  const base = { a: 0.5, b: 0.3, c: 0.2 };
  const moved = { a: 0.3, b: 0.5, c: 0.2 }; // 20 points moved from a to b
  const referenceCounts = categorical(5000, base, 1);
  const column = (current: Record<string, number>) => ({
    column: 'carrier',
    kind: 'categorical' as const,
    reference: referenceCounts,
    current,
  });

  it('chi-squared on small samples: 20 points moved is drift, the same proportions are not', () => {
    expect(detectColumnDrift(column(categorical(500, moved, 2)))).toMatchObject({
      method: 'chi-squared',
      drifted: true,
      severity: 'alert',
      exceeded: ['chiSquared.pValue'],
    });
    expect(detectColumnDrift(column(categorical(500, base, 3)))).toMatchObject({
      method: 'chi-squared',
      drifted: false,
    });
  });

  it('distances on large samples: 20 points moved is drift, the same proportions are not', () => {
    const drift = detectColumnDrift(column(categorical(50_000, moved, 4)));
    expect(drift).toMatchObject({ method: 'distance', drifted: true, severity: 'alert' });
    expect(drift.exceeded).toEqual(['psi.warn', 'jensenShannon.alert']);
    expect(detectColumnDrift(column(categorical(50_000, base, 5)))).toMatchObject({ drifted: false, severity: 'ok' });
  });

  it('a category never seen in training is reported and detected', () => {
    const current = { ...categorical(450, base, 6), brandNew: 50 };
    const drift = detectColumnDrift(column(current));
    expect(drift.drifted).toBe(true);
    if (drift.kind !== 'categorical') throw new Error('expected a categorical column');
    expect(drift.statistics.unseen).toEqual(['brandNew']);
    expect(drift.statistics.unseenShare).toBeCloseTo(0.1, 12);
  });
});

describe('edge cases', () => {
  it('constant columns: the same constant is no drift, another constant is', () => {
    const constant = numericReference(new Float64Array(1000).fill(5));
    const input = (value: number) => ({
      column: 'c',
      kind: 'numeric' as const,
      reference: constant,
      current: new Float64Array(200).fill(value),
    });
    const same = detectColumnDrift(input(5));
    expect(same).toMatchObject({ method: 'ks', drifted: false });
    expect(statistics(same)).toMatchObject({ psi: 0, jensenShannon: 0, wasserstein: 0, wassersteinNormed: 0 });
    expect(statistics(same).ks).toMatchObject({ statistic: 0, pValue: 1 });
    const moved = detectColumnDrift(input(6));
    expect(moved).toMatchObject({ method: 'ks', drifted: true });
    expect(statistics(moved).wassersteinNormed).toBe(1 / 0.001);
  });

  it('a window with no values gets no verdict, and says why', () => {
    const drift = detectColumnDrift(numeric(Float64Array.of(NaN, NaN)));
    expect(drift).toMatchObject({
      method: 'none',
      drifted: false,
      severity: 'ok',
      note: 'no current values (all missing)',
    });
    expect(statistics(drift).currentMissing).toBe(2);
    expect(detectColumnDrift({ column: 'k', kind: 'categorical', reference: { a: 1 }, current: {} })).toMatchObject({
      method: 'none',
      note: 'no current values',
    });
  });

  it('a tiny window is tested, not guessed at', () => {
    const drift = detectColumnDrift(numeric(Float64Array.of(0.1, -0.4, 1.2)));
    expect(drift).toMatchObject({ method: 'ks', drifted: false });
    expect(statistics(drift).currentSize).toBe(3);
  });

  it('refuses invalid thresholds', () => {
    expect(() => detectColumnDrift(numeric(Float64Array.of(1)), { thresholds: { ks: { pValue: 5 } } })).toThrow(
      'ks.pValue is a significance level'
    );
  });
});

describe('detectDrift over the columns of a check', () => {
  // Five small windows, the last moved by 0.15 std: its p-value (0.023) is below 0.05 alone, not after Bonferroni
  // over five tests (0.11).
  const windows = [0, 0, 0, 0, 0.15].map((shift, i) => normal(300, shift, 1, 101 + i));
  const inputs = windows.map((current, i) => numeric(current, `x${i}`));

  it('corrects the tests for their number (Bonferroni by default)', () => {
    const check = detectDrift(inputs);
    const pValues = check.columns.map((c) => statistics(c).ks!.pValue);
    check.columns.forEach((c, i) => {
      expect(statistics(c).ks!.adjustedPValue).toBeCloseTo(Math.min(1, pValues[i]! * 5), 12);
      expect(c.drifted).toBe(statistics(c).ks!.adjustedPValue < 0.05);
    });
    const alone = detectColumnDrift(inputs[4]!);
    expect(statistics(alone).ks!.adjustedPValue).toBe(statistics(alone).ks!.pValue);
    expect(pValues[4]).toBeGreaterThan(0.01);
    expect(pValues[4]).toBeLessThan(0.05);
    expect(alone.drifted).toBe(true);
    expect(check.columns[4]!.drifted).toBe(false);
    expect(check.drifted).toBe(0);
  });

  it('counts drifted columns and takes the worst severity; Benjamini-Hochberg on request', () => {
    const large = normal(200_000, 0.5, 1, 200);
    const check = detectDrift([...inputs, numeric(large, 'big')], {
      thresholds: { ks: { correction: 'benjamini-hochberg' } },
    });
    expect(check.columns.map((c) => c.method)).toEqual(['ks', 'ks', 'ks', 'ks', 'ks', 'distance']);
    expect(check.severity).toBe('alert');
    expect(check.drifted).toBe(check.columns.filter((c) => c.drifted).length);
    expect(check.share).toBeCloseTo(check.drifted / 6, 12);
  });
});
