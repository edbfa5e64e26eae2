import { createHash } from 'node:crypto';
import { tableStatistics } from './statistics.js';
import type { TableStatistics } from './statistics.js';
import type { Column, ColumnType, Table } from './table.js';
import { CairnError } from '../errors.js';

/**
 * Canonical binary encoding of a table ("dataset snapshot"):
 *
 *   "CAIRNTBL" | u32 LE header length | header JSON (UTF-8, space-padded to 8 bytes) | one section per column
 *
 * The header is `{"format":"cairn-table","version":1,"rowCount":n,"columns":[{"name","type"[,"dictionary"]}]}`.
 * Sections, each zero-padded to a multiple of 8 bytes so every array starts 8-byte aligned:
 *   number, timestamp: float64 values (n × 8) then missing (n × 1)
 *   boolean:           values (n × 1) then missing (n × 1)
 *   string:            int32 codes (n × 4), -1 = missing
 * Everything is little-endian. The bytes depend only on the data: missing slots hold 0, NaN has one bit pattern,
 * dictionaries are renumbered in order of first appearance without unused entries. So the same rows read from a
 * CSV, a JSON or a Parquet file (with the same types) encode, and hash, the same.
 */
export const SNAPSHOT_FORMAT = 'cairn-table';
export const SNAPSHOT_VERSION = 1;

const MAGIC = Buffer.from('CAIRNTBL', 'latin1');
const PREFIX = MAGIC.length + 4;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ZEROS = new Uint8Array(8);

export interface SchemaField {
  name: string;
  type: ColumnType;
}

export interface DatasetManifest {
  version: 1;
  /** `sha256:<hex>` of `encodeTable(table)`. */
  digest: string;
  rowCount: number;
  schema: SchemaField[];
  /** `sha256:<hex>` of the schema's canonical JSON. */
  schemaDigest: string;
  statistics: TableStatistics;
  /**
   * Where the table was read from: informative only, the digest does not depend on it. An `s3://` prefix lists its
   * parts, and an incremental read the parts it read anew.
   */
  source: ManifestSource;
}

/** Raised by `decodeTable` for bytes that are not a snapshot this version can read. */
export class SnapshotFormatError extends CairnError {
  override readonly name = 'SnapshotFormatError';
  readonly type = 'SnapshotFormatError';
}

interface HeaderColumn {
  name: string;
  type: ColumnType;
  dictionary?: string[];
}

interface Header {
  format: string;
  version: number;
  rowCount: number;
  columns: HeaderColumn[];
}

export function schemaOf(table: Table): SchemaField[] {
  return table.names.map((name) => ({ name, type: table.columns[name]!.type }));
}

export function schemaDigest(schema: SchemaField[]): string {
  const canonical = schema.map(({ name, type }) => ({ name, type }));
  return `sha256:${createHash('sha256').update(JSON.stringify(canonical)).digest('hex')}`;
}

export function encodeTable(table: Table): Buffer {
  const parts = [...encodedParts(table)];
  return Buffer.concat(
    parts,
    parts.reduce((total, part) => total + part.byteLength, 0)
  );
}

/** `sha256:<hex>` of `encodeTable(table)`, hashed part by part without building the whole buffer. */
export function datasetDigest(table: Table): string {
  const hash = createHash('sha256');
  for (const part of encodedParts(table)) hash.update(part);
  return `sha256:${hash.digest('hex')}`;
}

/** One object of an `s3://` prefix source, as listed. */
export interface SourcePart {
  key: string;
  bytes: number;
  etag: string;
}

/** Where a table came from, as the dataset manifest records it. */
export interface ManifestSource {
  path: string;
  bytes: number;
  /** The file's sha256, the listing's (prefixes) or the rows' (queries, URLs). */
  sha256: string;
  /** An `s3://` prefix's parts, in the order read. */
  parts?: SourcePart[];
  /** The parts read this time, when an incremental read reused the previous snapshot for the rest. */
  newParts?: string[];
  /** The feature view snapshots joined onto the rows (point in time), by view. */
  features?: { view: string; snapshot: string }[];
}

