import type { BooleanColumn, Column, NumberColumn, StringColumn, Table, TimestampColumn } from './table.js';

/** Fixed-edge histogram: bin i counts edges[i] <= v < edges[i + 1]; the last bin also holds v = edges[last]. */
export interface Histogram {
  /** Ascending, one more than `counts`. */
  edges: number[];
  counts: number[];
  /** NaN and ±Infinity values: counted here, in no bin. */
  nonFinite: number;
}

export const QUANTILES = { p1: 0.01, p5: 0.05, p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95, p99: 0.99 } as const;
export type Quantiles = Record<keyof typeof QUANTILES, number>;

interface BaseStatistics {
  /** Rows, missing included. */
  count: number;
  missing: number;
}

/**
 * Figures over the finite values only (NaN and ±Infinity are counted, then left out); `null` when there are none.
 * Timestamps are in milliseconds since the epoch.
 */
export interface NumericStatistics extends BaseStatistics {
  type: 'number' | 'timestamp';
  nan: number;
  positiveInfinity: number;
  negativeInfinity: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Population standard deviation (divides by n, not n - 1). */
  std: number | null;
  /** Linear interpolation between closest ranks (numpy's default, R type 7) over the sorted values. */
  quantiles: Quantiles | null;
  /** `bins` equal-width bins from min to max. */
  histogram: Histogram | null;
}

export interface StringStatistics extends BaseStatistics {
  type: 'string';
  /** Distinct present values. */
  distinct: number;
  /** Most frequent values first; ties in code-unit order of the value. */
  top: { value: string; count: number }[];
}

export interface BooleanStatistics extends BaseStatistics {
  type: 'boolean';
  true: number;
  false: number;
}

export type ColumnStatistics = NumericStatistics | StringStatistics | BooleanStatistics;

export interface TableStatistics {
  rowCount: number;
  /** In table column order. */
  columns: ({ name: string } & ColumnStatistics)[];
}

export interface StatisticsOptions {
  /** Histogram bins (edges = bins + 1). @default 20 */
  bins?: number;
  /** Most frequent string values to keep. @default 20 */
  top?: number;
}

/**
 * Summary of one column; deterministic and JSON-safe (no NaN or Infinity anywhere: absent figures are null), so it can
 * go into a manifest and be compared byte for byte.
 */
export function columnStatistics(column: Column, options: StatisticsOptions = {}): ColumnStatistics {
  const { bins = 20, top = 20 } = options;
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  switch (column.type) {
    case 'string':
      return stringStatistics(column, top);
    case 'boolean':
      return booleanStatistics(column);
    default:
      return numericStatistics(column, bins);
  }
}

export function tableStatistics(table: Table, options: StatisticsOptions = {}): TableStatistics {
  return {
    rowCount: table.rowCount,
    columns: table.names.map((name) => ({ name, ...columnStatistics(table.columns[name]!, options) })),
  };
}

function numericStatistics(column: NumberColumn | TimestampColumn, bins: number): NumericStatistics {
  const { values, missing } = column;
  const n = values.length;
  const finite = new Float64Array(n);
  let k = 0;
  let missingCount = 0;
  let nan = 0;
  let positiveInfinity = 0;
  let negativeInfinity = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (missing[i] === 1) {
      missingCount++;
      continue;
    }
    const v = values[i]!;
    if (v - v === 0) {
      finite[k++] = v;
      sum += v;
    } else if (v !== v) nan++;
    else if (v > 0) positiveInfinity++;
    else negativeInfinity++;
  }
  const base = { type: column.type, count: n, missing: missingCount, nan, positiveInfinity, negativeInfinity };
  if (k === 0) {
    return { ...base, min: null, max: null, mean: null, std: null, quantiles: null, histogram: null };
  }

  const sorted = finite.subarray(0, k).sort();
  const min = sorted[0]!;
  const max = sorted[k - 1]!;
  let mean = sum / k;
  if (!Number.isFinite(mean)) {
    // The sum overflowed: average scaled values instead.
    mean = 0;
    for (let i = 0; i < k; i++) mean += sorted[i]! / k;
  }
  let squares = 0;
  for (let i = 0; i < k; i++) {
    const d = sorted[i]! - mean;
    squares += d * d;
  }
  const quantiles = {} as Quantiles;
  for (const [key, p] of Object.entries(QUANTILES) as [keyof Quantiles, number][]) {
    quantiles[key] = quantileOfSorted(sorted, p);
  }
  const edges = equalWidthEdges(min, max, bins);
  const counts = new Array<number>(bins).fill(0);
  // Sorted values: each bin's count is the distance between the first positions at or above consecutive edges.
  let previous = 0;
  for (let b = 1; b < bins; b++) {
    const position = lowerBound(sorted, edges[b]!);
    counts[b - 1] = position - previous;
    previous = position;
  }
  counts[bins - 1] = k - previous;

  return {
    ...base,
    min,
    max,
    mean: orNull(mean),
    std: orNull(Math.sqrt(squares / k)),
    quantiles,
    histogram: { edges, counts, nonFinite: nan + positiveInfinity + negativeInfinity },
  };
}

