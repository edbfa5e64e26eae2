/**
 * Population stability index between a reference and a current histogram on the same bins:
 *   PSI = Σ (q_i - p_i) ln(q_i / p_i),  p = reference proportions, q = current proportions.
 * An empty bin would make the logarithm infinite. Following Evidently, a zero proportion is replaced by
 * PSI_EPSILON = 0.0001 (on either side, without renormalising the others), which bounds the contribution of a bin
 * that is empty on one side at about q ln(q / 0.0001). Proportions are over the counted values only (NaN, counted
 * apart by histogramOnEdges, is not part of them). Conventional reading: < 0.1 stable, 0.1-0.25 some shift,
 * >= 0.25 major shift.
 */

export const PSI_EPSILON = 1e-4;

/** Sum of counts after checking they are finite and non-negative; `side` names the argument in errors. */
export function histogramTotal(counts: ArrayLike<number>, side: string): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (!(c >= 0) || c === Infinity) throw new RangeError(`${side} counts must be finite and >= 0 (bin ${i}: ${c})`);
    total += c;
  }
  if (total === 0) throw new RangeError(`${side} histogram is empty (all counts are 0)`);
  return total;
}

export function checkSameBins(reference: ArrayLike<number>, current: ArrayLike<number>): void {
  if (reference.length !== current.length || reference.length === 0) {
    throw new RangeError(
      `reference and current histograms must have the same number of bins (${reference.length} and ${current.length})`
    );
  }
}

/** PSI of `current` against `reference` (counts per bin, same bins). */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  checkSameBins(reference, current);
  const referenceTotal = histogramTotal(reference, 'reference');
  const currentTotal = histogramTotal(current, 'current');
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = reference[i]! / referenceTotal || epsilon;
    const q = current[i]! / currentTotal || epsilon;
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}
