/**
 * Ascending sort of float64 values for the sample-based statistics (KS, Wasserstein). V8's TypedArray#sort is a
 * comparison sort (~100 ms per million doubles); an LSD radix sort on the IEEE-754 bit patterns is several times
 * faster, and faster still on real columns: a 16-bit digit that is the same in every value (the low mantissa bits
 * of integer-valued or low-precision data, the exponent of a narrow range) is skipped without a pass.
 */

const DIGITS = 4;
const RADIX = 1 << 16;
/** Below this a comparison sort wins over four counting passes. */
const SMALL = 2048;
/** The radix sort reads the doubles as pairs of uint32 words, low word first. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The values without NaN, ascending (-0 before +0, as TypedArray#sort orders them), in a new array; the input is
 * not modified. ±Infinity are kept and sort to the ends.
 */
export function sortedWithoutNaN(values: Float64Array): Float64Array {
  let kept = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === values[i]) kept++;
  const out = new Float64Array(kept);
  if (kept === values.length) out.set(values);
  else for (let i = 0, k = 0; i < values.length; i++) if (values[i] === values[i]) out[k++] = values[i]!;
  return sortInPlace(out);
}

/** Sorts values that hold no NaN, in place, and returns them. */
export function sortInPlace(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < SMALL || !LITTLE_ENDIAN) return values.sort();
  // Order-preserving map to unsigned 64-bit keys: flip every bit of negatives, only the sign bit of the rest.
  // Keys are two uint32 words (little-endian: low word first) over the array's own buffer.
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  const counts = new Uint32Array(DIGITS * RADIX);
  // Bits that differ between values, before the transform: a lower digit that is the same in every value is then
  // a function of the sign (which the top digit sorts), so its pass can be skipped even though negatives flip it.
  // The low word is counted only when it varies (integer-valued columns have it all zero).
  let loAnd = 0xffffffff;
  let loOr = 0;
  let hiAnd = 0xffffffff;
  let hiOr = 0;
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    loAnd &= lo;
    loOr |= lo;
    hiAnd &= hi;
    hiOr |= hi;
    // Negative: flip every bit; otherwise flip the sign bit only (branch-free: signs come in random order).
    const flip = hi >> 31;
    const key = (hi ^ (flip | 0x80000000)) >>> 0;
    words[2 * i] = (lo ^ flip) >>> 0;
    words[2 * i + 1] = key;
    counts[2 * RADIX + (key & 0xffff)]!++;
    counts[3 * RADIX + (key >>> 16)]!++;
  }
  const lowVarying = (loAnd ^ loOr) >>> 0;
  const varying = [lowVarying & 0xffff, lowVarying >>> 16, ((hiAnd ^ hiOr) & 0xffff) >>> 0, 1];
  if (lowVarying) {
    for (let i = 0; i < n; i++) {
      const lo = words[2 * i]!;
      counts[lo & 0xffff]!++;
      counts[RADIX + (lo >>> 16)]!++;
    }
  }

  let source: Uint32Array = words;
  let target: Uint32Array = new Uint32Array(n * 2);
  for (let digit = 0; digit < DIGITS; digit++) {
    if (!varying[digit]) continue;
    const base = digit * RADIX;
    const word = digit >> 1;
    const shift = (digit & 1) * 16;
    // A digit shared by every key does not reorder anything.
    let distinct = 0;
    for (let d = 0; d < RADIX && distinct < 2; d++) if (counts[base + d]! > 0) distinct++;
    if (distinct < 2) continue;
    let position = 0;
    for (let d = 0; d < RADIX; d++) {
      const c = counts[base + d]!;
      counts[base + d] = position;
      position += c;
    }
    for (let i = 0; i < n; i++) {
      const w = source[2 * i + word]!;
      const at = 2 * counts[base + ((w >>> shift) & 0xffff)]!++;
      target[at] = source[2 * i]!;
      target[at + 1] = source[2 * i + 1]!;
    }
    const swap = source;
    source = target;
    target = swap;
  }
  if (source !== words) words.set(source);

  for (let i = 0; i < n; i++) {
    const key = words[2 * i + 1]!;
    // Sign bit set: was non-negative, clear it; clear: was negative, flip every bit back.
    const flip = ~(key >> 31);
    words[2 * i] = (words[2 * i]! ^ flip) >>> 0;
    words[2 * i + 1] = (key ^ (flip | 0x80000000)) >>> 0;
  }
  return values;
}
