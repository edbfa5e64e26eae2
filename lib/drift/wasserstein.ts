/**
 * First Wasserstein (earth mover's) distance between two one-dimensional distributions, as
 * scipy.stats.wasserstein_distance(u, v): the area between the two CDFs, ∫ |F_u - F_v| dx, in the units of the
 * values.
 */
import { checkEdges } from './histogram.js';
import { checkSameBins, histogramTotal } from './psi.js';
import { sortedWithoutNaN } from './sort.js';

/** Between two raw samples; NaN values are left out, the inputs are not modified. */
export function wassersteinDistance(u: Float64Array, v: Float64Array): number {
  return wassersteinDistanceSorted(sortedWithoutNaN(u), sortedWithoutNaN(v));
}

/** Between two samples already sorted ascending and free of NaN (e.g. from sortedWithoutNaN, shared with KS). */
export function wassersteinDistanceSorted(u: Float64Array, v: Float64Array): number {
  const n1 = u.length;
  const n2 = v.length;
  if (n1 === 0 || n2 === 0) {
    throw new RangeError(`the Wasserstein distance needs values on both sides (got ${n1} and ${n2})`);
  }
  // Merge the two sorted samples; between consecutive values both CDFs are flat at (consumed so far) / n.
  let i = 0;
  let j = 0;
  let previous = u[0]! < v[0]! ? u[0]! : v[0]!;
  let sum = 0;
  while (i < n1 && j < n2) {
    const a = u[i]!;
    const b = v[j]!;
    const next = a <= b ? a : b;
    if (next !== previous) {
      const gap = i / n1 - j / n2;
      sum += (gap < 0 ? -gap : gap) * (next - previous);
      previous = next;
    }
    if (a <= b) i++;
    else j++;
  }
  // One sample is used up: its CDF is 1 from here on.
  for (; i < n1; i++) {
    const next = u[i]!;
    if (next !== previous) {
      sum += (1 - i / n1) * (next - previous);
      previous = next;
    }
  }
  for (; j < n2; j++) {
    const next = v[j]!;
    if (next !== previous) {
      sum += (1 - j / n2) * (next - previous);
      previous = next;
    }
  }
  return sum;
}

/**
 * From two histograms on the same edges, placing each bin's count at the bin's midpoint: equal to
 * scipy.stats.wasserstein_distance(mid, mid, u_weights=reference, v_weights=current). Cheap, but the binning
 * limits it: mass is only moved between midpoints, so a shift within one bin is invisible and the error is up to
 * about half a bin width. Clamped outliers (see histogramOnEdges) count at the outermost midpoints.
 */
export function wassersteinFromHistograms(
  edges: ArrayLike<number>,
  reference: ArrayLike<number>,
  current: ArrayLike<number>
): number {
  checkEdges(edges);
  checkSameBins(reference, current);
  if (reference.length !== edges.length - 1) {
    throw new RangeError(
      `${edges.length} edges make ${edges.length - 1} bins, the histograms have ${reference.length}`
    );
  }
  const referenceTotal = histogramTotal(reference, 'reference');
  const currentTotal = histogramTotal(current, 'current');
  let p = 0;
  let q = 0;
  let sum = 0;
  for (let i = 0; i < reference.length - 1; i++) {
    p += reference[i]!;
    q += current[i]!;
    const gap = p / referenceTotal - q / currentTotal;
    const width = (edges[i + 2]! - edges[i]!) / 2; // midpoint i to midpoint i + 1
    sum += (gap < 0 ? -gap : gap) * width;
  }
  return sum;
}
