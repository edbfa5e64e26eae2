import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';

/** A column to write: no missing values (REQUIRED in the Parquet schema). */
export type ParquetColumn =
  | { name: string; type: 'int32'; data: Int32Array }
  | { name: string; type: 'double'; data: Float64Array }
  | { name: string; type: 'string'; data: string[] };

export type ParquetColumnType = ParquetColumn['type'];

export interface WriteParquetOptions {
  /** Page compression. @default 'snappy' */
  compression?: 'snappy' | 'none';
}

const BASIC_TYPES = { int32: 'INT32', double: 'DOUBLE', string: 'STRING' } as const;
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
    data: column.data,
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
