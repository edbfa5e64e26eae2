import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import type { Table } from './table.js';

/** A column to write: no missing values (REQUIRED in the Parquet schema). */
export type ParquetColumn =
  | { name: string; type: 'int32'; data: Int32Array }
  | { name: string; type: 'double'; data: Float64Array }
  /** Milliseconds since the epoch, written as TIMESTAMP_MILLIS (read back as a timestamp column). */
  | { name: string; type: 'timestamp'; data: Float64Array }
  | { name: string; type: 'string'; data: string[] };

export type ParquetColumnType = ParquetColumn['type'];

export interface WriteParquetOptions {
  /** Page compression. @default 'snappy' */
  compression?: 'snappy' | 'none';
}

const BASIC_TYPES = { int32: 'INT32', double: 'DOUBLE', string: 'STRING', timestamp: 'TIMESTAMP' } as const;
const CODECS = { snappy: 'SNAPPY', none: 'UNCOMPRESSED' } as const;

/**
 * Encodes columns as one Parquet file in memory. The bytes depend only on the columns and the options: one row group
 * holds every row, no timestamps or writer versions are recorded, so the same data always gives the same digest.
 */
export function writeParquet(columns: ParquetColumn[], options: WriteParquetOptions = {}): Buffer {
  const rows = columns[0]?.data.length ?? 0;
  for (const column of columns) {
    if (column.data.length !== rows) {
      throw new RangeError(`column ${JSON.stringify(column.name)} has ${column.data.length} rows, expected ${rows}`);
    }
  }
  if (rows === 0) throw new RangeError('cannot write a Parquet file with no rows');
  const columnData: ColumnSource[] = columns.map((column) => ({
    name: column.name,
    // Whole milliseconds go in as numbers (the writer makes each an INT64), not as Date objects: the same bytes in
    // less than half the time. A fractional millisecond goes through a Date, which truncates it.
    data:
      column.type === 'timestamp' && !column.data.every(Number.isInteger)
        ? Array.from(column.data, (ms) => new Date(ms))
        : column.data,
    type: BASIC_TYPES[column.type],
    nullable: false,
  }));
  const buffer = parquetWriteBuffer({
    columnData,
    codec: CODECS[options.compression ?? 'snappy'],
    rowGroupSize: rows,
    createdBy: 'cairn',
  });
  return Buffer.from(buffer);
}

/**
 * Rows of a table as one Parquet file (numbers as DOUBLE, timestamps as TIMESTAMP_MILLIS, strings as STRING): read
 * back, they make the same table. Missing values and boolean columns are not written (RangeError).
 */
export function tableParquet(table: Table, rows: ArrayLike<number>): Buffer {
  return writeParquet(
    table.names.map((name): ParquetColumn => {
      const column = table.columns[name]!;
      const missing = column.type === 'string' ? undefined : column.missing;
      for (let i = 0; i < rows.length; i++)
        if (column.type === 'string' ? column.codes[rows[i]!]! < 0 : missing![rows[i]!])
          throw new RangeError(`column ${name} has a missing value at row ${rows[i]}`);
      if (column.type === 'string')
        return { name, type: 'string', data: Array.from(rows, (r) => column.dictionary[column.codes[r]!]!) };
      if (column.type === 'boolean') throw new RangeError(`column ${name}: boolean columns are not written`);
      const data = Float64Array.from(rows, (r) => column.values[r]!);
      return column.type === 'timestamp' ? { name, type: 'timestamp', data } : { name, type: 'double', data };
    })
  );
}
