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
    const strings = new StringIds();
    const readParsers: Partial<ParquetParsers> = { ...parsers, stringFromBytes: (bytes) => strings.id(bytes) };
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
      sinks.set(name, new ColumnSink(type, rowCount, node.element, strings));
    }

    let groupStart = 0;
    for (const [group, rowGroup] of metadata.row_groups.entries()) {
      if (groupStart >= rowCount) break;
      const groupEnd = groupStart + Number(rowGroup.num_rows);
      const rowStart = groupStart;
      const rowEnd = Math.min(groupEnd, rowCount);
      for (const sink of sinks.values()) sink.startGroup();
      try {
        await parquetRead({
          file,
          metadata,
          columns: names,
          rowStart,
          rowEnd,
          compressors,
          parsers: readParsers,
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
          name === undefined ? undefined : sinks.get(name)?.check(chunk.meta_data?.statistics, rowEnd === groupEnd);
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

/**
 * Strings decoded by one read, interned: hyparquet decodes each dictionary page once and copies its entries to the
 * rows, so with `stringFromBytes` returning an id the rows arrive as small integers and a column maps ids to its
 * codes through an array instead of looking every row's string up in a map.
 */
class StringIds {
  readonly strings: string[] = [];
  private readonly ids = new Map<string, number>();
  private readonly decoder = new TextDecoder();

  id(bytes: Uint8Array | undefined): number | undefined {
    if (bytes === undefined) return undefined;
    const value = this.decoder.decode(bytes);
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.strings.length;
      this.ids.set(value, id);
      this.strings.push(value);
    }
    return id;
  }
}

/** Copies decoded chunks into one column's typed arrays. */
class ColumnSink {
  readonly column: Column;
  filled = 0;
  private readonly dictionary = new StringDictionary();
  /** String columns: the column's code for each id of `strings`, -1 = not seen yet. */
  private codeOfId = new Int32Array(0);
  /** DATE annotated only with the logical type arrives as days (hyparquet converts the converted type only). */
  private readonly scale: number;
  /** Plain signed numbers and timestamps, whose footer min/max compare directly with what was read. */
  private readonly checkRange: boolean;
  /** What `write` saw since the last `check`: missing values, and the range of the others (if `checkRange`). */
  private missingSeen = 0;
  private minSeen = Infinity;
  private maxSeen = -Infinity;

  constructor(
    type: ColumnType,
    rowCount: number,
    element: SchemaElement,
    private readonly strings: StringIds
  ) {
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

  /** Starts the counts that `check` compares with a row group's footer statistics. */
  startGroup(): void {
    this.missingSeen = 0;
    this.minSeen = Infinity;
    this.maxSeen = -Infinity;
  }

  /**
   * Compares what was written since `startGroup` (rows [rowStart, rowEnd) of one row group) with the footer statistics of the column
   * chunk. Pages without checksums (most writers omit them) can decompress to wrong values without an error; this
   * catches most of those. Returns what is wrong, if anything.
   */
  check(statistics: Statistics | undefined, wholeGroup: boolean): string | undefined {
    if (!statistics) return undefined;
    const missing = this.missingSeen;
    const min = this.minSeen;
    const max = this.maxSeen;
    const nulls = statistics.null_count === undefined ? undefined : Number(statistics.null_count);
    if (nulls !== undefined && (wholeGroup ? missing !== nulls : missing > nulls)) {
      return `${missing} nulls read, the footer says ${nulls}`;
    }
    if (!this.checkRange || min > max) return undefined;
    // Footer timestamps arrive as Dates truncated to whole milliseconds: allow that much.
    const slack = this.column.type === 'timestamp' ? 1 : 0;
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
    const column = this.column;
    if (column.type === 'string') this.writeStrings(column.codes, data, from, to, first);
    else if (column.type === 'boolean') this.writeBooleans(column.values, column.missing, data, from, to, first);
    else if (data instanceof BigInt64Array) this.writeBigInts(column.values, data, from, to, first);
    else if (data instanceof Float64Array || data instanceof Float32Array || data instanceof Int32Array) {
      this.writeTyped(column.values, data, from, to, first);
    } else this.writeValues(column.values, column.missing, data as unknown[], from, to, first);
    this.filled += last - first;
  }

  private writeStrings(codes: Int32Array, data: ArrayLike<unknown>, from: number, to: number, at: number): void {
    const dictionary = this.dictionary;
    const strings = this.strings.strings;
    let codeOfId = this.codeOfId;
    let missing = 0;
    let previous: unknown = undefined;
    let previousCode = -1;
    for (let i = from; i < to; i++) {
      const value: unknown = data[i];
      if (typeof value === 'number') {
        // An id from `StringIds`.
        let code = codeOfId[value];
        if (code === undefined) {
          const grown = new Int32Array(Math.max(strings.length, value + 1)).fill(-1);
          grown.set(codeOfId);
          this.codeOfId = codeOfId = grown;
          code = -1;
        }
        if (code < 0) codeOfId[value] = code = dictionary.code(strings[value]!);
        codes[at + i - from] = code;
      } else {
        // Dictionary-encoded pages repeat the same string objects: skip the map lookup for runs.
        if (value !== previous || i === from) {
          previous = value;
          previousCode = value === null || value === undefined ? -1 : dictionary.code(String(value));
        }
        codes[at + i - from] = previousCode;
        if (previousCode < 0) missing++;
      }
    }
    this.missingSeen += missing;
  }

  private writeBooleans(
    values: Uint8Array,
    isMissing: Uint8Array,
    data: ArrayLike<unknown>,
    from: number,
    to: number,
    at: number
  ): void {
    let missing = 0;
    for (let i = from; i < to; i++) {
      const value: unknown = data[i];
      if (value === null || value === undefined) {
        isMissing[at + i - from] = 1;
        missing++;
      } else values[at + i - from] = value ? 1 : 0;
    }
    this.missingSeen += missing;
  }

  private writeBigInts(values: Float64Array, data: BigInt64Array, from: number, to: number, at: number): void {
    const scale = this.scale;
    let min = this.minSeen;
    let max = this.maxSeen;
    for (let i = from; i < to; i++) {
      const v = Number(data[i]!) * scale;
      values[at + i - from] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (this.checkRange) {
      this.minSeen = min;
      this.maxSeen = max;
    }
  }

  private writeTyped(
    values: Float64Array,
    data: Float64Array | Float32Array | Int32Array,
    from: number,
    to: number,
    at: number
  ): void {
    values.set(data.subarray(from, to), at);
    const end = at + to - from;
    if (this.scale !== 1) for (let i = at; i < end; i++) values[i]! *= this.scale;
    if (!this.checkRange) return;
    let min = this.minSeen;
    let max = this.maxSeen;
    for (let i = at; i < end; i++) {
      const v = values[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.minSeen = min;
    this.maxSeen = max;
  }

  private writeValues(
    values: Float64Array,
    isMissing: Uint8Array,
    data: ArrayLike<unknown>,
    from: number,
    to: number,
    at: number
  ): void {
    const scale = this.scale;
    let missing = 0;
    let min = this.minSeen;
    let max = this.maxSeen;
    for (let i = from; i < to; i++) {
      const value: unknown = data[i];
      let v: number;
      if (typeof value === 'bigint') v = Number(value) * scale;
      else if (typeof value === 'number') v = value * scale;
      else if (value === null || value === undefined) {
        isMissing[at + i - from] = 1;
        missing++;
        continue;
      } else if (value instanceof Date) v = value.getTime();
      else v = Number(value);
      values[at + i - from] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.missingSeen += missing;
    if (this.checkRange) {
      this.minSeen = min;
      this.maxSeen = max;
    }
  }
}
