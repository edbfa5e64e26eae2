/**
 * Multiple-testing corrections for the p-values of one drift check (one test per column): with 20 columns tested
 * at 0.05, one false alarm per check is expected without a correction. Both return adjusted p-values, to be compared
 * with the unadjusted level. NaN p-values (no test possible) stay NaN and do not count as tests.
 */

export type Correction = 'bonferroni' | 'benjamini-hochberg' | 'none';

/** min(1, p m): controls the family-wise error rate. */
export function bonferroni(pValues: ArrayLike<number>): Float64Array {
  let m = 0;
  for (let i = 0; i < pValues.length; i++) if (!Number.isNaN(pValues[i])) m++;
  const adjusted = new Float64Array(pValues.length);
  for (let i = 0; i < pValues.length; i++) adjusted[i] = Math.min(1, pValues[i]! * m);
  return adjusted;
}

/**
 * Benjamini-Hochberg step-up adjusted p-values (scipy.stats.false_discovery_control(ps, method='bh')): controls the
 * false discovery rate, less conservative than Bonferroni when several columns drift at once.
 */
export function benjaminiHochberg(pValues: ArrayLike<number>): Float64Array {
  const adjusted = new Float64Array(pValues.length).fill(Number.NaN);
  const order: number[] = [];
  for (let i = 0; i < pValues.length; i++) {
    const p = pValues[i]!;
    if (Number.isNaN(p)) continue;
    if (p < 0 || p > 1) throw new RangeError(`p-values must be in [0, 1] (index ${i}: ${p})`);
    order.push(i);
  }
  order.sort((a, b) => pValues[a]! - pValues[b]!);
  const m = order.length;
  let running = 1;
  for (let rank = m; rank >= 1; rank--) {
    const index = order[rank - 1]!;
    running = Math.min(running, (pValues[index]! * m) / rank);
    adjusted[index] = running;
  }
  return adjusted;
}

export function adjustPValues(pValues: ArrayLike<number>, method: Correction): Float64Array {
  switch (method) {
    case 'bonferroni':
      return bonferroni(pValues);
    case 'benjamini-hochberg':
      return benjaminiHochberg(pValues);
    default:
      return Float64Array.from(pValues);
  }
}
