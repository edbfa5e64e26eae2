/**
 * Two-sample Kolmogorov-Smirnov test, two-sided, defined as scipy.stats.ks_2samp: the statistic is the largest gap
 * between the two empirical CDFs (ties handled by evaluating both CDFs at every observed value), the p-value comes
 * from
 * - 'asymp': the one-sample Kolmogorov distribution kstwo.sf(D, round(n1 n2 / (n1 + n2))), as scipy's 'asymp'
 *   (not the limiting kstwobign distribution, which is 5-25% off on windows of tens to hundreds of values);
 * - 'exact': the exact permutation distribution of D by lattice-path counting (Hodges 1958, with Viehmann's
 *   recursion for 1 - p), as scipy's 'exact'; it falls back to 'asymp' where scipy does;
 * - 'auto': 'exact' when neither sample exceeds 10,000 values, else 'asymp' (scipy's default).
 * The drift checks use 'asymp': its cost does not grow with n1 n2.
 */
import { kolmogorovN } from './kolmogorov.js';
import { sortedWithoutNaN } from './sort.js';

export type KsMethod = 'asymp' | 'exact' | 'auto';

export interface KsOptions {
  /** @default 'asymp' */
  method?: KsMethod;
}

export interface KsResult {
  /** D = sup |F1 - F2|. With 'exact' it is rounded to a multiple of 1 / lcm(n1, n2), as scipy rounds it. */
  statistic: number;
  /** NaN when round(n1 n2 / (n1 + n2)) is 0 under 'asymp' (one value on each side), as in scipy. */
  pValue: number;
  /** The method the p-value came from. */
  method: 'asymp' | 'exact';
  /** The observed value at which the CDFs are furthest apart (scipy's statistic_location). */
  location: number;
  /** +1 when the first sample's CDF is above the second's there, -1 when below (scipy's statistic_sign). */
  sign: 1 | -1;
  n1: number;
  n2: number;
}

/** The test on raw samples: NaN values are left out (scipy's nan_policy='omit'); the inputs are not modified. */
export function ksTwoSample(a: Float64Array, b: Float64Array, options: KsOptions = {}): KsResult {
  return ksTwoSampleSorted(sortedWithoutNaN(a), sortedWithoutNaN(b), options);
}

/** The test on samples already sorted ascending and free of NaN (e.g. from sortedWithoutNaN, shared with Wasserstein). */
export function ksTwoSampleSorted(a: Float64Array, b: Float64Array, options: KsOptions = {}): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) {
    throw new RangeError(`the Kolmogorov-Smirnov test needs values on both sides (got ${n1} and ${n2})`);
  }

  // Walk the distinct values in ascending order; at each, both CDFs count the values <= it. scipy reports the
  // location as the first arg-extremum over [sorted a, sorted b]: the smallest extremal value of a, else of b.
  let max = -Infinity;
  let min = Infinity;
  let maxInA = Number.NaN;
  let maxInB = Number.NaN;
  let minInA = Number.NaN;
  let minInB = Number.NaN;
  let i = 0;
  let j = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    const inA = i < n1 && a[i]! <= v;
    const inB = j < n2 && b[j]! <= v;
    while (i < n1 && a[i]! <= v) i++;
    while (j < n2 && b[j]! <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > max) {
      max = diff;
      maxInA = inA ? v : Number.NaN;
      maxInB = inB ? v : Number.NaN;
    } else if (diff === max) {
      if (inA && Number.isNaN(maxInA)) maxInA = v;
      if (inB && Number.isNaN(maxInB)) maxInB = v;
    }
    if (diff < min) {
      min = diff;
      minInA = inA ? v : Number.NaN;
      minInB = inB ? v : Number.NaN;
    } else if (diff === min) {
      if (inA && Number.isNaN(minInA)) minInA = v;
      if (inB && Number.isNaN(minInB)) minInB = v;
    }
  }
  const below = Math.min(Math.max(-min, 0), 1);
  let d: number;
  let location: number;
  let sign: 1 | -1;
  if (below > max) {
    d = below;
    location = Number.isNaN(minInA) ? minInB : minInA;
    sign = -1;
  } else {
    d = max;
    location = Number.isNaN(maxInA) ? maxInB : maxInA;
    sign = 1;
  }

  const requested = options.method ?? 'asymp';
  let method: 'asymp' | 'exact' = requested === 'auto' ? (Math.max(n1, n2) <= 10_000 ? 'exact' : 'asymp') : requested;
  let pValue = Number.NaN;
  if (method === 'exact') {
    const g = gcd(n1, n2);
    if (n1 / g >= 2147483647 / (n2 / g)) {
      method = 'asymp';
    } else {
      const exact = exactPValue(n1, n2, g, d);
      d = exact.statistic;
      if (exact.pValue >= 0 && exact.pValue <= 1) pValue = exact.pValue;
      else method = 'asymp';
    }
  }
  if (method === 'asymp') {
    const m = Math.max(n1, n2);
    const n = Math.min(n1, n2);
    const en = (m * n) / (m + n);
    pValue = kolmogorovN(roundHalfEven(en), d, false);
  }
  return { statistic: d, pValue: Math.min(Math.max(pValue, 0), 1), method, location, sign, n1, n2 };
}

/** numpy.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return fraction < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** scipy's _attempt_exact_2kssamp, two-sided: D is snapped to h / lcm(n1, n2) first. */
function exactPValue(n1: number, n2: number, g: number, d: number): { statistic: number; pValue: number } {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const statistic = h / lcm;
  if (h === 0) return { statistic, pValue: 1 };
  const pValue = n1 === n2 ? probabilityOutsideSquare(n1, h) : probabilityOutsideInside(n1, n2, g, h);
  return { statistic, pValue: Number.isFinite(pValue) ? pValue : Number.NaN };
}

/**
 * Pr(D_{n,n} >= h/n) = 2 Σ_k (-1)^(k+1) C(2n, n - k h) / C(2n, n), evaluated Horner-style with each ratio of
 * binomials as a product of h factors, which avoids the alternating sum's cancellation.
 */
function probabilityOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * The share of lattice paths from (0, 0) to (m, n) that leave the band |x/m - y/n| < h / lcm(m, n), computed
 * column by column over a sliding window as 1 - (paths inside) / C(m + n, n), already normalised so that nothing
 * overflows (Viehmann 2021, arXiv:2102.08037; scipy's _compute_outer_prob_inside_method).
 */
function probabilityOutsideInside(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}
