import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SnapshotFormatError,
  buildManifest,
  datasetDigest,
  decodeTable,
  encodeTable,
  readCsv,
  readJson,
  readParquet,
  readTable,
  schemaDigest,
  schemaOf,
  valueAt,
} from '../../../lib/data/index.js';
import type { Column, NumberColumn, StringColumn, Table } from '../../../lib/data/index.js';

const FLIGHTS = join(import.meta.dirname, '../../../node_modules/vega-datasets/data/flights-3m.parquet');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-snapshot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Row = Record<string, string | number | boolean | null>;

const ROWS: Row[] = [
  { id: 'a-1', score: 0.5, passed: true, day: '2024-03-01', note: 'first' },
  { id: 'a-2', score: null, passed: false, day: '2024-03-02', note: null },
  { id: 'a-3', score: -12, passed: null, day: null, note: 'say "hi", then go' },
  { id: 'a-1', score: 1e21, passed: true, day: '2024-03-04T10:15:00Z', note: 'first' },
];

function csvOf(rows: Row[]): string {
  const names = Object.keys(rows[0]!);
  const cell = (v: Row[string]): string =>
    v === null ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
  return [names.join(','), ...rows.map((row) => names.map((name) => cell(row[name]!)).join(','))].join('\n') + '\n';
}

