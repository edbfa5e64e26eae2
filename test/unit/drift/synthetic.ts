// Seeded synthetic columns for the detection tests.
import { mulberry32 } from '../../../lib/ml/random.js';

/** n draws from N(mean, std²) (Box-Muller over mulberry32). */
export function normal(n: number, mean: number, std: number, seed: number): Float64Array {
  const random = mulberry32(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Category counts of n draws with the given probabilities. */
export function categorical(n: number, probabilities: Record<string, number>, seed: number): Record<string, number> {
  const random = mulberry32(seed);
  const names = Object.keys(probabilities);
  const counts: Record<string, number> = Object.fromEntries(names.map((k) => [k, 0]));
  for (let i = 0; i < n; i++) {
    let u = random();
    let k = 0;
    while (k < names.length - 1 && u >= probabilities[names[k]!]!) u -= probabilities[names[k++]!]!;
    counts[names[k]!]!++;
  }
  return counts;
}
