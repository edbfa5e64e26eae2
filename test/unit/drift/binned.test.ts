import { describe, expect, it } from 'vitest';
import {
  PSI_EPSILON,
  equalWidthEdges,
  histogramOnEdges,
  jensenShannonDistance,
  psi,
  wassersteinFromHistograms,
} from '../../../lib/drift/index.js';
import { cases, expectClose, f64 } from './cases.js';

// Acceptance asks for 1e-6 against scipy; these hold to 1e-9.
const TOLERANCE = 1e-9;

describe('histogramOnEdges', () => {
  it.each(cases.histograms.map((c) => [c.name, c] as const))('%s: numpy searchsorted rule with clamping', (_, c) => {
    const { counts, missing } = histogramOnEdges(f64(c.values), c.edges);
    expect(Array.from(counts)).toEqual(c.counts);
    expect(missing).toBe(c.missing);
  });

  it('accumulates a window that arrives in chunks', () => {
    const c = cases.histograms[1]!;
    const values = f64(c.values);
    const first = histogramOnEdges(values.subarray(0, 123), c.edges);
    const second = histogramOnEdges(values.subarray(123), c.edges, first.counts);
    expect(Array.from(second.counts)).toEqual(c.counts);
    expect(first.missing + second.missing).toBe(c.missing);
  });

  it('clamps ±Infinity into the outermost bins', () => {
    const { counts, missing } = histogramOnEdges(Float64Array.of(-Infinity, Infinity, Infinity, NaN), [0, 1, 2]);
    expect(Array.from(counts)).toEqual([1, 2]);
    expect(missing).toBe(1);
  });

  it('refuses edges that are not finite and ascending', () => {
    expect(() => histogramOnEdges(Float64Array.of(1), [0])).toThrow('at least 2 edges');
    expect(() => histogramOnEdges(Float64Array.of(1), [0, 2, 1])).toThrow('finite and ascending (edge 2: 1)');
    expect(() => histogramOnEdges(Float64Array.of(1), [0, NaN])).toThrow('finite and ascending');
  });
});

describe('equalWidthEdges', () => {
  it.each(cases.equalWidthEdges.map((c) => [c.name, c] as const))('%s: numpy.histogram_bin_edges', (_, c) => {
    expect(Array.from(equalWidthEdges(f64(c.values), c.bins))).toEqual(c.edges);
  });

  it('needs a finite value', () => {
    expect(() => equalWidthEdges(Float64Array.of(NaN, Infinity))).toThrow('at least one finite value');
  });
});

describe('psi and Jensen-Shannon distance', () => {
  it('replaces empty proportions by 0.0001, as Evidently does', () => {
    expect(PSI_EPSILON).toBe(cases.generatedWith.psiEpsilon);
    expect(PSI_EPSILON).toBe(1e-4);
  });

  it.each(cases.binned.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expectClose(psi(c.reference, c.current), c.psi, TOLERANCE, 'psi');
    expectClose(jensenShannonDistance(c.reference, c.current), c.jensenShannon, TOLERANCE, 'js base 2');
    expectClose(jensenShannonDistance(c.reference, c.current, Math.E), c.jensenShannonNatural, TOLERANCE, 'js base e');
  });

  it('is 0 for identical and proportional histograms, and accepts typed arrays', () => {
    expect(psi(Float64Array.of(1, 2, 3), Float64Array.of(2, 4, 6))).toBeCloseTo(0, 15);
    expect(jensenShannonDistance([1, 2, 0], [1, 2, 0])).toBe(0);
  });

  it('refuses histograms it cannot compare', () => {
    expect(() => psi([1, 2], [1, 2, 3])).toThrow('same number of bins (2 and 3)');
    expect(() => psi([0, 0], [1, 2])).toThrow('reference histogram is empty');
    expect(() => jensenShannonDistance([1, 2], [0, 0])).toThrow('current histogram is empty');
    expect(() => psi([1, -2], [1, 2])).toThrow('reference counts must be finite and >= 0 (bin 1: -2)');
    expect(() => jensenShannonDistance([1], [1], 1)).toThrow('base must be positive and not 1');
  });
});

describe('wassersteinFromHistograms', () => {
  it.each(cases.wassersteinHistograms.map((c) => [c.name, c] as const))('%s: scipy on bin midpoints', (_, c) => {
    expectClose(wassersteinFromHistograms(c.edges, c.reference, c.current), c.distance, TOLERANCE);
  });

  it('checks that the edges match the histograms', () => {
    expect(() => wassersteinFromHistograms([0, 1, 2], [1, 2, 3], [1, 2, 3])).toThrow('3 edges make 2 bins');
  });
});
