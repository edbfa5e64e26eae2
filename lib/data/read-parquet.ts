import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, ColumnData, FileMetaData, ParquetParsers, SchemaElement, Statistics } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { StringDictionary } from './cells.js';
import { asReadError, checkLimit, fileSize, selectColumns } from './source-file.js';
import type { ReadOptions } from './source-file.js';
import { DataReadError } from './table.js';
import type { Column, ColumnType, Table } from './table.js';

export type ReadParquetOptions = ReadOptions;

/** Timestamps and dates arrive as milliseconds (numbers), never as Date objects. */
const parsers: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (millis: bigint) => Number(millis),
  timestampFromMicroseconds: (micros: bigint) => Number(micros) / 1000,
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos / 1000n) / 1000,
  dateFromDays: (days: number) => days * 86_400_000,
};

/**
 * Reads a Parquet file into a Table, one row group at a time, so memory holds the typed arrays plus one row group's
 * decoded values, never row objects. INT64 becomes a float64 number (exact up to 2^53); TIMESTAMP, DATE and INT96
 * become milliseconds since the epoch (TIMESTAMP without `isAdjustedToUTC` is read as UTC); strings become dictionary
 * codes; nulls become missing. Nested columns (lists, maps, structs) and raw binary are refused with a DataReadError.
 */
export async function readParquet(path: string, options: ReadParquetOptions = {}): Promise<Table> {
  const limit = checkLimit(options.limit);
  const size = await fileSize(path);
  if (size === 0) throw new DataReadError(path, 'empty file (0 bytes)');
  // Magic "PAR1" at both ends plus the 4-byte footer length.
  if (size < 12) throw new DataReadError(path, `not a Parquet file: only ${size} bytes`);

  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw asReadError(path, err);
  }
  try {
    const file = fileBuffer(handle, size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (err) {
      throw wrap(path, 'not a Parquet file, or truncated (no valid footer)', err);
    }

    const schema = parquetSchema(metadata).children;
    const names = selectColumns(
      path,
      schema.map((node) => node.element.name),
      options.columns
    );
    const rowCount = Math.min(Number(metadata.num_rows), limit);
    const sinks = new Map<string, ColumnSink>();
    for (const name of names) {
      const node = schema.find((child) => child.element.name === name)!;
      const type = node.children.length === 0 ? columnTypeOf(node.element) : undefined;
      if (!type || node.element.repetition_type === 'REPEATED') {
        throw new DataReadError(
          path,
          `column ${JSON.stringify(name)}: unsupported Parquet type ${describe(node.element)}`,
          { column: name }
        );
      }
      sinks.set(name, new ColumnSink(type, rowCount, node.element));
    }

    let groupStart = 0;
    for (const [group, rowGroup] of metadata.row_groups.entries()) {
      if (groupStart >= rowCount) break;
      const groupEnd = groupStart + Number(rowGroup.num_rows);
      const rowStart = groupStart;
      const rowEnd = Math.min(groupEnd, rowCount);
      try {
        await parquetRead({
          file,
          metadata,
          columns: names,
          rowStart,
          rowEnd,
          compressors,
          parsers,
          onChunk(chunk: ColumnData) {
            sinks.get(chunk.columnName)?.write(chunk, rowStart, rowEnd);
          },
        });
      } catch (err) {
        throw wrap(path, `corrupt or truncated data in row group ${group} (rows ${rowStart}-${rowEnd - 1})`, err);
      }
      for (const chunk of rowGroup.columns) {
        const name = chunk.meta_data?.path_in_schema[0];
        const problem =
          name === undefined
            ? undefined
            : sinks.get(name)?.check(chunk.meta_data?.statistics, rowStart, rowEnd, rowEnd === groupEnd);
        if (problem) {
          throw new DataReadError(
            path,
            `corrupt data in column ${JSON.stringify(name)}, row group ${group}: ${problem}`,
            { column: name }
          );
        }
      }
      groupStart = groupEnd;
    }

    const columns: Record<string, Column> = {};
    for (const [name, sink] of sinks) {
      if (sink.filled !== rowCount) {
        throw new DataReadError(path, `column ${JSON.stringify(name)}: read ${sink.filled} of ${rowCount} rows`, {
          column: name,
        });
      }
      columns[name] = sink.column;
    }
    return { rowCount, names, columns };
  } finally {
    await handle.close();
  }
}

