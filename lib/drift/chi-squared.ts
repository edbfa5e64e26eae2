/**
 * Pearson's chi-squared test of homogeneity between the reference and current category counts, defined as
 * scipy.stats.chi2_contingency(table, correction=False) on the 2×k table [reference; current]: expected counts are
 * row total × column total / grand total, dof = k - 1, p = chi2.sf(statistic, dof).
 *
 * A category never seen in training is simply one more column of the table (reference count 0, expected count
 * positive because the column total is), so it needs no epsilon or smoothing and pushes the statistic up the way a
 * new category should. Columns that are zero on both sides (a reference category absent from the window) are dropped
 * first: they carry no information, and scipy refuses a table with a zero expected count.
 */
import { chiSquaredSf } from './special.js';

/** Category → count, e.g. the `top` of a string column's statistics or counts over a serving window. */
export type CategoryCounts = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

export interface ChiSquaredResult {
  statistic: number;
  /** Categories kept (non-zero on at least one side) minus 1. */
  dof: number;
  pValue: number;
}

export interface AlignedCategories {
  /** Reference categories in their order, then unseen ones in the current window's order. */
  categories: string[];
  reference: Float64Array;
  current: Float64Array;
  /** Categories with a positive current count and no reference count. */
  unseen: string[];
}

function entries(counts: CategoryCounts): Iterable<[string, number]> {
  return counts instanceof Map ? counts.entries() : Object.entries(counts);
}

/** The two count maps as aligned arrays over the union of categories. */
export function alignCategories(reference: CategoryCounts, current: CategoryCounts): AlignedCategories {
  const index = new Map<string, number>();
  const referenceCounts: number[] = [];
  const currentCounts: number[] = [];
  const check = (side: string, category: string, count: number) => {
    if (!(count >= 0) || count === Infinity) {
      throw new RangeError(`${side} count of ${JSON.stringify(category)} must be finite and >= 0, got ${count}`);
    }
  };
  for (const [category, count] of entries(reference)) {
    check('reference', category, count);
    index.set(category, referenceCounts.length);
    referenceCounts.push(count);
    currentCounts.push(0);
  }
  for (const [category, count] of entries(current)) {
    check('current', category, count);
    const at = index.get(category);
    if (at !== undefined) {
      currentCounts[at]! += count;
    } else {
      index.set(category, referenceCounts.length);
      referenceCounts.push(0);
      currentCounts.push(count);
    }
  }
  const categories = [...index.keys()];
  const unseen = categories.filter((_, i) => referenceCounts[i] === 0 && currentCounts[i]! > 0);
  return {
    categories,
    reference: Float64Array.from(referenceCounts),
    current: Float64Array.from(currentCounts),
    unseen,
  };
}

/** The test on aligned count arrays (index i is the same category on both sides). */
export function chiSquaredContingency(reference: ArrayLike<number>, current: ArrayLike<number>): ChiSquaredResult {
  if (reference.length !== current.length) {
    throw new RangeError(`reference and current have ${reference.length} and ${current.length} categories`);
  }
  let referenceTotal = 0;
  let currentTotal = 0;
  let kept = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const c = current[i]!;
    if (!(r >= 0) || !(c >= 0) || r === Infinity || c === Infinity) {
      throw new RangeError(`counts must be finite and >= 0 (category ${i}: ${r}, ${c})`);
    }
    referenceTotal += r;
    currentTotal += c;
    if (r + c > 0) kept++;
  }
  if (referenceTotal === 0 || currentTotal === 0) {
    throw new RangeError(`the chi-squared test needs counts on both sides (totals ${referenceTotal}, ${currentTotal})`);
  }
  // One category: observed equals expected (scipy's degenerate case).
  if (kept <= 1) return { statistic: 0, dof: 0, pValue: 1 };
  const total = referenceTotal + currentTotal;
  let statistic = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const c = current[i]!;
    const column = r + c;
    if (column === 0) continue;
    const expectedR = (referenceTotal * column) / total;
    const expectedC = (currentTotal * column) / total;
    statistic += ((r - expectedR) * (r - expectedR)) / expectedR + ((c - expectedC) * (c - expectedC)) / expectedC;
  }
  const dof = kept - 1;
  return { statistic, dof, pValue: chiSquaredSf(statistic, dof) };
}

/** The test on category → count maps; reports the categories compared and those never seen in training. */
export function chiSquaredTest(
  reference: CategoryCounts,
  current: CategoryCounts
): ChiSquaredResult & { categories: string[]; unseen: string[] } {
  const aligned = alignCategories(reference, current);
  return {
    ...chiSquaredContingency(aligned.reference, aligned.current),
    categories: aligned.categories,
    unseen: aligned.unseen,
  };
}
