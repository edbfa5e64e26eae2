import { describe, expect, it } from 'vitest';
import type { Table } from '../../../lib/data/table.js';
import { findAnomalies, profileTable } from '../../../lib/validate/anomalies.js';

function table(values: number[], missing: number[], cities: (string | null)[]): Table {
  const m = new Uint8Array(values.length);
  for (const i of missing) m[i] = 1;
  const dictionary = [...new Set(cities.filter((c): c is string => c !== null))];
  return {
    rowCount: values.length,
    names: ['x', 'city'],
    columns: {
      x: { type: 'number', values: Float64Array.from(values), missing: m },
      city: {
        type: 'string',
        dictionary,
        codes: Int32Array.from(cities, (c) => (c === null ? -1 : dictionary.indexOf(c))),
      },
    },
  };
}

describe('anomalies against the last accepted snapshot', () => {
  const reference = table([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [], ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);

  it('finds none in data like the reference', () => {
    const same = table([2, 3, 4, 5, 6, 7, 8, 9, 10, 1], [], ['b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a']);
    expect(findAnomalies(same, profileTable(same), profileTable(reference))).toEqual([]);
  });

  it('reports a missing-rate jump, values out of range and unseen categories', () => {
    const shifted = table([1, 2, 3, 4, 5, 6, 7, 8, 50, 0], [0, 1], ['a', 'c', 'a', 'b', 'a', 'b', 'a', 'd', null, 'b']);
    const anomalies = findAnomalies(shifted, profileTable(shifted), profileTable(reference));
    expect(anomalies.map((a) => [a.column, a.kind, a.value])).toEqual([
      ['x', 'missing-rate-jump', 0.2],
      ['x', 'out-of-range-share', 0.25],
      ['city', 'missing-rate-jump', 0.1],
      ['city', 'unseen-categories', 2],
    ]);
    expect(anomalies[3]!.examples).toEqual(['c', 'd']);
  });
});
