export { DataReadError, isMissing, valueAt } from './table.js';
export type { BooleanColumn, Column, ColumnType, NumberColumn, StringColumn, Table, TimestampColumn } from './table.js';
export { readParquet } from './read-parquet.js';
export type { ReadParquetOptions } from './read-parquet.js';
export { readCsv } from './read-csv.js';
export type { ReadCsvOptions } from './read-csv.js';
export { readJson, tableFromRows } from './read-json.js';
export type { ReadJsonOptions } from './read-json.js';
export { formatOf, readTable } from './read-table.js';
export type { ReadTableOptions, TableFormat } from './read-table.js';
export type { ReadOptions } from './source-file.js';
export { QUANTILES, columnStatistics, equalWidthEdges, histogramOn, tableStatistics } from './statistics.js';
export type {
  BooleanStatistics,
  ColumnStatistics,
  Histogram,
  NumericStatistics,
  Quantiles,
  StatisticsOptions,
  StringStatistics,
  TableStatistics,
} from './statistics.js';
export {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  SnapshotFormatError,
  buildManifest,
  datasetDigest,
  decodeTable,
  encodeTable,
  schemaDigest,
  schemaOf,
} from './snapshot.js';
export type { DatasetManifest, SchemaField } from './snapshot.js';
