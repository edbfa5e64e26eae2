/**
 * Jensen-Shannon distance between a reference and a current histogram on the same bins, as
 * scipy.spatial.distance.jensenshannon(p, q, base): sqrt((KL(p || m) + KL(q || m)) / 2) with m = (p + q) / 2, in
 * units of log `base`. With base 2 (the default) it lies in [0, 1]. Unlike PSI it needs no epsilon for empty bins:
 * m is positive wherever p or q is, and 0 ln 0 is 0. (Evidently smooths zero proportions before computing it as
 * it does for PSI; on histograms with empty bins its values differ from these by a few 1e-3.)
 */
import { checkSameBins, histogramTotal } from './psi.js';

export function jensenShannonDistance(reference: ArrayLike<number>, current: ArrayLike<number>, base = 2): number {
  if (!(base > 0) || base === 1) throw new RangeError(`base must be positive and not 1, got ${base}`);
  checkSameBins(reference, current);
  const referenceTotal = histogramTotal(reference, 'reference');
  const currentTotal = histogramTotal(current, 'current');
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = reference[i]! / referenceTotal;
    const q = current[i]! / currentTotal;
    const m = (p + q) / 2;
    if (p > 0) sum += p * Math.log(p / m);
    if (q > 0) sum += q * Math.log(q / m);
  }
  const divergence = sum / Math.log(base) / 2;
  // Rounding can leave a tiny negative divergence for identical histograms.
  return divergence > 0 ? Math.sqrt(divergence) : 0;
}
