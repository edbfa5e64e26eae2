import { CairnError } from '../errors.js';
/**
 * The columnar table every stage works on: one typed array per column, so columns can be checked in plain loops
 * and handed to worker threads without copying.
 *
 * Missing values (null in JSON, empty in CSV, null in Parquet) are marked in `missing` (1 = missing) and their
 * slot in `values` holds 0; NaN and ±Infinity in `values` are real values read from the data (the validator
 * rejects them in numeric columns).
 */
export type ColumnType = 'number' | 'string' | 'timestamp' | 'boolean';

export interface NumberColumn {
  type: 'number';
  values: Float64Array;
  missing: Uint8Array;
}

/** Milliseconds since the Unix epoch, UTC. */
export interface TimestampColumn {
  type: 'timestamp';
  values: Float64Array;
  missing: Uint8Array;
}

/** 1 = true, 0 = false. */
export interface BooleanColumn {
  type: 'boolean';
  values: Uint8Array;
  missing: Uint8Array;
}

/** Dictionary-encoded strings: `codes[i]` indexes `dictionary`; -1 = missing. Dictionary order = first appearance. */
export interface StringColumn {
  type: 'string';
  codes: Int32Array;
  dictionary: string[];
}

export type Column = NumberColumn | TimestampColumn | BooleanColumn | StringColumn;

export interface Table {
  rowCount: number;
  /** Column names in source order. */
  names: string[];
  columns: Record<string, Column>;
}

export function isMissing(column: Column, row: number): boolean {
  return column.type === 'string' ? column.codes[row]! < 0 : column.missing[row] === 1;
}

/** The value at `row` as JSON would show it (null when missing); for reports and examples, not hot loops. */
export function valueAt(column: Column, row: number): string | number | boolean | null {
  if (isMissing(column, row)) return null;
  switch (column.type) {
    case 'string':
      return column.dictionary[column.codes[row]!]!;
    case 'boolean':
      return column.values[row] === 1;
    case 'timestamp':
      return new Date(column.values[row]!).toISOString();
    default:
      return column.values[row]!;
  }
}

/** Raised by readers: names the file and, where known, the row or column. Not retryable: the data is bad. */
export class DataReadError extends CairnError {
  override readonly name = 'DataReadError';
  readonly type = 'DataReadError';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly details: { row?: number; column?: string } = {}
  ) {
    super(`${file}: ${reason}`);
  }
  override failureDetails() {
    return { file: this.file, reason: this.reason, ...this.details };
  }
}