function wrap(path: string, reason: string, err: unknown): DataReadError {
  if (err instanceof DataReadError) return err;
  const error = new DataReadError(path, `${reason}: ${err instanceof Error ? err.message : String(err)}`);
  error.cause = err;
  return error;
}

/** Reads byte ranges with positioned reads on one open handle; a short read means the file changed or is truncated. */
function fileBuffer(handle: FileHandle, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end = byteLength): Promise<ArrayBuffer> {
      if (start < 0 || end > byteLength || end < start) {
        throw new Error(`byte range ${start}-${end} is outside the file (${byteLength} bytes)`);
      }
      const bytes = new Uint8Array(end - start);
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + done}`);
        done += bytesRead;
      }
      return bytes.buffer;
    },
  };
}

function columnTypeOf(element: SchemaElement): ColumnType | undefined {
  const { type, converted_type: converted, logical_type: logical } = element;
  if (converted === 'DATE' || logical?.type === 'DATE' || logical?.type === 'TIMESTAMP') return 'timestamp';
  if (converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS' || type === 'INT96') return 'timestamp';
  if (converted === 'JSON' || converted === 'BSON' || converted === 'INTERVAL') return undefined;
  switch (logical?.type) {
    case 'JSON':
    case 'BSON':
    case 'VARIANT':
    case 'GEOMETRY':
    case 'GEOGRAPHY':
    case 'FILE':
      return undefined;
    case 'UUID':
      return 'string';
    case 'FLOAT16':
    case 'DECIMAL':
      return 'number';
  }
  if (converted === 'DECIMAL') return 'number';
  switch (type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'BYTE_ARRAY':
      return 'string';
    case 'INT32':
    case 'INT64':
    case 'FLOAT':
    case 'DOUBLE':
      return 'number';
    default:
      return undefined;
  }
}

function statValue(value: unknown): number | undefined {
  const n =
    value instanceof Date
      ? value.getTime()
      : typeof value === 'bigint' || typeof value === 'number'
        ? Number(value)
        : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function describe(element: SchemaElement): string {
  const parts = [element.repetition_type === 'REPEATED' ? 'repeated' : '', element.type ?? 'group'];
  if (element.logical_type) parts.push(element.logical_type.type);
  else if (element.converted_type) parts.push(element.converted_type);
  return parts.filter(Boolean).join(' ');
}

/** Copies decoded chunks into one column's typed arrays. */
class ColumnSink {
  readonly column: Column;
  filled = 0;
  private readonly dictionary = new StringDictionary();
  /** DATE annotated only with the logical type arrives as days (hyparquet converts the converted type only). */
  private readonly scale: number;
  /** Plain signed numbers and timestamps, whose footer min/max compare directly with what was read. */
  private readonly checkRange: boolean;

  constructor(type: ColumnType, rowCount: number, element: SchemaElement) {
    this.scale = element.logical_type?.type === 'DATE' && element.converted_type !== 'DATE' ? 86_400_000 : 1;
    const physical = element.type === 'INT32' || element.type === 'INT64' || element.type === 'DOUBLE';
    const plain =
      !element.converted_type ||
      element.converted_type.startsWith('INT_') ||
      element.converted_type.startsWith('TIMESTAMP');
    const logical = element.logical_type;
    this.checkRange =
      physical &&
      plain &&
      this.scale === 1 &&
      (!logical || logical.type === 'TIMESTAMP' || (logical.type === 'INTEGER' && logical.isSigned));
    switch (type) {
      case 'string':
        this.column = { type, codes: new Int32Array(rowCount), dictionary: this.dictionary.values };
        break;
      case 'boolean':
        this.column = { type, values: new Uint8Array(rowCount), missing: new Uint8Array(rowCount) };
        break;
      default:
        this.column = { type, values: new Float64Array(rowCount), missing: new Uint8Array(rowCount) };
    }
  }

  /**
   * Compares what was read for rows [rowStart, rowEnd) with the footer statistics of the column chunk. Pages without
   * checksums (most writers omit them) can decompress to wrong values without an error; this catches most of those.
   * Returns what is wrong, if anything.
   */
  check(statistics: Statistics | undefined, rowStart: number, rowEnd: number, wholeGroup: boolean): string | undefined {
    if (!statistics) return undefined;
    const column = this.column;
    let missing = 0;
    let min = Infinity;
    let max = -Infinity;
    if (column.type === 'string') {
      for (let i = rowStart; i < rowEnd; i++) if (column.codes[i]! < 0) missing++;
    } else if (column.type === 'boolean' || !this.checkRange) {
      for (let i = rowStart; i < rowEnd; i++) missing += column.missing[i]!;
    } else {
      const { values, missing: isMissing } = column;
      for (let i = rowStart; i < rowEnd; i++) {
        if (isMissing[i] === 1) missing++;
        else {
          const v = values[i]!;
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
    }
    const nulls = statistics.null_count === undefined ? undefined : Number(statistics.null_count);
    if (nulls !== undefined && (wholeGroup ? missing !== nulls : missing > nulls)) {
      return `${missing} nulls read, the footer says ${nulls}`;
    }
    if (!this.checkRange || min > max) return undefined;
    // Footer timestamps arrive as Dates truncated to whole milliseconds: allow that much.
    const slack = column.type === 'timestamp' ? 1 : 0;
    const low = statValue(statistics.min_value);
    const high = statValue(statistics.max_value);
    if ((low !== undefined && min < low - slack) || (high !== undefined && max > high + slack)) {
      return `values from ${min} to ${max} read, the footer says ${low ?? '?'} to ${high ?? '?'}`;
    }
    return undefined;
  }

  /** Chunks may extend past the requested rows; only the overlap with [rowStart, rowEnd) is kept. */
  write(chunk: ColumnData, rowStart: number, rowEnd: number): void {
    const first = Math.max(chunk.rowStart, rowStart);
    const last = Math.min(chunk.rowEnd, rowEnd);
    if (last <= first) return;
    const data = chunk.columnData;
    const from = first - chunk.rowStart;
    const to = last - chunk.rowStart;
    const at = first;
    const column = this.column;
    if (column.type === 'string') {
      const { codes } = column;
      const dictionary = this.dictionary;
      let previous: unknown = undefined;
      let previousCode = -1;
      for (let i = from; i < to; i++) {
        const value: unknown = data[i];
        // Dictionary-encoded pages repeat the same string objects: skip the map lookup for runs.
        if (value !== previous || i === from) {
          previous = value;
          previousCode = value === null || value === undefined ? -1 : dictionary.code(String(value));
        }
        codes[at + i - from] = previousCode;
      }
    } else if (column.type === 'boolean') {
      const { values, missing } = column;
      for (let i = from; i < to; i++) {
        const value: unknown = data[i];
        if (value === null || value === undefined) missing[at + i - from] = 1;
        else values[at + i - from] = value ? 1 : 0;
      }
    } else if (data instanceof Float64Array || data instanceof Float32Array || data instanceof Int32Array) {
      column.values.set(data.subarray(from, to), at);
      if (this.scale !== 1) for (let i = at; i < at + to - from; i++) column.values[i]! *= this.scale;
    } else {
      const { values, missing } = column;
      const scale = this.scale;
      for (let i = from; i < to; i++) {
        const value: unknown = data[i];
        if (value === null || value === undefined) missing[at + i - from] = 1;
        else if (typeof value === 'number') values[at + i - from] = value * scale;
        else if (typeof value === 'bigint') values[at + i - from] = Number(value) * scale;
        else if (value instanceof Date) values[at + i - from] = value.getTime();
        else values[at + i - from] = Number(value);
      }
    }
    this.filled += last - first;
  }
}
