import { describe, expect, it } from 'vitest';
import { sortInPlace, sortedWithoutNaN } from '../../../lib/drift/index.js';
import { mulberry32 } from '../../../lib/ml/random.js';

function expectSameAsBuiltIn(values: Float64Array): void {
  const expected = values.slice().sort();
  const actual = sortInPlace(values.slice());
  // Object.is tells -0 from +0.
  expect(Array.from(actual).every((v, i) => Object.is(v, expected[i]))).toBe(true);
}

describe('radix sort', () => {
  const random = mulberry32(7);

  it('orders doubles of every sign and magnitude as TypedArray#sort does', () => {
    const values = new Float64Array(50_000);
    for (let i = 0; i < values.length; i++) {
      const u = random();
      values[i] = (u - 0.5) * 10 ** Math.floor(random() * 40 - 20);
    }
    values.set([-0, 0, -0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE], 100);
    expectSameAsBuiltIn(values);
  });

  it('orders integer-valued columns with many ties (digits skipped)', () => {
    const values = new Float64Array(30_000);
    for (let i = 0; i < values.length; i++) values[i] = Math.floor(random() * 200) - 60;
    expectSameAsBuiltIn(values);
    expectSameAsBuiltIn(new Float64Array(5000).fill(3.5));
  });

  it('sortedWithoutNaN drops NaN and leaves the input alone', () => {
    const values = new Float64Array(5000);
    for (let i = 0; i < values.length; i++) values[i] = i % 7 === 0 ? NaN : random();
    const copy = values.slice();
    const sorted = sortedWithoutNaN(values);
    expect(sorted.length).toBe(values.length - Math.ceil(values.length / 7));
    expect(sorted.every((v, i) => i === 0 || sorted[i - 1]! <= v)).toBe(true);
    expect(values).toEqual(copy);
  });
});
