import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Table } from '../../../lib/data/table.js';
import { checkContract } from '../../../lib/validate/check.js';
import { compileContract } from '../../../lib/validate/contract.js';
import { formatReport } from '../../../lib/validate/report.js';

const contract = z.strictObject({
  id: z.string().meta({ unique: true }),
  kind: z.enum(['a', 'b']),
  size: z.number().int().min(0).max(10),
  weight: z.number().nullable(),
  when: z.date(),
});

function numbers(values: number[], missing: number[] = []) {
  const m = new Uint8Array(values.length);
  for (const i of missing) m[i] = 1;
  return { type: 'number' as const, values: Float64Array.from(values), missing: m };
}

function strings(values: (string | null)[]) {
  const dictionary: string[] = [];
  const codes = Int32Array.from(values, (v) => {
    if (v === null) return -1;
    let code = dictionary.indexOf(v);
    if (code < 0) code = dictionary.push(v) - 1;
    return code;
  });
  return { type: 'string' as const, codes, dictionary };
}

function table(columns: Table['columns']): Table {
  const names = Object.keys(columns);
  const first = columns[names[0]!]!;
  return { rowCount: first.type === 'string' ? first.codes.length : first.values.length, names, columns };
}

const good = () => ({
  id: strings(['r1', 'r2', 'r3', 'r4']),
  kind: strings(['a', 'b', 'a', 'b']),
  size: numbers([0, 3, 10, 4]),
  weight: numbers([1.5, 0, 2, 0], [1, 3]),
  when: { type: 'timestamp' as const, values: Float64Array.from([0, 1, 2, 3]), missing: new Uint8Array(4) },
});

describe('data contract', () => {
  it('compiles zod to column rules', () => {
    expect(compileContract(contract)).toEqual([
      { column: 'id', type: 'string', nullable: false, unique: true },
      { column: 'kind', type: 'string', nullable: false, allowed: ['a', 'b'] },
      { column: 'size', type: 'number', nullable: false, min: 0, max: 10, integer: true },
      { column: 'weight', type: 'number', nullable: true },
      { column: 'when', type: 'timestamp', nullable: false },
    ]);
  });

  it('passes data that honours it', () => {
    expect(checkContract(table(good()), compileContract(contract))).toEqual([]);
  });

  it('reports each broken rule with its count and example rows', () => {
    const bad = {
      ...good(),
      id: strings(['r1', 'r2', 'r1', null]),
      kind: strings(['a', 'c', 'c', 'b']),
      size: numbers([-1, 3.5, 11, Number.NaN]),
    };
    const violations = checkContract(table(bad), compileContract(contract));
    const summary = violations.map((v) => [v.column, v.rule, v.count, v.examples.map((e) => e.row)]);
    expect(summary).toEqual([
      ['id', 'not-null', 1, [3]],
      ['id', 'unique', 1, [2]],
      ['kind', 'allowed-values', 2, [1, 2]],
      ['size', 'finite', 1, [3]],
      ['size', 'min', 1, [0]],
      ['size', 'max', 1, [2]],
      ['size', 'integer', 1, [1]],
    ]);
    const report = formatReport({ dataset: 'sha256:x', rowCount: 4, passed: false, violations, anomalies: [] });
    expect(report).toContain(
      'kind [allowed-values] 2 row(s): values outside ["a","b"]: ["c"] (e.g. row 1: "c", row 2: "c")'
    );
  });

  it('reports a missing column, a wrong type and an empty dataset', () => {
    const { when: _when, ...rest } = good();
    const wrongType = { ...rest, size: strings(['1', 'x', '3', null]) };
    const violations = checkContract(table(wrongType), compileContract(contract));
    expect(violations.map((v) => [v.column, v.rule, v.count])).toEqual([
      ['size', 'type', 1],
      ['when', 'required-column', 4],
    ]);
    expect(violations[0]!.examples).toEqual([{ row: 1, value: 'x' }]);
    const empty = checkContract({ rowCount: 0, names: [], columns: {} }, compileContract(contract));
    expect(empty.map((v) => v.rule)).toEqual(['non-empty']);
  });
});
