import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { columnStatistics, histogramOn, readJson, tableStatistics } from '../../../lib/data/index.js';
import type {
  BooleanColumn,
  NumberColumn,
  NumericStatistics,
  StringColumn,
  StringStatistics,
  TimestampColumn,
} from '../../../lib/data/index.js';

const PENGUINS = join(import.meta.dirname, '../../../node_modules/vega-datasets/data/penguins.json');

/** A number column; `null` = missing. */
function numbers(values: (number | null)[]): NumberColumn {
  return {
    type: 'number',
    values: Float64Array.from(values, (v) => v ?? 0),
    missing: Uint8Array.from(values, (v) => (v === null ? 1 : 0)),
  };
}

function strings(values: (string | null)[]): StringColumn {
  const dictionary: string[] = [];
  const codes = Int32Array.from(values, (v) => {
    if (v === null) return -1;
    if (!dictionary.includes(v)) dictionary.push(v);
    return dictionary.indexOf(v);
  });
  return { type: 'string', codes, dictionary };
}

describe('columnStatistics of a number column', () => {
  // 1..10 shuffled, plus one missing, one NaN and one +Infinity that every figure leaves out.
  const column = numbers([7, 3, null, 10, 1, NaN, 5, 2, 9, Infinity, 4, 8, 6]);
  const stats = columnStatistics(column) as NumericStatistics;

  it('counts rows, missing and non-finite values', () => {
    expect(stats).toMatchObject({
      type: 'number',
      count: 13,
      missing: 1,
      nan: 1,
      positiveInfinity: 1,
      negativeInfinity: 0,
    });
  });

  it('computes min, max, mean and the population standard deviation over finite values', () => {
    expect(stats.min).toBe(1);
    expect(stats.max).toBe(10);
    expect(stats.mean).toBe(5.5);
    // Σ(x - 5.5)² over 1..10 = 82.5; / 10 = 8.25.
    expect(stats.std).toBeCloseTo(Math.sqrt(8.25), 12);
  });

  it('interpolates quantiles linearly between closest ranks', () => {
    // Position (n - 1)·p = 9p into the sorted values 1..10, so the quantile is 1 + 9p.
    const q = stats.quantiles!;
    expect(q.p1).toBeCloseTo(1.09, 12);
    expect(q.p5).toBeCloseTo(1.45, 12);
    expect(q.p25).toBe(3.25);
    expect(q.p50).toBe(5.5);
    expect(q.p75).toBe(7.75);
    expect(q.p95).toBeCloseTo(9.55, 12);
    expect(q.p99).toBeCloseTo(9.91, 12);
  });

  it('bins into 20 equal-width bins from min to max, max in the last bin', () => {
    const { edges, counts, nonFinite } = stats.histogram!;
    expect(edges).toHaveLength(21);
    expect(edges[0]).toBe(1);
    expect(edges[20]).toBe(10);
    expect(edges[1]).toBeCloseTo(1.45, 12);
    // Width 0.45: value v lands in bin floor((v - 1) / 0.45).
    const expected = new Array<number>(20).fill(0);
    for (const bin of [0, 2, 4, 6, 8, 11, 13, 15, 17, 19]) expected[bin] = 1;
    expect(counts).toEqual(expected);
    expect(nonFinite).toBe(2);
  });

  it('takes the number of bins as an option', () => {
    const { histogram } = columnStatistics(column, { bins: 3 }) as NumericStatistics;
    expect(histogram).toEqual({ edges: [1, 4, 7, 10], counts: [3, 3, 4], nonFinite: 2 });
  });

  it('gives null figures, never NaN, when there are no finite values', () => {
    const empty = columnStatistics(numbers([null, NaN, -Infinity])) as NumericStatistics;
    expect(empty).toEqual({
      type: 'number',
      count: 3,
      missing: 1,
      nan: 1,
      positiveInfinity: 0,
      negativeInfinity: 1,
      min: null,
      max: null,
      mean: null,
      std: null,
      quantiles: null,
      histogram: null,
    });
    expect(JSON.parse(JSON.stringify(empty))).toEqual(empty);
  });

  it('puts every value of a constant column in one bin', () => {
    const constant = columnStatistics(numbers([4, 4, 4])) as NumericStatistics;
    expect(constant).toMatchObject({ min: 4, max: 4, mean: 4, std: 0 });
    expect(constant.histogram!.counts.reduce((a, b) => a + b)).toBe(3);
  });

  it('treats timestamps as milliseconds', () => {
    const day = 86_400_000;
    const column: TimestampColumn = {
      type: 'timestamp',
      values: Float64Array.from([0, day, 2 * day]),
      missing: new Uint8Array(3),
    };
    expect(columnStatistics(column)).toMatchObject({ type: 'timestamp', min: 0, max: 2 * day, mean: day });
  });
});

