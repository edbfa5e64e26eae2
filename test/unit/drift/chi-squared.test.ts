import { describe, expect, it } from 'vitest';
import { alignCategories, chiSquaredContingency, chiSquaredTest } from '../../../lib/drift/index.js';
import { cases, expectClose } from './cases.js';

describe('chiSquaredTest against scipy.stats.chi2_contingency(correction=False)', () => {
  it.each(cases.chiSquared.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const result = chiSquaredTest(c.reference, c.current);
    expectClose(result.statistic, c.statistic, 1e-9, 'statistic');
    expectClose(result.pValue, c.pValue, 1e-9, 'p-value');
    expect(result.dof).toBe(c.dof);
    expect(result.unseen).toEqual(c.unseen);
  });

  it('takes Maps as well as records', () => {
    const c = cases.chiSquared[2]!;
    const result = chiSquaredTest(new Map(Object.entries(c.reference)), new Map(Object.entries(c.current)));
    expectClose(result.statistic, c.statistic, 1e-9);
  });
});

describe('alignCategories', () => {
  it('keeps reference order, appends unseen categories, and reports them', () => {
    const aligned = alignCategories({ b: 2, a: 1 }, { z: 5, a: 3, y: 0 });
    expect(aligned.categories).toEqual(['b', 'a', 'z', 'y']);
    expect(Array.from(aligned.reference)).toEqual([2, 1, 0, 0]);
    expect(Array.from(aligned.current)).toEqual([0, 3, 5, 0]);
    expect(aligned.unseen).toEqual(['z']);
  });

  it('refuses counts that are not finite and >= 0', () => {
    expect(() => alignCategories({ a: -1 }, {})).toThrow('reference count of "a" must be finite and >= 0, got -1');
    expect(() => alignCategories({}, { a: NaN })).toThrow('current count of "a"');
  });
});

describe('chiSquaredContingency', () => {
  it('needs counts on both sides', () => {
    expect(() => chiSquaredContingency([1, 2], [0, 0])).toThrow('needs counts on both sides (totals 3, 0)');
    expect(() => chiSquaredContingency([1], [1, 2])).toThrow('1 and 2 categories');
  });
});
