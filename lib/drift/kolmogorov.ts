/**
 * The distribution of the two-sided one-sample Kolmogorov-Smirnov statistic D_n, which scipy's ks_2samp
 * (method 'asymp') evaluates at n = round(n1 n2 / (n1 + n2)). A port of scipy.stats._ksstats (kstwo), which follows
 * Simard & L'Ecuyer (2011), "Computing the Two-Sided Kolmogorov-Smirnov Distribution", J. Stat. Softw. 39(11):
 * each region of (n, x) gets the method that is exact or accurate there (Ruben-Gambino closed forms, the Durbin
 * matrix in the Marsaglia-Tsang-Wang form, the Pomeranz recursion, the Pelz-Good expansion, or twice the one-sided
 * Smirnov tail). The region boundaries are scipy's, so p-values agree with scipy to rounding, not just to the
 * precision of some other approximation.
 */

const E128 = 2 ** 128;
const EM128 = 2 ** -128;
const SQRT_2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const MIN_LOG = -708;
const SQRT3 = Math.sqrt(3);
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;

// B_2j / (2j (2j - 1)) for j = 8..1, highest power first (numpy.polyval order).
const STIRLING = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
  -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];

const clip = (p: number): number => (p < 0 ? 0 : p > 1 ? 1 : p);
const select = (cdfProb: number, sfProb: number, cdf: boolean): number => clip(cdf ? cdfProb : sfProb);

/** ln(n! / n^n) by Stirling's series with n ln n taken out first (no cancellation). */
function logFactorialOverPower(n: number): number {
  const rn = 1 / n;
  const z = rn / n;
  let poly = 0;
  for (const c of STIRLING) poly = poly * z + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/** Row-major m×m product. */
function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    for (let k = 0; k < m; k++) {
      const aik = a[row + k]!;
      if (aik === 0) continue;
      const brow = k * m;
      for (let j = 0; j < m; j++) out[row + j]! += aik * b[brow + j]!;
    }
  }
  return out;
}

/** Pr(D_n <= d) by Durbin's matrix (Marsaglia, Tsang & Wang 2003): the k-th diagonal entry of (n!/n^n) H^n. */
function durbinMatrix(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;

  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;

  let H: Float64Array = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - i + 1]!;
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let power: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let nn = n;
  let exponent = 0;
  let hExponent = 0;
  const diagonal = (k - 1) * m + (k - 1);
  while (nn > 0) {
    if (nn % 2) {
      power = matmul(power, H, m);
      exponent += hExponent;
    }
    H = matmul(H, H, m);
    hExponent *= 2;
    if (Math.abs(H[diagonal]!) > E128) {
      for (let i = 0; i < H.length; i++) H[i]! /= E128;
      hExponent += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = power[diagonal]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      exponent -= 128;
    }
  }
  return exponent !== 0 ? p * 2 ** exponent : p;
}

function pomeranzBounds(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pr(D_n <= x) by the Pomeranz (1974) recursion: rows are convolutions with (almost) Poisson probabilities. */
function pomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }

  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let exponent = 0;
  let [j1, j2] = pomeranzBounds(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzBounds(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // The entries [j1 - k1, j2 - k1] of the full convolution of V0[k1 - V0s ..][:ln2] with pwrs[:ln2].
      const offset = k1 - V0s;
      const aLength = Math.min(ln2, npwrs - offset);
      const bLength = Math.min(ln2, npwrs);
      const convStart = j1 - k1;
      const convLength = j2 - j1 + 1;
      let max = 0;
      for (let c = 0; c < convLength; c++) {
        const at = convStart + c;
        let sum = 0;
        const from = Math.max(0, at - bLength + 1);
        const to = Math.min(at, aLength - 1);
        for (let p = from; p <= to; p++) sum += V0[offset + p]! * pwrs[at - p]!;
        V1[c] = sum;
        if (sum > max) max = sum;
      }
      if (max > 0 && max < EM128) {
        for (let c = 0; c < convLength; c++) V1[c]! *= E128;
        exponent -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let answer = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(answer) > E128) {
      answer *= EM128;
      exponent += 128;
    }
    answer *= m;
  }
  return exponent !== 0 ? answer * 2 ** exponent : answer;
}

/** Pelz-Good (1976) approximation to Pr(D_n <= x): Li-Chien/Korolyuk series via Jacobi theta identities. */
function pelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);

  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;

  let K0 = 0;
  let K1 = 0;
  let K2 = 0;
  let K3 = 0;
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    K0 = K0 * qpower + 1;
    K1 = K1 * qpower + (k1a + k1b * m2);
    K2 = K2 * qpower + (k2a + k2b * m2 + k2c * m4);
    K3 = K3 * qpower + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
  }
  const scale = q * SQRT_2PI;
  K0 = (K0 * scale) / z;
  K1 = (K1 * scale) / (6 * z4);
  K2 = (K2 * scale) / (72 * z ** 7);
  K3 = (K3 * scale) / (6480 * z ** 10);

  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = SQRT3 * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = q ** k2;
    k2extra += k2 * qk;
    const kpi = Math.PI * k;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K2 += k2extra * ((PI2 * SQRT_2PI) / (-36 * z3));
  K3 += k3extra * ((PI2 * SQRT_2PI) / (216 * z6));
  return K0 + K1 / Math.sqrt(n) + K2 / n + K3 / n ** 1.5;
}

