import { deriveSeed, mulberry32, sampleIndices } from './random.js';
import { MlInputError } from './types.js';
import type { FeatureMatrix } from './types.js';

/** Bin edges are computed from at most this many rows, sampled with the training seed. */
export const BINNING_SAMPLE_ROWS = 200_000;

const BINNING_STREAM = 0x62696e73;

/**
 * The midpoint of two consecutive distinct values a < b, as a threshold t with a <= t < b: values <= t go left.
 * Halving first keeps huge magnitudes finite; for adjacent doubles the midpoint rounds onto b, so fall back to a.
 */
function between(a: number, b: number): number {
  const mid = a / 2 + b / 2;
  return mid >= a && mid < b ? mid : a;
}

/**
 * Upper edges of quantile bins for one feature from its sorted non-missing values: at most `maxBins` bins, so at
 * most `maxBins - 1` edges; a value v falls in the first bin b with v <= edges[b], or in the last bin. With no more
 * distinct values than bins, every distinct value gets its own bin. Otherwise bins are filled greedily towards
 * equal counts, and a value heavier than a bin's share gets a bin of its own.
 */
export function quantileEdges(sorted: Float64Array, maxBins: number): number[] {
  const n = sorted.length;
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = sorted[i]!;
    if (distinct.length > 0 && distinct[distinct.length - 1] === v) counts[counts.length - 1]!++;
    else {
      distinct.push(v);
      counts.push(1);
    }
  }
  const edges: number[] = [];
  if (distinct.length <= maxBins) {
    for (let j = 0; j + 1 < distinct.length; j++) edges.push(between(distinct[j]!, distinct[j + 1]!));
    return edges;
  }
  let remaining = n;
  let inBin = 0;
  const target = (): number => remaining / (maxBins - edges.length);
  for (let j = 0; j + 1 < distinct.length && edges.length < maxBins - 1; j++) {
    const c = counts[j]!;
    if (inBin > 0 && c >= target()) {
      edges.push(between(distinct[j - 1]!, distinct[j]!));
      remaining -= inBin;
      inBin = 0;
      if (edges.length >= maxBins - 1) break;
    }
    inBin += c;
    if (inBin >= target()) {
      edges.push(between(distinct[j]!, distinct[j + 1]!));
      remaining -= inBin;
      inBin = 0;
    }
  }
  return edges;
}

/**
 * The bin of a non-missing value, the first b with value <= edges[b] (else edges.length), from at most 254 edges
 * padded with +Infinity to 255 entries: a fixed-step search whose steps are arithmetic, not branches, because
 * mispredicted branches dominated binning a million rows.
 */
function binOfPadded(padded: Float64Array, value: number): number {
  let lo = 0;
  for (let half = 128; half > 0; half >>= 1) lo += half & -(padded[lo + half - 1]! < value);
  return lo;
}

/**
 * Bin edges for every feature, from the training rows (a seeded sample of BINNING_SAMPLE_ROWS when there are more).
 * Rejects ±Infinity: missing is NaN, and an infinite value has no place between two edges.
 */
export function computeBinEdges(x: FeatureMatrix, maxBins: number, seed: number): number[][] {
  const sample =
    x.rows > BINNING_SAMPLE_ROWS
      ? sampleIndices(x.rows, BINNING_SAMPLE_ROWS, mulberry32(deriveSeed(seed, BINNING_STREAM)))
      : undefined;
  const values = new Float64Array(sample ? sample.length : x.rows);
  return x.columns.map((column, f) => {
    for (let i = 0; i < column.length; i++) {
      const v = column[i]!;
      if (v === Infinity || v === -Infinity) {
        throw new MlInputError(`feature ${x.names[f]} row ${i} is ${v}; use NaN for missing values`, x.names[f]);
      }
    }
    let m = 0;
    if (sample) {
      for (let i = 0; i < sample.length; i++) {
        const v = column[sample[i]!]!;
        if (v === v) values[m++] = v;
      }
    } else {
      for (let i = 0; i < column.length; i++) {
        const v = column[i]!;
        if (v === v) values[m++] = v;
      }
    }
    return quantileEdges(values.subarray(0, m).sort(), maxBins);
  });
}

/**
 * Bin codes per feature: 0..edges.length for values, edges.length + 1 for NaN (so at most 256 codes, one byte).
 */
export function binMatrix(x: FeatureMatrix, binEdges: number[][]): Uint8Array[] {
  return x.columns.map((column, f) => {
    const edges = binEdges[f]!;
    if (edges.length > 254) throw new MlInputError(`feature ${x.names[f]} has ${edges.length + 1} bins, at most 255`);
    const padded = new Float64Array(255).fill(Infinity);
    padded.set(edges);
    const nanBin = edges.length + 1;
    const out = new Uint8Array(x.rows);
    for (let i = 0; i < x.rows; i++) {
      const v = column[i]!;
      out[i] = v === v ? binOfPadded(padded, v) : nanBin;
    }
    return out;
  });
}
