/**
 * Seeded randomness for the trainers. Every random stream is derived from (seed, stream, index) rather than drawn
 * from one long sequence, so round r of a resumed run sees exactly the numbers an uninterrupted run saw.
 */

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed from a safe-integer seed and any number of integer parts (murmur3 finalizer mixing). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32(h ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x85ebca6b));
  for (const part of parts) h = fmix32((h + 0x9e3779b9 + Math.imul(part >>> 0, 0xcc9e2d51)) >>> 0);
  return h;
}

/** mulberry32: a small, fast PRNG with 32 bits of state; returns uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `k` distinct indices from [0, n), ascending (partial Fisher–Yates). */
export function sampleIndices(n: number, k: number, random: () => number): Uint32Array {
  const pool = new Uint32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  const take = Math.min(k, n);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (n - i));
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, take).sort();
}
