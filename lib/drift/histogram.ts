import { binOf } from '../data/statistics.js';
/**
 * Histograms for the binned drift measures (PSI, Jensen-Shannon, binned Wasserstein): the current window is counted
 * on the reference (training) edges, so both histograms share bins.
 *
 * Bin i counts edges[i] <= v < edges[i + 1]; the last bin also holds v = edges[last] (numpy.histogram's rule).
 * Values outside the reference range are clamped: below the first edge into bin 0, above the last edge (+Infinity
 * included) into the last bin. Serving traffic routinely falls outside the training range, and dropping those values
 * would hide exactly the shift a drift check is for; clamping keeps them, in the outermost bins. NaN is no value
 * at all: it is counted in `missing` and in no bin.
 */

export interface BinCounts {
  /** One count per bin (edges.length - 1). */
  counts: Float64Array;
  /** NaN values seen, in no bin. */
  missing: number;
}

/**
 * `bins` equal-width edges from the smallest to the largest finite value, exactly as
 * numpy.histogram_bin_edges(values, bins) computes them (linspace; a constant column is widened to v ± 0.5 so that
 * its bins have width). NaN and ±Infinity do not move the edges.
 */
export function equalWidthEdges(values: Float64Array, bins = 20): Float64Array {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) throw new RangeError('equal-width edges need at least one finite value');
  if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  const edges = new Float64Array(bins + 1);
  const step = (max - min) / bins;
  for (let i = 0; i < bins; i++) edges[i] = step === 0 ? (i / bins) * (max - min) + min : i * step + min;
  edges[bins] = max;
  return edges;
}

/** Throws unless edges are finite and ascending (equal neighbours allowed: an empty bin) and make at least one bin. */
export function checkEdges(edges: ArrayLike<number>): void {
  if (edges.length < 2) throw new RangeError(`a histogram needs at least 2 edges, got ${edges.length}`);
  for (let i = 0; i < edges.length; i++) {
    if (!Number.isFinite(edges[i]) || (i > 0 && edges[i]! < edges[i - 1]!)) {
      throw new RangeError(`histogram edges must be finite and ascending (edge ${i}: ${edges[i]})`);
    }
  }
}

/**
 * Counts `values` on `edges` (see the module comment for the bin rule, the clamping and NaN). Pass `into` (a previous
 * result's counts) to accumulate a window that arrives in chunks.
 */
export function histogramOnEdges(values: Float64Array, edges: ArrayLike<number>, into?: Float64Array): BinCounts {
  checkEdges(edges);
  const bins = edges.length - 1;
  const e = Float64Array.from(edges);
  const counts = into ?? new Float64Array(bins);
  if (counts.length !== bins) throw new RangeError(`into has ${counts.length} bins, the edges make ${bins}`);
  const first = e[0]!;
  const width = (e[bins]! - first) / bins;
  let uniform = width > 0 && Number.isFinite(width);
  for (let i = 1; uniform && i < bins; i++) uniform = Math.abs(e[i]! - (first + i * width)) <= width * 1e-6;
  let missing = 0;
  const last = bins - 1;
  if (uniform) {
    // Guess the bin arithmetically, then settle it against the edges themselves, so that values on an edge land
    // exactly where the binary search would put them.
    const scale = 1 / width;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== v) {
        missing++;
        continue;
      }
      const x = (v - first) * scale;
      let b = x < 0 ? 0 : x >= bins ? last : x | 0;
      while (b > 0 && v < e[b]!) b--;
      while (b < last && v >= e[b + 1]!) b++;
      counts[b]!++;
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== v) {
        missing++;
        continue;
      }
      counts[binOf(e, v)]!++;
    }
  }
  return { counts, missing };
}