describe('histogramOn', () => {
  it('counts a new column on reference edges, clamping values outside them', () => {
    const column = numbers([-5, 0, 9.99, 10, 25, 30, 100, NaN, null, -Infinity]);
    expect(histogramOn(column, [0, 10, 20, 30])).toEqual({ edges: [0, 10, 20, 30], counts: [3, 1, 3], nonFinite: 2 });
  });

  it('agrees with the histogram of the statistics on the same column', () => {
    const column = numbers(Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100 + (i % 7)));
    const { histogram } = columnStatistics(column) as NumericStatistics;
    expect(histogramOn(column, histogram!.edges)).toEqual(histogram);
  });

  it('refuses edges that are not ascending', () => {
    expect(() => histogramOn(numbers([1]), [0, 2, 1])).toThrow(RangeError);
    expect(() => histogramOn(numbers([1]), [0])).toThrow(RangeError);
  });
});

describe('columnStatistics of string and boolean columns', () => {
  it('counts distinct values and the top categories, ties by name', () => {
    const column = strings(['b', 'a', 'c', 'a', 'b', null, 'd', 'a']);
    const stats = columnStatistics(column, { top: 3 }) as StringStatistics;
    expect(stats).toEqual({
      type: 'string',
      count: 8,
      missing: 1,
      distinct: 4,
      top: [
        { value: 'a', count: 3 },
        { value: 'b', count: 2 },
        { value: 'c', count: 1 },
      ],
    });
  });

  it('keeps the top 20 by default', () => {
    const values = Array.from({ length: 30 }, (_, i) => `v${String(i).padStart(2, '0')}`);
    const stats = columnStatistics(strings([...values, 'v29', 'v29'])) as StringStatistics;
    expect(stats.distinct).toBe(30);
    expect(stats.top).toHaveLength(20);
    expect(stats.top[0]).toEqual({ value: 'v29', count: 3 });
    expect(stats.top[1]).toEqual({ value: 'v00', count: 1 });
    expect(stats.top[19]).toEqual({ value: 'v18', count: 1 });
  });

  it('counts true, false and missing', () => {
    const column: BooleanColumn = {
      type: 'boolean',
      values: Uint8Array.from([1, 0, 1, 0, 1]),
      missing: Uint8Array.from([0, 0, 0, 1, 0]),
    };
    expect(columnStatistics(column)).toEqual({ type: 'boolean', count: 5, missing: 1, true: 3, false: 1 });
  });
});

describe('tableStatistics', () => {
  it('summarises every column of penguins.json in column order, JSON-safe', async () => {
    const table = await readJson(PENGUINS);
    const stats = tableStatistics(table);
    expect(stats.rowCount).toBe(344);
    expect(stats.columns.map((c) => c.name)).toEqual(table.names);
    const mass = stats.columns.find((c) => c.name === 'Body Mass (g)') as NumericStatistics & { name: string };
    expect(mass).toMatchObject({ count: 344, missing: 2, min: 2700, max: 6300 });
    expect(mass.mean).toBeCloseTo(4201.754385964912, 9);
    const sex = stats.columns.find((c) => c.name === 'Sex') as StringStatistics & { name: string };
    expect(sex).toMatchObject({ missing: 10, distinct: 3 });
    expect(sex.top.map((t) => t.value)).toEqual(['MALE', 'FEMALE', '.']);
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
    expect(tableStatistics(table)).toEqual(stats);
  });
});
