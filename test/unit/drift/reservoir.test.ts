import { describe, expect, it } from 'vitest';
import { createReservoir, reservoirAdd, reservoirSample, reservoirValues } from '../../../lib/drift/index.js';

const range = (n: number) => Float64Array.from({ length: n }, (_, i) => i);

describe('reservoir sampling', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const values = range(100_000);
    const a = reservoirSample(values, 1000, 42);
    expect(a.length).toBe(1000);
    expect(reservoirSample(values, 1000, 42)).toEqual(a);
    expect(reservoirSample(values, 1000, 43)).not.toEqual(a);
    expect(new Set(a).size).toBe(1000);
  });

  it('does not depend on how the values are cut into chunks', () => {
    const values = range(50_000);
    const state = createReservoir(500, 9);
    for (let start = 0; start < values.length; start += 777) reservoirAdd(state, values.subarray(start, start + 777));
    expect(state.seen).toBe(50_000);
    expect(reservoirValues(state)).toEqual(reservoirSample(values, 500, 9));
  });

  it('keeps every value when there are fewer than its capacity, and skips NaN', () => {
    expect(Array.from(reservoirSample(Float64Array.of(3, NaN, 1, 2), 10, 1))).toEqual([3, 1, 2]);
  });

  it('gives every position the same chance', () => {
    const n = 50;
    const k = 5;
    const trials = 4000;
    const hits = new Float64Array(n);
    const values = range(n);
    for (let seed = 0; seed < trials; seed++) for (const v of reservoirSample(values, k, seed)) hits[v]!++;
    const expected = (trials * k) / n;
    const sd = Math.sqrt(expected * (1 - k / n));
    for (const h of hits) expect(Math.abs(h - expected)).toBeLessThan(5 * sd);
  });

  it('refuses a capacity or seed it cannot use', () => {
    expect(() => createReservoir(0, 1)).toThrow('capacity must be a positive integer');
    expect(() => createReservoir(10, 0.5)).toThrow('seed must be a safe integer');
  });
});