/** Quantile `p` of ascending values by linear interpolation between closest ranks. */
export function quantileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  if (lo + 1 >= sorted.length) return a;
  const b = sorted[lo + 1]!;
  return a === b ? a : a + (h - lo) * (b - a);
}

/** `bins + 1` edges from min to max; the last edge is exactly max. Equal min and max give equal edges. */
export function equalWidthEdges(min: number, max: number, bins: number): number[] {
  const width = max - min;
  const edges = new Array<number>(bins + 1);
  for (let i = 0; i <= bins; i++) {
    const t = i / bins;
    // An overflowing width (|min|, |max| near Number.MAX_VALUE) interpolates instead of adding.
    edges[i] = Number.isFinite(width) ? min + t * width : min * (1 - t) + max * t;
  }
  edges[bins] = max;
  return edges;
}

/**
 * Counts a column on given (reference) edges, e.g. a training set's, for drift checks: values below the first edge
 * go to the first bin, values above the last edge to the last bin. Missing values are skipped; NaN and ±Infinity are
 * counted in `nonFinite` only.
 */
export function histogramOn(column: NumberColumn | TimestampColumn, edges: readonly number[]): Histogram {
  const bins = edges.length - 1;
  if (bins < 1) throw new RangeError(`a histogram needs at least 2 edges, got ${edges.length}`);
  for (let i = 0; i < edges.length; i++) {
    if (!Number.isFinite(edges[i]) || (i > 0 && edges[i]! < edges[i - 1]!)) {
      throw new RangeError(`histogram edges must be finite and ascending (edge ${i}: ${edges[i]})`);
    }
  }
  const e = Float64Array.from(edges);
  const counts = new Float64Array(bins);
  let nonFinite = 0;
  const { values, missing } = column;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) continue;
    const v = values[i]!;
    if (v - v !== 0) {
      nonFinite++;
      continue;
    }
    counts[binOf(e, v)]!++;
  }
  return { edges: [...edges], counts: Array.from(counts), nonFinite };
}

function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function stringStatistics(column: StringColumn, top: number): StringStatistics {
  const { codes, dictionary } = column;
  const counts = new Float64Array(dictionary.length);
  let missing = 0;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code < 0) missing++;
    else counts[code]!++;
  }
  // Keep the best `top` codes in a small sorted list: one pass, no sort of the whole dictionary.
  const before = (a: number, b: number): boolean =>
    counts[a]! > counts[b]! || (counts[a] === counts[b] && dictionary[a]! < dictionary[b]!);
  const best: number[] = [];
  let distinct = 0;
  for (let code = 0; code < counts.length; code++) {
    if (counts[code] === 0) continue;
    distinct++;
    if (top <= 0 || (best.length === top && !before(code, best[top - 1]!))) continue;
    let at = best.length;
    while (at > 0 && before(code, best[at - 1]!)) at--;
    best.splice(at, 0, code);
    if (best.length > top) best.pop();
  }
  return {
    type: 'string',
    count: codes.length,
    missing,
    distinct,
    top: best.map((code) => ({ value: dictionary[code]!, count: counts[code]! })),
  };
}

function booleanStatistics(column: BooleanColumn): BooleanStatistics {
  const { values, missing } = column;
  let missingCount = 0;
  let trueCount = 0;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) missingCount++;
    else trueCount += values[i]!;
  }
  return {
    type: 'boolean',
    count: values.length,
    missing: missingCount,
    true: trueCount,
    false: values.length - missingCount - trueCount,
  };
}

/**
 * The bin of `v` on ascending `edges`: bin i holds edges[i] <= v < edges[i + 1], the last bin also v = edges[last];
 * values below the first edge go to the first bin and values above the last edge to the last bin. Needs 2 edges.
 */
export function binOf(edges: ArrayLike<number>, v: number): number {
  const bins = edges.length - 1;
  // The number of edges <= v, by binary search; the bin is one less, clamped into [0, bins - 1].
  let lo = 0;
  let hi = bins + 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  const bin = lo - 1;
  return bin < 0 ? 0 : bin >= bins ? bins - 1 : bin;
}
