// The scipy/numpy reference values in test/fixtures/drift/cases.json (made by make-fixtures.py there), typed.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

type Values = (number | null)[];

export interface Cases {
  generatedWith: { numpy: string; scipy: string; psiEpsilon: number };
  histograms: { name: string; values: Values; edges: number[]; counts: number[]; missing: number }[];
  equalWidthEdges: { name: string; values: Values; bins: number; edges: number[] }[];
  binned: {
    name: string;
    reference: number[];
    current: number[];
    psi: number;
    jensenShannon: number;
    jensenShannonNatural: number;
  }[];
  ks: {
    name: string;
    a: Values;
    b: Values;
    asymp: { statistic: number; pValue: number | null; location: number; sign: number };
    exact: { statistic: number; pValue: number; method: 'asymp' | 'exact' };
  }[];
  /** [n, x, kstwo.sf(x, n), kstwo.cdf(x, n)] */
  kstwo: [number, number, number, number][];
  /** [n, x, smirnov(n, x)] */
  smirnov: [number, number, number][];
  /** [a, x, gammaincc(a, x), gammainc(a, x), gammaln(a)] */
  gamma: [number, number, number, number, number][];
  /** [x, dof, chi2.sf(x, dof)] */
  chi2: [number, number, number][];
  chiSquared: {
    name: string;
    reference: Record<string, number>;
    current: Record<string, number>;
    statistic: number;
    dof: number;
    pValue: number;
    unseen: string[];
  }[];
  wasserstein: { name: string; u: Values; v: Values; distance: number }[];
  wassersteinHistograms: { name: string; edges: number[]; reference: number[]; current: number[]; distance: number }[];
  corrections: { pValues: number[]; bonferroni: number[]; benjaminiHochberg: number[] }[];
}

export const cases = JSON.parse(
  readFileSync(new URL('../../fixtures/drift/cases.json', import.meta.url), 'utf8')
) as Cases;

/** JSON null stands for NaN. */
export const f64 = (values: Values): Float64Array => Float64Array.from(values, (v) => (v === null ? Number.NaN : v));

/** |actual - expected| <= tolerance, relative to |expected| when that is above 1. */
export function expectClose(actual: number, expected: number, tolerance = 1e-6, what = ''): void {
  const error = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
  if (!(error <= tolerance)) {
    expect.fail(`${what}: got ${actual}, scipy ${expected} (error ${error.toExponential(2)} > ${tolerance})`);
  }
}
