import { binOf } from '../data/statistics.js';

export { binOf };
/**
 * The fixed-edge histograms of the serving feed: latencies on log-spaced edges, features and outputs on the training
 * reference's edges. Pure code; the recorder's hot loops call `binOf` once per value.
 */

/**
 * Latency bins grow by this factor: a quantile read back from a histogram of spread-out latencies is within about
 * half a bin (~12%) of the exact one; when many requests took the same time it can be off by up to one bin (25%).
 */
export const LATENCY_FACTOR = 1.25;
export const LATENCY_MIN_MS = 0.05;

/**
 * Edges of the latency histogram in milliseconds: 0.05 ms × 1.25^i up to ~32.6 s (61 edges, 60 bins). Faster answers
 * fall into the first bin and slower ones into the last. Rounded to 6 significant digits so they read well as JSON.
 */
export const LATENCY_EDGES: readonly number[] = Object.freeze(
  Array.from({ length: 61 }, (_, i) => Number((LATENCY_MIN_MS * LATENCY_FACTOR ** i).toPrecision(6)))
);

/**
 * Quantile `q` (0..1) of the values a histogram counted, interpolated within the bin where it falls: geometrically on
 * log-spaced edges (`geometric`, all edges > 0), linearly otherwise. `null` when the histogram is empty.
 */
export function histogramQuantile(
  edges: ArrayLike<number>,
  counts: ArrayLike<number>,
  q: number,
  geometric = false
): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let below = 0;
  let bin = 0;
  // The first non-empty bin whose cumulative count reaches the rank.
  for (; bin < counts.length; bin++) {
    const c = counts[bin]!;
    if (c > 0 && below + c >= rank) break;
    below += c;
  }
  if (bin >= counts.length) bin = counts.length - 1;
  const c = counts[bin]!;
  const fraction = c > 0 ? Math.min(Math.max((rank - below) / c, 0), 1) : 1;
  const lo = edges[bin]!;
  const hi = edges[bin + 1]!;
  if (geometric && lo > 0 && hi > 0) return lo * (hi / lo) ** fraction;
  return lo + (hi - lo) * fraction;
}

function sameEdges(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Adds the counts of a histogram on `fromEdges` into `counts` on `edges`. Equal edges add bin by bin; other edges
 * (a histogram written by another server build or package) put each bin's count where its midpoint falls.
 */
export function addCounts(
  edges: readonly number[],
  counts: number[],
  fromEdges: readonly number[],
  fromCounts: readonly number[]
): void {
  if (edges.length < 2) return;
  if (sameEdges(edges, fromEdges)) {
    for (let i = 0; i < counts.length; i++) counts[i]! += fromCounts[i] ?? 0;
    return;
  }
  for (let i = 0; i < fromCounts.length; i++) {
    const c = fromCounts[i]!;
    if (!c) continue;
    const lo = fromEdges[i] ?? 0;
    const hi = fromEdges[i + 1] ?? lo;
    counts[binOf(edges, (lo + hi) / 2)]! += c;
  }
}