export function buildManifest(table: Table, source: ManifestSource): DatasetManifest {
  const schema = schemaOf(table);
  return {
    version: 1,
    digest: datasetDigest(table),
    rowCount: table.rowCount,
    schema,
    schemaDigest: schemaDigest(schema),
    statistics: tableStatistics(table),
    source: {
      path: source.path,
      bytes: source.bytes,
      sha256: source.sha256,
      ...(source.parts ? { parts: source.parts } : {}),
      ...(source.newParts ? { newParts: source.newParts } : {}),
      ...(source.features ? { features: source.features } : {}),
    },
  };
}

function* encodedParts(table: Table): Generator<Uint8Array> {
  const n = table.rowCount;
  const sections: Uint8Array[][] = [];
  const columns: HeaderColumn[] = [];
  for (const name of table.names) {
    const column = table.columns[name]!;
    const length = column.type === 'string' ? column.codes.length : column.values.length;
    if (length !== n || (column.type !== 'string' && column.missing.length !== n)) {
      throw new RangeError(`column ${JSON.stringify(name)} has ${length} rows, the table ${n}`);
    }
    if (column.type === 'string') {
      const { codes, dictionary } = canonicalCodes(column.codes, column.dictionary);
      columns.push({ name, type: column.type, dictionary });
      sections.push([littleEndian(codes, 4)]);
    } else {
      columns.push({ name, type: column.type });
      const values =
        column.type === 'boolean'
          ? bytesOf(canonicalBooleans(column.values, column.missing))
          : littleEndian(canonicalFloats(column.values, column.missing), 8);
      sections.push([values, bytesOf(column.missing)]);
    }
  }
  const header: Header = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, rowCount: n, columns };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(pad(PREFIX + json.length) - PREFIX, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(PREFIX);
  MAGIC.copy(prefix);
  prefix.writeUInt32LE(padded.length, MAGIC.length);
  yield prefix;
  yield padded;
  for (const parts of sections) {
    let length = 0;
    for (const part of parts) {
      yield part;
      length += part.byteLength;
    }
    if (pad(length) > length) yield ZEROS.subarray(0, pad(length) - length);
  }
}

export function decodeTable(buffer: Uint8Array): Table {
  const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (bytes.length < PREFIX || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError('not a Cairn table snapshot (bad magic bytes)');
  }
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  if (PREFIX + headerLength > bytes.length) throw new SnapshotFormatError('truncated snapshot header');
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', PREFIX, PREFIX + headerLength)) as Header;
  } catch (err) {
    throw new SnapshotFormatError(`unreadable snapshot header: ${(err as Error).message}`);
  }
  if (header.format !== SNAPSHOT_FORMAT || header.version !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(`unsupported snapshot ${header.format} version ${header.version}`);
  }
  if (!Number.isSafeInteger(header.rowCount) || header.rowCount < 0 || !Array.isArray(header.columns)) {
    throw new SnapshotFormatError('snapshot header lacks a row count or columns');
  }
  const n = header.rowCount;
  let offset = PREFIX + headerLength;
  const take = (length: number): Uint8Array => {
    if (offset + length > bytes.length) throw new SnapshotFormatError('truncated snapshot data');
    const view = bytes.subarray(offset, offset + length);
    offset += length;
    return view;
  };
  const table: Table = { rowCount: n, names: [], columns: {} };
  for (const { name, type, dictionary } of header.columns) {
    const start = offset;
    let column: Column;
    switch (type) {
      case 'string': {
        const codes = int32s(take(n * 4));
        const size = dictionary?.length ?? 0;
        for (let i = 0; i < n; i++) {
          if (codes[i]! < -1 || codes[i]! >= size) throw new SnapshotFormatError(`column ${name}: code out of range`);
        }
        column = { type, codes, dictionary: dictionary ?? [] };
        break;
      }
      case 'boolean':
        column = { type, values: take(n), missing: take(n) };
        break;
      case 'number':
      case 'timestamp':
        column = { type, values: float64s(take(n * 8)), missing: take(n) };
        break;
      default:
        throw new SnapshotFormatError(`column ${name}: unknown type ${String(type)}`);
    }
    take(pad(offset - start) - (offset - start));
    table.names.push(name);
    table.columns[name] = column;
  }
  if (offset !== bytes.length) throw new SnapshotFormatError(`${bytes.length - offset} unexpected bytes at the end`);
  return table;
}

