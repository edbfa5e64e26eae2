import { extname } from 'node:path';
import { readCsv } from './read-csv.js';
import { readJson } from './read-json.js';
import { readParquet } from './read-parquet.js';
import type { ReadOptions } from './source-file.js';
import { DataReadError } from './table.js';
import type { ColumnType, Table } from './table.js';

export type TableFormat = 'parquet' | 'csv' | 'json';

export interface ReadTableOptions extends ReadOptions {
  /** @default from the extension: .parquet/.pq, .csv, .json */
  format?: TableFormat;
  /** CSV and JSON only (Parquet files carry their types): see `ReadCsvOptions.expectedTypes`. */
  expectedTypes?: Record<string, ColumnType>;
}

const EXTENSIONS: Record<string, TableFormat> = {
  '.parquet': 'parquet',
  '.pq': 'parquet',
  '.csv': 'csv',
  '.json': 'json',
};

/** The format a file's extension implies, if any. */
export function formatOf(path: string): TableFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/** Reads a Parquet, CSV or JSON file into a Table, choosing the reader by `format` or the file extension. */
export async function readTable(path: string, options: ReadTableOptions = {}): Promise<Table> {
  const { format = formatOf(path), expectedTypes, ...read } = options;
  switch (format) {
    case 'parquet':
      return readParquet(path, read);
    case 'csv':
      return readCsv(path, { ...read, expectedTypes });
    case 'json':
      return readJson(path, { ...read, expectedTypes });
    default:
      throw new DataReadError(
        path,
        `unknown format ${JSON.stringify(extname(path))}: expected ${Object.keys(EXTENSIONS).join(', ')} or an explicit format`
      );
  }
}
