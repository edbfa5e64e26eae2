import Papa from 'papaparse';
import { StringDictionary, parseBoolean, parseIsoTimestamp, parseNumber } from './cells.js';
import { checkLimit, readText, selectColumns } from './source-file.js';
import type { ReadOptions } from './source-file.js';
import { DataReadError } from './table.js';
import type { Column, ColumnType, Table } from './table.js';

export interface ReadCsvOptions extends ReadOptions {
  /**
   * The type a column should have when its cells allow it, e.g. `'string'` for zip codes that look numeric, or any
   * type for a column that is entirely empty. A column whose cells do not fit keeps its inferred type, so the contract
   * check reports the mismatch with example rows instead of the reader failing on the first bad cell.
   */
  expectedTypes?: Record<string, ColumnType>;
  /** @default ',' */
  delimiter?: string;
}

/**
 * Reads a CSV file with a header row. Each column gets the first type all its non-empty cells fit: `number` (decimal
 * numbers and the literals NaN, Infinity, -Infinity), `boolean` (true/false, any case), `timestamp` (ISO 8601 dates
 * or date-times, UTC unless a zone is given), else `string`. An empty cell is missing; a column with no values is
 * `string` unless `expectedTypes` says otherwise. Blank lines are skipped.
 */
export async function readCsv(path: string, options: ReadCsvOptions = {}): Promise<Table> {
  const limit = checkLimit(options.limit);
  const text = await readText(path);

  let header: string[] | undefined;
  let picks: number[] = [];
  let cells: string[][] = [];
  let names: string[] = [];
  let rowCount = 0;
  /** 1-based data row as a user counts lines below the header (blank lines included). */
  let row = 0;
  let failure: Error | undefined;

  Papa.parse<string[]>(text, {
    delimiter: options.delimiter ?? ',',
    step(result, parser) {
      const record = result.data;
      const error = result.errors[0];
      if (!header) {
        if (error) failure = new DataReadError(path, `header row: ${error.message}`, { row: 0 });
        else if (record.length === 1 && record[0] === '') failure = new DataReadError(path, 'no header row');
        else {
          header = record;
          failure = duplicateColumn(path, header);
          if (!failure) {
            try {
              names = selectColumns(path, header, options.columns);
            } catch (err) {
              failure = err as Error;
            }
            picks = names.map((name) => header!.indexOf(name));
            cells = names.map(() => []);
          }
        }
        if (failure) parser.abort();
        return;
      }
      row++;
      if (error) {
        failure = new DataReadError(path, `row ${row}: ${error.message}`, { row });
      } else if (record.length === 1 && record[0] === '') {
        return;
      } else if (record.length !== header.length) {
        failure = new DataReadError(path, `row ${row} has ${record.length} fields, the header has ${header.length}`, {
          row,
        });
      } else if (rowCount < limit) {
        for (let c = 0; c < picks.length; c++) cells[c]!.push(record[picks[c]!]!);
        rowCount++;
      }
      if (failure || rowCount >= limit) parser.abort();
    },
  });

  if (failure) throw failure;
  if (!header) throw new DataReadError(path, 'no header row');
  if (rowCount === 0 && limit > 0) throw new DataReadError(path, 'no rows (only a header)');

  const columns: Record<string, Column> = {};
  names.forEach((name, c) => {
    const values = cells[c]!;
    columns[name] = buildColumn(values, csvTypeOf(values, options.expectedTypes?.[name]));
  });
  return { rowCount, names, columns };
}

function duplicateColumn(path: string, header: string[]): DataReadError | undefined {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) {
      return new DataReadError(path, `the header names column ${JSON.stringify(name)} twice`, { column: name });
    }
    seen.add(name);
  }
  return undefined;
}

const parsers: Record<Exclude<ColumnType, 'string'>, (cell: string) => number | boolean | undefined> = {
  number: parseNumber,
  boolean: parseBoolean,
  timestamp: parseIsoTimestamp,
};

function fits(values: string[], type: ColumnType): boolean {
  if (type === 'string') return true;
  const parse = parsers[type];
  for (const cell of values) if (cell !== '' && parse(cell) === undefined) return false;
  return true;
}

function csvTypeOf(values: string[], expected: ColumnType | undefined): ColumnType {
  if (!values.some((cell) => cell !== '')) return expected ?? 'string';
  if (expected && fits(values, expected)) return expected;
  for (const type of ['number', 'boolean', 'timestamp'] as const) if (fits(values, type)) return type;
  return 'string';
}

function buildColumn(cells: string[], type: ColumnType): Column {
  const n = cells.length;
  if (type === 'string') {
    const dictionary = new StringDictionary();
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) codes[i] = cells[i] === '' ? -1 : dictionary.code(cells[i]!);
    return { type, codes, dictionary: dictionary.values };
  }
  const missing = new Uint8Array(n);
  if (type === 'boolean') {
    const values = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (cells[i] === '') missing[i] = 1;
      else values[i] = parseBoolean(cells[i]!) ? 1 : 0;
    }
    return { type, values, missing };
  }
  const parse = type === 'number' ? parseNumber : parseIsoTimestamp;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (cells[i] === '') missing[i] = 1;
    else values[i] = parse(cells[i]!)!;
  }
  return { type, values, missing };
}