function pad(length: number): number {
  return (length + 7) & ~7;
}

function bytesOf(array: Float64Array | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** The little-endian bytes of an array: a view on little-endian machines, a swapped copy otherwise. */
function littleEndian(array: Float64Array | Int32Array, width: 4 | 8): Uint8Array {
  if (LITTLE_ENDIAN) return bytesOf(array);
  const copy = Buffer.from(bytesOf(array));
  return width === 8 ? copy.swap64() : copy.swap32();
}

/** Zero-copy when the bytes are aligned (and the machine little-endian), else a copy. */
function float64s(bytes: Uint8Array): Float64Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 8 === 0) {
    return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
  }
  const copy = Buffer.from(bytes);
  if (!LITTLE_ENDIAN) copy.swap64();
  return new Float64Array(copy.buffer, copy.byteOffset, copy.length / 8);
}

function int32s(bytes: Uint8Array): Int32Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0)
    return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const copy = Buffer.from(bytes);
  if (!LITTLE_ENDIAN) copy.swap32();
  return new Int32Array(copy.buffer, copy.byteOffset, copy.length / 4);
}

/** Missing slots as 0 and every NaN as the one quiet NaN; the input itself when it already is. */
function canonicalFloats(values: Float64Array, missing: Uint8Array): Float64Array {
  let i = 0;
  const n = values.length;
  for (; i < n; i++) {
    const v = values[i]!;
    if (v !== v || (missing[i] !== 0 && !Object.is(v, 0))) break;
  }
  if (i === n) return values;
  const copy = new Float64Array(values);
  // Writing NaN through a number may keep another payload: set the bits of 0x7ff8000000000000 directly.
  const words = new Uint32Array(copy.buffer, copy.byteOffset, n * 2);
  const high = LITTLE_ENDIAN ? 1 : 0;
  for (; i < n; i++) {
    if (missing[i] !== 0) copy[i] = 0;
    else if (copy[i] !== copy[i]) {
      words[2 * i + high] = 0x7ff80000;
      words[2 * i + 1 - high] = 0;
    }
  }
  return copy;
}

function canonicalBooleans(values: Uint8Array, missing: Uint8Array): Uint8Array {
  let i = 0;
  const n = values.length;
  for (; i < n; i++) if (values[i]! > 1 || (missing[i] !== 0 && values[i] !== 0)) break;
  if (i === n) return values;
  const copy = new Uint8Array(n);
  for (let j = 0; j < n; j++) copy[j] = missing[j] !== 0 ? 0 : values[j] ? 1 : 0;
  return copy;
}

/**
 * Renumbers codes by first appearance of each distinct value, dropping unused and duplicate dictionary entries, so
 * the encoding does not depend on how the dictionary was built. The input itself when it already is canonical.
 */
function canonicalCodes(codes: Int32Array, dictionary: string[]): { codes: Int32Array; dictionary: string[] } {
  const remap = new Int32Array(dictionary.length).fill(-1);
  const byValue = new Map<string, number>();
  const values: string[] = [];
  let identity = true;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code < 0) {
      if (code !== -1) identity = false;
      continue;
    }
    if (remap[code] === -1) {
      const value = dictionary[code];
      if (value === undefined) throw new RangeError(`code ${code} at row ${i} is outside the dictionary`);
      let next = byValue.get(value);
      if (next === undefined) {
        next = values.length;
        byValue.set(value, next);
        values.push(value);
      }
      remap[code] = next;
      if (next !== code) identity = false;
    }
  }
  if (identity && values.length === dictionary.length) return { codes, dictionary };
  const out = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i]! < 0 ? -1 : remap[codes[i]!]!;
  return { codes: out, dictionary: values };
}
