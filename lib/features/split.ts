import type { Split } from '../pipeline/tabular.js';
import type { Table } from '../data/table.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same split on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RowSplit {
  train: Int32Array;
  test: Int32Array;
}

/**
 * Splits row indices into training and held-out rows. `time`: the latest `testFraction` by the column (ties by row
 * order) are held out, so the model is tested on the future. `random`: a seeded shuffle. Both lists ascend.
 */
export function splitRows(table: Table, split: Split): RowSplit {
  const n = table.rowCount;
  const testCount = Math.max(1, Math.min(n - 1, Math.round(n * split.testFraction)));
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (split.kind === 'time') {
    const column = table.columns[split.column];
    if (!column || column.type === 'string')
      throw new Error(`split column ${split.column} must be a timestamp or number`);
    const { values, missing } = column;
    // Missing times sort first: they never end up in the future test set.
    const key = Float64Array.from(values, (v, i) => (missing[i] === 1 ? -Infinity : v));
    order.sort((a, b) => key[a]! - key[b]! || a - b);
  } else {
    const random = prng(split.seed);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
  }
  const train = order.slice(0, n - testCount).sort();
  const test = order.slice(n - testCount).sort();
  return { train, test };
}
