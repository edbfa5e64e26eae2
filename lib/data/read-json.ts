import { StringDictionary, parseIsoTimestamp } from './cells.js';
import { checkLimit, readText, selectColumns } from './source-file.js';
import type { ReadOptions } from './source-file.js';
import { DataReadError } from './table.js';
import type { Column, ColumnType, Table } from './table.js';

export interface ReadJsonOptions extends ReadOptions {
  /**
   * The type a column should have when its values allow it: `'timestamp'` turns ISO date strings into timestamps
   * (they stay strings otherwise), `'string'` turns numbers and booleans into their text, and any type applies to a
   * column that is entirely null. Values that do not fit leave the inferred type in place.
   */
  expectedTypes?: Record<string, ColumnType>;
}

const NUMBER = 1;
const BOOLEAN = 2;
const STRING = 4;

/**
 * Reads a JSON array of flat objects. Columns appear in order of first appearance of their keys; `null` and absent
 * keys are missing. A column's type follows the JS type of its values; a column mixing types (a string among
 * numbers) becomes a `string` column holding the text of every value, so the contract check can report it.
 */
export async function readJson(path: string, options: ReadJsonOptions = {}): Promise<Table> {
  const text = await readText(path);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new DataReadError(path, `invalid JSON: ${(err as Error).message}`);
  }
  return tableFromRows(data, path, options);
}

/**
 * A table from already-parsed rows (an array of flat objects), as `readJson` reads them; `path` names the source in
 * errors (a file path, or a request).
 */
export function tableFromRows(data: unknown, path: string, options: ReadJsonOptions = {}): Table {
  const limit = checkLimit(options.limit);
  if (!Array.isArray(data)) {
    throw new DataReadError(path, `expected an array of objects at the top level, found ${kindOf(data)}`);
  }
  if (data.length === 0) throw new DataReadError(path, 'no rows (an empty array)');
  const rowCount = Math.min(data.length, limit);
  const rows = data as Record<string, unknown>[];

  const kinds = new Map<string, number>();
  // With `limit: 0` the first row still names the columns, as a CSV header or Parquet schema would.
  for (let i = 0; i < Math.max(rowCount, 1); i++) {
    const row: unknown = rows[i];
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new DataReadError(path, `row ${i + 1}: expected an object, found ${kindOf(row)}`, { row: i + 1 });
    }
    for (const key in row) {
      const value = (row as Record<string, unknown>)[key];
      let kind = kinds.get(key) ?? 0;
      if (typeof value === 'number') kind |= NUMBER;
      else if (typeof value === 'boolean') kind |= BOOLEAN;
      else if (typeof value === 'string') kind |= STRING;
      else if (value !== null) {
        throw new DataReadError(
          path,
          `row ${i + 1}, column ${JSON.stringify(key)}: nested values (${kindOf(value)}) are not supported`,
          { row: i + 1, column: key }
        );
      }
      kinds.set(key, kind);
    }
  }

  const names = selectColumns(path, [...kinds.keys()], options.columns);
  const columns: Record<string, Column> = {};
  for (const name of names) {
    const values = new Array<unknown>(rowCount);
    for (let i = 0; i < rowCount; i++) values[i] = Object.hasOwn(rows[i]!, name) ? rows[i]![name] : null;
    columns[name] = buildColumn(values, jsonTypeOf(values, kinds.get(name)!, options.expectedTypes?.[name]));
  }
  return { rowCount, names, columns };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function jsonTypeOf(values: unknown[], kind: number, expected: ColumnType | undefined): ColumnType {
  if (kind === 0) return expected ?? 'string';
  if (expected === 'string') return 'string';
  if (expected === 'timestamp' && kind === STRING) {
    if (values.every((v) => v === null || parseIsoTimestamp(v as string) !== undefined)) return 'timestamp';
  }
  if (kind === NUMBER) return 'number';
  if (kind === BOOLEAN) return 'boolean';
  return 'string';
}

function buildColumn(values: unknown[], type: ColumnType): Column {
  const n = values.length;
  if (type === 'string') {
    const dictionary = new StringDictionary();
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) codes[i] = values[i] === null ? -1 : dictionary.code(String(values[i]));
    return { type, codes, dictionary: dictionary.values };
  }
  const missing = new Uint8Array(n);
  if (type === 'boolean') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (values[i] === null) missing[i] = 1;
      else out[i] = values[i] ? 1 : 0;
    }
    return { type, values: out, missing };
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (value === null) missing[i] = 1;
    else out[i] = type === 'timestamp' ? parseIsoTimestamp(value as string)! : (value as number);
  }
  return { type, values: out, missing };
}