/** n x as an unevaluated sum hi + lo (Dekker's two-product), so that floor(n x) and 1 - x - v/n come out exact. */
function twoProduct(n: number, x: number): [number, number] {
  const split = (a: number): [number, number] => {
    const c = 134217729 * a; // 2^27 + 1
    const hi = c - (c - a);
    return [hi, a - hi];
  };
  const p = n * x;
  const [nh, nl] = split(n);
  const [xh, xl] = split(x);
  return [p, nh * xh - p + nh * xl + nl * xh + nl * xl];
}

/**
 * One-sided Smirnov survival Pr(D_n^+ >= x), scipy.special.smirnov, by the Birnbaum-Tingey sum
 *   x Σ_{v=0}^{⌊n(1-x)⌋} C(n, v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
 * with every term in log space. All terms are positive, so the sum loses nothing to cancellation; scipy carries
 * double-double precision through it, plain doubles agree to ~1e-12 relative over the range ks_2samp reaches.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const [nx, nxError] = twoProduct(n, x);
  let nxFloor = Math.floor(nx);
  if (nx === nxFloor && nxError < 0) nxFloor -= 1;
  else if (nx !== nxFloor && nx - nxFloor + nxError >= 1) nxFloor += 1;
  const integral = nx === nxFloor && nxError === 0;
  if (nxFloor === 0 || (nxFloor === 1 && integral)) return clip(1 - x * (1 + x) ** (n - 1));
  if (-2 * n * x * x < -745.1332191019412) return 0;
  if (nxFloor >= n - 1) return clip((1 - x) ** n);
  if (n > 1_000_000) {
    // scipy's approximation for very large n: p ~ exp(-(6nx + 1)^2 / 18n).
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return clip(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }
  // v runs to ⌊n(1-x)⌋, or one less when n x is an integer (that term is 0^(n-v) = 0).
  const terms = n - nxFloor;
  const middle = Math.floor(n / 2);
  let logBinomial = 0;
  let sum = 0;
  for (let v = 0; v < terms; v++) {
    const upper = (n - v - nx - nxError) / n; // 1 - x - v/n
    const lower = (v + nx + nxError) / n; // x + v/n
    const term = Math.exp(logBinomial + (v - 1) * Math.log(lower) + (n - v) * Math.log(upper));
    sum += term;
    if (term !== 0) {
      if (4 * (terms - v) * term < Number.EPSILON * sum && v !== terms - 1) break;
    } else if (v > middle) break;
    logBinomial += Math.log((n - v) / (v + 1));
  }
  return clip(x * sum);
}

/**
 * Pr(D_n <= x) (`cdf` true) or Pr(D_n > x) for the two-sided one-sample statistic with n observations:
 * scipy.stats.kstwo.cdf / kstwo.sf. NaN when n is not a positive integer.
 */
export function kolmogorovN(n: number, x: number, cdf = false): number {
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return select(1, 0, cdf);
  if (x <= 0) return select(0, 1, cdf);
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: 1/(2n) <= x <= 1/n.
    if (t <= 0.5) return select(0, 1, cdf);
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return select(prob, 1 - prob, cdf);
  }
  if (t >= n - 1) {
    const prob = 2 * (1 - x) ** n;
    return select(1 - prob, prob, cdf);
  }
  if (x >= 0.5) {
    const prob = 2 * smirnovSf(n, x);
    return select(1 - prob, prob, cdf);
  }
  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) {
      const prob = durbinMatrix(n, x);
      return select(prob, 1 - prob, cdf);
    }
    if (nxSquared <= 4) {
      const prob = pomeranz(n, x);
      return select(prob, 1 - prob, cdf);
    }
    const prob = 2 * smirnovSf(n, x);
    return select(1 - prob, prob, cdf);
  }
  if (!cdf) {
    if (nxSquared >= 370) return 0;
    if (nxSquared >= 2.2) return clip(2 * smirnovSf(n, x));
  }
  let cdfProb: number;
  if (nxSquared >= 18) cdfProb = 1;
  else if (n <= 100_000 && n * x ** 1.5 <= 1.4) cdfProb = durbinMatrix(n, x);
  else cdfProb = pelzGood(n, x);
  return select(cdfProb, 1 - cdfProb, cdf);
}
