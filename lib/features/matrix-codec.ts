import type { FeatureMatrix } from '../ml/types.js';

/** A feature matrix and its target as bytes for the artifact store: a JSON header line, then float64 columns. */
export interface EncodedMatrix {
  matrix: FeatureMatrix;
  y: Float64Array;
}

const MAGIC = 'cairn.matrix/v1';

export function encodeMatrix({ matrix, y }: EncodedMatrix): Buffer {
  const header = Buffer.from(`${JSON.stringify({ format: MAGIC, rows: matrix.rows, names: matrix.names })}\n`);
  const pad = (8 - (header.length % 8)) % 8;
  const parts: Uint8Array[] = [header, Buffer.alloc(pad, 0x20)];
  for (const column of [...matrix.columns, y])
    parts.push(new Uint8Array(column.buffer, column.byteOffset, column.byteLength));
  return Buffer.concat(parts);
}

export function decodeMatrix(bytes: Buffer): EncodedMatrix {
  const newline = bytes.indexOf(0x0a);
  const header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as {
    format: string;
    rows: number;
    names: string[];
  };
  if (header.format !== MAGIC) throw new Error(`not a Cairn feature matrix (format ${header.format})`);
  let offset = newline + 1;
  offset += (8 - (offset % 8)) % 8;
  // Copy into an aligned buffer: typed-array views need 8-byte alignment.
  const body = new Float64Array((bytes.length - offset) / 8);
  new Uint8Array(body.buffer).set(bytes.subarray(offset));
  const column = (i: number) => body.subarray(i * header.rows, (i + 1) * header.rows);
  return {
    matrix: { rows: header.rows, names: header.names, columns: header.names.map((_, i) => column(i)) },
    y: column(header.names.length),
  };
}
