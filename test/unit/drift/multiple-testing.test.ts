import { describe, expect, it } from 'vitest';
import { adjustPValues, benjaminiHochberg, bonferroni } from '../../../lib/drift/index.js';
import { cases, expectClose } from './cases.js';

describe('multiple-testing corrections', () => {
  it.each(cases.corrections.map((c, i) => [i, c] as const))(
    'case %i: Bonferroni and scipy false_discovery_control',
    (_, c) => {
      const b = bonferroni(c.pValues);
      const bh = benjaminiHochberg(c.pValues);
      c.bonferroni.forEach((expected, i) => expectClose(b[i]!, expected, 1e-12));
      c.benjaminiHochberg.forEach((expected, i) => expectClose(bh[i]!, expected, 1e-12));
    }
  );

  it('leaves NaN out of the family', () => {
    expect(Array.from(bonferroni([0.01, NaN, 0.02]))).toEqual([0.02, NaN, 0.04]);
    expect(Array.from(benjaminiHochberg([0.01, NaN, 0.02]))).toEqual([0.02, NaN, 0.02]);
  });

  it("'none' returns the p-values unchanged", () => {
    expect(Array.from(adjustPValues([0.3, 0.01], 'none'))).toEqual([0.3, 0.01]);
  });
});
