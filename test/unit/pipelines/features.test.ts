import { describe, expect, it } from 'vitest';
import type { Table } from '../../../lib/data/table.js';
import { bucketize, category, datePart, numeric } from '../../../lib/features/builders.js';
import { buildMatrix, fitFeatures } from '../../../lib/features/matrix.js';
import { splitRows } from '../../../lib/features/split.js';

const rowsOf = (...rows: number[]) => Int32Array.from(rows);

const table: Table = {
  rowCount: 6,
  names: ['city', 'at', 'x'],
  columns: {
    city: { type: 'string', codes: Int32Array.from([0, 1, 0, 2, -1, 0]), dictionary: ['Oslo', 'Rome', 'Lima'] },
    at: {
      type: 'timestamp',
      values: Float64Array.from(
        [
          '2001-01-01T05:00Z',
          '2001-02-03T23:10Z',
          '2001-03-04T00:00Z',
          '2001-01-07T12:00Z',
          '2001-06-30T01:00Z',
          '2001-01-02T00:00Z',
        ].map(Date.parse)
      ),
      missing: new Uint8Array(6),
    },
    x: { type: 'number', values: Float64Array.from([5, 1, 3, 2, 0, 4]), missing: Uint8Array.from([0, 0, 0, 0, 1, 0]) },
  },
};

describe('features', () => {
  it('are fitted on training rows only and applied the same way to any rows', () => {
    const defs = [
      category('city', { maxLevels: 1 }),
      datePart('at', 'hour'),
      datePart('at', 'weekday'),
      datePart('at', 'month'),
      numeric('x'),
      bucketize('x', 2),
    ];
    const specs = fitFeatures(defs, table, rowsOf(0, 1, 2, 3));
    // Oslo is the most frequent city in the training rows; the only level kept.
    expect(specs[0]!.state).toEqual({ levels: ['Oslo'] });
    // Median of the training x values [5, 1, 3, 2] → sorted [1, 2, 3, 5], edge at index 2 → 3.
    expect(specs[5]!.state).toEqual({ edges: [3] });
    const m = buildMatrix(defs, specs, table, rowsOf(0, 1, 3, 4, 5));
    expect(m.names).toEqual(['city', 'at_hour', 'at_weekday', 'at_month', 'x', 'x_bucket']);
    expect(Array.from(m.columns[0]!)).toEqual([0, 1, 1, Number.NaN, 0]); // Rome and Lima share the "other" level
    expect(Array.from(m.columns[1]!)).toEqual([5, 23, 12, 1, 0]);
    expect(Array.from(m.columns[2]!)).toEqual([1, 6, 0, 6, 2]); // 2001-01-01 was a Monday
    expect(Array.from(m.columns[3]!)).toEqual([1, 2, 1, 6, 1]);
    expect(Array.from(m.columns[4]!)).toEqual([5, 1, 2, Number.NaN, 4]);
    expect(Array.from(m.columns[5]!)).toEqual([1, 0, 0, Number.NaN, 1]);
  });

  it('splits by time with the latest rows held out, and randomly with a seed', () => {
    expect(splitRows(table, { kind: 'time', column: 'at', testFraction: 1 / 3 })).toEqual({
      train: rowsOf(0, 1, 3, 5),
      test: rowsOf(2, 4),
    });
    const a = splitRows(table, { kind: 'random', testFraction: 0.5, seed: 1 });
    expect(splitRows(table, { kind: 'random', testFraction: 0.5, seed: 1 })).toEqual(a);
    expect(a.train.length + a.test.length).toBe(6);
    expect(new Set([...a.train, ...a.test]).size).toBe(6);
  });
});