async function write(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** Cell by cell, with Object.is so NaN, -0 and missing slots count. */
function expectSameTable(actual: Table, expected: Table): void {
  expect(actual.rowCount).toBe(expected.rowCount);
  expect(actual.names).toEqual(expected.names);
  for (const name of expected.names) {
    const a = actual.columns[name]!;
    const e = expected.columns[name]!;
    expect(a.type).toBe(e.type);
    if (a.type === 'string' && e.type === 'string') {
      expect(a.dictionary).toEqual(e.dictionary);
      expect([...a.codes]).toEqual([...e.codes]);
    } else if (a.type !== 'string' && e.type !== 'string') {
      expect([...a.values]).toEqual([...e.values]);
      expect([...a.missing]).toEqual([...e.missing]);
    }
  }
}

describe('datasetDigest', () => {
  it('is the same for the same rows read from CSV and from JSON, and under another file name', async () => {
    const csv = await write('rows.csv', csvOf(ROWS));
    const json = await write('rows.json', JSON.stringify(ROWS));
    const fromCsv = await readCsv(csv);
    const fromJson = await readJson(json, { expectedTypes: { day: 'timestamp' } });
    expect(schemaOf(fromCsv)).toEqual([
      { name: 'id', type: 'string' },
      { name: 'score', type: 'number' },
      { name: 'passed', type: 'boolean' },
      { name: 'day', type: 'timestamp' },
      { name: 'note', type: 'string' },
    ]);
    expect(schemaOf(fromJson)).toEqual(schemaOf(fromCsv));
    const digest = datasetDigest(fromCsv);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(datasetDigest(fromJson)).toBe(digest);
    expect(encodeTable(fromJson).equals(encodeTable(fromCsv))).toBe(true);

    const renamed = join(dir, 'other-name.csv');
    await rename(csv, renamed);
    expect(datasetDigest(await readCsv(renamed))).toBe(digest);
    expect(datasetDigest(await readTable(renamed, { format: 'csv' }))).toBe(digest);
  });

  it('changes when one value changes', async () => {
    const base = datasetDigest(await readJson(await write('base.json', JSON.stringify(ROWS))));
    const changed = ROWS.map((row) => ({ ...row }));
    changed[2]!.score = -11;
    expect(datasetDigest(await readJson(await write('changed.json', JSON.stringify(changed))))).not.toBe(base);
    const missing = ROWS.map((row) => ({ ...row }));
    missing[0]!.note = null;
    expect(datasetDigest(await readJson(await write('missing.json', JSON.stringify(missing))))).not.toBe(base);
  });

  it('is the same for Parquet rows and the same rows as CSV', async () => {
    const parquet = await readParquet(FLIGHTS, { limit: 2000 });
    const lines = ['date,delay,distance,origin,destination'];
    for (let i = 0; i < parquet.rowCount; i++) {
      lines.push(parquet.names.map((name) => String(valueAt(parquet.columns[name]!, i))).join(','));
    }
    const csv = await readCsv(await write('flights.csv', lines.join('\n')));
    expect(schemaOf(csv)).toEqual(schemaOf(parquet));
    expect(datasetDigest(csv)).toBe(datasetDigest(parquet));
  });

  it('does not depend on how a dictionary was built, nor on what missing slots hold', () => {
    const canonical: Table = {
      rowCount: 4,
      names: ['s', 'n'],
      columns: {
        s: { type: 'string', codes: Int32Array.from([0, 1, -1, 0]), dictionary: ['x', 'y'] },
        n: { type: 'number', values: Float64Array.from([1, 0, NaN, 2]), missing: Uint8Array.from([0, 1, 0, 0]) },
      },
    };
    const other: Table = {
      rowCount: 4,
      names: ['s', 'n'],
      columns: {
        // Unused and reordered entries, and a missing slot holding a stale value.
        s: { type: 'string', codes: Int32Array.from([2, 0, -1, 2]), dictionary: ['y', 'unused', 'x'] },
        n: { type: 'number', values: Float64Array.from([1, 99, NaN, 2]), missing: Uint8Array.from([0, 1, 0, 0]) },
      },
    };
    expect(datasetDigest(other)).toBe(datasetDigest(canonical));
    expect(encodeTable(other).equals(encodeTable(canonical))).toBe(true);
  });
});

describe('encodeTable / decodeTable', () => {
  const table: Table = {
    rowCount: 6,
    names: ['n', 't', 'b', 's', 'empty'],
    columns: {
      n: {
        type: 'number',
        values: Float64Array.from([1.5, NaN, Infinity, -Infinity, -0, 0]),
        missing: Uint8Array.from([0, 0, 0, 0, 0, 1]),
      },
      t: {
        type: 'timestamp',
        values: Float64Array.from([0, Date.UTC(2024, 0, 1), 0, -1, 1.5, 8.64e15]),
        missing: Uint8Array.from([1, 0, 1, 0, 0, 0]),
      },
      b: { type: 'boolean', values: Uint8Array.from([1, 0, 0, 1, 0, 1]), missing: Uint8Array.from([0, 0, 1, 0, 0, 0]) },
      s: { type: 'string', codes: Int32Array.from([0, 1, -1, 2, 0, 1]), dictionary: ['ä', '', 'é"\n\u0000'] },
      empty: { type: 'string', codes: Int32Array.from([-1, -1, -1, -1, -1, -1]), dictionary: [] },
    },
  };

  it('round-trips values, missing, NaN, ±Infinity, -0 and dictionaries', () => {
    const bytes = encodeTable(table);
    expect(bytes.length % 8).toBe(0);
    const decoded = decodeTable(bytes);
    expectSameTable(decoded, table);
    expect(Object.is((decoded.columns.n as NumberColumn).values[4], -0)).toBe(true);
    expect(encodeTable(decoded).equals(bytes)).toBe(true);
  });

  it('decodes aligned buffers as views and unaligned ones as copies', () => {
    const bytes = encodeTable(table);
    const aligned = new Uint8Array(new ArrayBuffer(bytes.length + 8), 8);
    aligned.set(bytes);
    const view = decodeTable(aligned);
    expect((view.columns.n as NumberColumn).values.buffer).toBe(aligned.buffer);
    const unaligned = new Uint8Array(new ArrayBuffer(bytes.length + 3), 3);
    unaligned.set(bytes);
    const copy = decodeTable(unaligned);
    expect((copy.columns.n as NumberColumn).values.buffer).not.toBe(unaligned.buffer);
    expectSameTable(copy, table);
  });

  it('round-trips a table read from a file', async () => {
    const parquet = await readParquet(FLIGHTS, { limit: 5000 });
    expectSameTable(decodeTable(encodeTable(parquet)), parquet);
  });

  it('writes a readable header', () => {
    const bytes = encodeTable(table);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('CAIRNTBL');
    const header = JSON.parse(bytes.toString('utf8', 12, 12 + bytes.readUInt32LE(8))) as Record<string, unknown>;
    expect(header).toMatchObject({ format: 'cairn-table', version: 1, rowCount: 6 });
    expect(header.columns).toContainEqual({ name: 's', type: 'string', dictionary: ['ä', '', 'é"\n\u0000'] });
  });

  it('refuses bytes that are not a whole snapshot', () => {
    const bytes = encodeTable(table);
    expect(() => decodeTable(Buffer.from('not a snapshot'))).toThrow(SnapshotFormatError);
    expect(() => decodeTable(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated/);
    expect(() => decodeTable(Buffer.concat([bytes, Buffer.alloc(8)]))).toThrow(/unexpected bytes/);
  });
});

describe('buildManifest', () => {
  it('describes the data, its schema and its source', async () => {
    const path = await write('manifest.json', JSON.stringify(ROWS));
    const table = await readJson(path);
    const source = { path, bytes: 123, sha256: 'sha256:' + '0'.repeat(64) };
    const manifest = buildManifest(table, source);
    expect(manifest).toMatchObject({ version: 1, rowCount: 4, digest: datasetDigest(table), source });
    expect(manifest.schemaDigest).toBe(schemaDigest(schemaOf(table)));
    expect(manifest.schemaDigest).not.toBe(schemaDigest([...schemaOf(table)].reverse()));
    expect(manifest.statistics.columns.map((c) => c.name)).toEqual(table.names);
    // JSON-safe: survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(manifest))).toEqual(manifest);
    const column: Column = table.columns.id!;
    expect((column as StringColumn).dictionary).toEqual(['a-1', 'a-2', 'a-3']);
  });
});
