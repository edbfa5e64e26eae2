import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataReadError, readCsv, readJson, readParquet, readTable, valueAt } from '../../../lib/data/index.js';
import type { Column, NumberColumn, StringColumn, Table, TimestampColumn } from '../../../lib/data/index.js';

const DATA = join(import.meta.dirname, '../../../node_modules/vega-datasets/data');
const PENGUINS = join(DATA, 'penguins.json');
const WEATHER = join(DATA, 'seattle-weather.csv');
const FLIGHTS = join(DATA, 'flights-3m.parquet');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

function types(table: Table): Record<string, string> {
  return Object.fromEntries(table.names.map((name) => [name, table.columns[name]!.type]));
}

function missingCount(column: Column): number {
  let n = 0;
  for (let i = 0; i < (column.type === 'string' ? column.codes.length : column.values.length); i++) {
    if (valueAt(column, i) === null) n++;
  }
  return n;
}

/** Resolves to the DataReadError `promise` rejects with (fails if it resolves or rejects with something else). */
async function readError(promise: Promise<unknown>): Promise<DataReadError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err
  );
  expect(error).toBeInstanceOf(DataReadError);
  return error as DataReadError;
}

describe('readJson on penguins.json', () => {
  it('infers types and missing values from the JSON values', async () => {
    const table = await readJson(PENGUINS);
    expect(table.rowCount).toBe(344);
    expect(types(table)).toEqual({
      Species: 'string',
      Island: 'string',
      'Beak Length (mm)': 'number',
      'Beak Depth (mm)': 'number',
      'Flipper Length (mm)': 'number',
      'Body Mass (g)': 'number',
      Sex: 'string',
    });
    expect(missingCount(table.columns['Body Mass (g)']!)).toBe(2);
    expect(missingCount(table.columns.Sex!)).toBe(10);
    expect(missingCount(table.columns.Species!)).toBe(0);
    const species = table.columns.Species as StringColumn;
    // Dictionaries are in order of first appearance in the file.
    expect(species.dictionary).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    // The dataset's one dirty value stays a value: the contract check, not the reader, rejects it.
    expect((table.columns.Sex as StringColumn).dictionary).toEqual(['MALE', 'FEMALE', '.']);
    expect(valueAt(table.columns['Beak Length (mm)']!, 0)).toBe(39.1);
    expect(valueAt(table.columns['Body Mass (g)']!, 0)).toBe(3750);
    expect(valueAt(table.columns.Sex!, 1)).toBe('FEMALE');
    // Row 4 of the file is all null apart from species and island.
    expect(valueAt(table.columns['Beak Length (mm)']!, 3)).toBeNull();
    expect((table.columns['Beak Length (mm)'] as NumberColumn).values[3]).toBe(0);
    expect(valueAt(table.columns.Island!, 3)).toBe('Torgersen');
  });

  it('reads selected columns in the given order, and a limit', async () => {
    const table = await readJson(PENGUINS, { columns: ['Sex', 'Species'], limit: 5 });
    expect(table.names).toEqual(['Sex', 'Species']);
    expect(table.rowCount).toBe(5);
    expect((table.columns.Sex as StringColumn).codes.length).toBe(5);
  });
});

describe('readCsv on seattle-weather.csv', () => {
  it('infers a timestamp date column and numeric columns', async () => {
    const table = await readCsv(WEATHER);
    expect(table.rowCount).toBe(1461);
    expect(types(table)).toEqual({
      date: 'timestamp',
      precipitation: 'number',
      temp_max: 'number',
      temp_min: 'number',
      wind: 'number',
      weather: 'string',
    });
    const date = table.columns.date as TimestampColumn;
    expect(date.values[0]).toBe(Date.UTC(2012, 0, 1));
    expect(valueAt(date, 1460)).toBe('2015-12-31T00:00:00.000Z');
    expect(valueAt(table.columns.precipitation!, 1)).toBe(10.9);
    expect(valueAt(table.columns.weather!, 0)).toBe('drizzle');
    expect([...(table.columns.weather as StringColumn).dictionary].sort()).toEqual([
      'drizzle',
      'fog',
      'rain',
      'snow',
      'sun',
    ]);
    for (const name of table.names) expect(missingCount(table.columns[name]!)).toBe(0);
  });

  it('readTable picks the reader by extension', async () => {
    expect((await readTable(WEATHER, { limit: 3 })).rowCount).toBe(3);
    expect(types(await readTable(PENGUINS))).toEqual(types(await readJson(PENGUINS)));
    const copy = await write('weather.txt', await readFile(WEATHER));
    expect((await readError(readTable(copy))).message).toContain(copy);
    expect((await readTable(copy, { format: 'csv' })).rowCount).toBe(1461);
  });
});

describe('readParquet on flights-3m.parquet', () => {
  it('reads typed columns that match hyparquet row objects', async () => {
    const table = await readParquet(FLIGHTS, { limit: 100_000 });
    expect(table.rowCount).toBe(100_000);
    expect(table.names).toEqual(['date', 'delay', 'distance', 'origin', 'destination']);
    expect(types(table)).toEqual({
      date: 'timestamp',
      delay: 'number',
      distance: 'number',
      origin: 'string',
      destination: 'string',
    });
    const file = await asyncBufferFromFile(FLIGHTS);
    const rows = await parquetReadObjects({ file, compressors, rowStart: 0, rowEnd: 5 });
    expect(rows).toHaveLength(5);
    rows.forEach((row, i) => {
      expect((table.columns.date as TimestampColumn).values[i]).toBe((row.date as Date).getTime());
      expect(valueAt(table.columns.delay!, i)).toBe(Number(row.delay as bigint));
      expect(valueAt(table.columns.distance!, i)).toBe(Number(row.distance as bigint));
      expect(valueAt(table.columns.origin!, i)).toBe(row.origin);
      expect(valueAt(table.columns.destination!, i)).toBe(row.destination);
    });
    expect(valueAt(table.columns.date!, 0)).toBe('2001-01-01T00:01:00.000Z');
  });

  it('joins row groups at the right rows', async () => {
    // The first row group holds 272,727 rows: read across its end.
    const table = await readParquet(FLIGHTS, { columns: ['origin', 'delay'], limit: 272_730 });
    expect(table.names).toEqual(['origin', 'delay']);
    const file = await asyncBufferFromFile(FLIGHTS);
    const rows = await parquetReadObjects({
      file,
      compressors,
      columns: ['origin', 'delay'],
      rowStart: 272_724,
      rowEnd: 272_730,
    });
    rows.forEach((row, i) => {
      expect(valueAt(table.columns.origin!, 272_724 + i)).toBe(row.origin);
      expect(valueAt(table.columns.delay!, 272_724 + i)).toBe(Number(row.delay as bigint));
    });
  });

  it('names unknown columns', async () => {
    const error = await readError(readParquet(FLIGHTS, { columns: ['delay', 'nope'] }));
    expect(error.message).toContain('"nope"');
    expect(error.message).toContain('date, delay, distance, origin, destination');
  });
});

describe('CSV type inference', () => {
  it('keeps NaN and ±Infinity as numbers, reads booleans, ISO timestamps and missing cells', async () => {
    const path = await write(
      'inference.csv',
      [
        'n,flag,when,mixed,empty,zip',
        '1.5,true,2020-01-01,1,,01234',
        'NaN,FALSE,2020-02-29T12:30:00Z,x,,00501',
        'Infinity,,2020-03-01T00:00:00.250+01:00,2,,',
        '-Infinity,false,,3,,90210',
        ',True,2020-03-01 08:00,,,12345',
        '',
      ].join('\n')
    );
    const table = await readCsv(path, { expectedTypes: { empty: 'number', zip: 'string' } });
    expect(types(table)).toEqual({
      n: 'number',
      flag: 'boolean',
      when: 'timestamp',
      mixed: 'string',
      empty: 'number',
      zip: 'string',
    });
    expect(table.rowCount).toBe(5);
    const n = table.columns.n as NumberColumn;
    expect([...n.values]).toEqual([1.5, NaN, Infinity, -Infinity, 0]);
    expect([...n.missing]).toEqual([0, 0, 0, 0, 1]);
    expect([0, 1, 2, 3, 4].map((i) => valueAt(table.columns.flag!, i))).toEqual([true, false, null, false, true]);
    expect([...(table.columns.when as TimestampColumn).values]).toEqual([
      Date.UTC(2020, 0, 1),
      Date.UTC(2020, 1, 29, 12, 30),
      Date.UTC(2020, 1, 29, 23, 0, 0, 250),
      0,
      Date.UTC(2020, 2, 1, 8),
    ]);
    expect(valueAt(table.columns.mixed!, 1)).toBe('x');
    expect(valueAt(table.columns.zip!, 0)).toBe('01234');
    expect(missingCount(table.columns.empty!)).toBe(5);
  });

  it('leaves the inferred type when the expected one does not fit', async () => {
    const path = await write('mismatch.csv', 'a,b\n1,2021-02-30\nx,2021-02-28\n');
    const table = await readCsv(path, { expectedTypes: { a: 'number' } });
    // 2021-02-30 does not exist, so b is not a timestamp column either.
    expect(types(table)).toEqual({ a: 'string', b: 'string' });
  });
});

describe('JSON type inference', () => {
  it('makes a column that mixes JS types a string column', async () => {
    const path = await write('mixed.json', JSON.stringify([{ a: 1, b: true }, { a: 'n/a', b: null }, { a: 3 }]));
    const table = await readJson(path);
    expect(types(table)).toEqual({ a: 'string', b: 'boolean' });
    expect([0, 1, 2].map((i) => valueAt(table.columns.a!, i))).toEqual(['1', 'n/a', '3']);
    expect([0, 1, 2].map((i) => valueAt(table.columns.b!, i))).toEqual([true, null, null]);
  });

  it('reads ISO strings as timestamps only when asked, and types all-null columns as asked', async () => {
    const path = await write(
      'dates.json',
      JSON.stringify([
        { d: '2020-01-01', z: null },
        { d: '2020-01-02T06:00:00Z', z: null },
      ])
    );
    expect(types(await readJson(path))).toEqual({ d: 'string', z: 'string' });
    const table = await readJson(path, { expectedTypes: { d: 'timestamp', z: 'boolean' } });
    expect(types(table)).toEqual({ d: 'timestamp', z: 'boolean' });
    expect([...(table.columns.d as TimestampColumn).values]).toEqual([Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 2, 6)]);
  });
});

describe('read errors name the file and the problem', () => {
  it.each(['empty.csv', 'empty.json', 'empty.parquet'])('empty file: %s', async (name) => {
    const path = await write(name, '');
    const error = await readError(readTable(path));
    expect(error.message).toBe(`${path}: empty file (0 bytes)`);
    expect(error.file).toBe(path);
  });

  it('a missing file', async () => {
    const path = join(dir, 'absent.csv');
    expect((await readError(readCsv(path))).message).toBe(`${path}: file not found`);
  });

  it('a truncated Parquet file', async () => {
    const bytes = await readFile(FLIGHTS);
    const path = await write('truncated.parquet', bytes.subarray(0, bytes.length >> 1));
    const error = await readError(readParquet(path));
    expect(error.message).toContain(path);
    expect(error.message).toContain('truncated');
  });

  it('a Parquet file with a damaged column chunk', async () => {
    const bytes = Buffer.from(await readFile(FLIGHTS));
    bytes.fill(7, 4_000_000, 4_004_000);
    const path = await write('damaged.parquet', bytes);
    const error = await readError(readParquet(path));
    expect(error.message).toMatch(new RegExp(`^${path}: corrupt .*row group 3`));
  });

  it('a Parquet file whose zeroed bytes still decompress: caught by the footer statistics', async () => {
    const bytes = Buffer.from(await readFile(FLIGHTS));
    bytes.fill(0, 100, 20_000);
    const path = await write('zeroed.parquet', bytes);
    const error = await readError(readParquet(path, { limit: 1000 }));
    expect(error.message).toContain(`${path}: corrupt data in column "date", row group 0`);
    expect(error.details.column).toBe('date');
  });

  it('a CSV file that is not Parquet', async () => {
    const path = await write('text.parquet', 'a,b\n1,2\n');
    expect((await readError(readParquet(path))).message).toContain(`${path}: not a Parquet file`);
  });

  it('a ragged CSV row, by data row number', async () => {
    const path = await write('ragged.csv', 'a,b,c\n1,2,3\n4,5\n6,7,8\n');
    const error = await readError(readCsv(path));
    expect(error.message).toBe(`${path}: row 2 has 2 fields, the header has 3`);
    expect(error.details.row).toBe(2);
  });

  it('a CSV file with only a header', async () => {
    const path = await write('header.csv', 'a,b,c\n');
    expect((await readError(readCsv(path))).message).toBe(`${path}: no rows (only a header)`);
  });

  it('an unterminated quote in CSV', async () => {
    const path = await write('quote.csv', 'a,b\n1,2\n3,"4\n');
    expect((await readError(readCsv(path))).message).toContain(`${path}: row 2:`);
  });

  it('invalid JSON', async () => {
    const path = await write('invalid.json', '[{"a": 1},');
    expect((await readError(readJson(path))).message).toMatch(new RegExp(`^${path}: invalid JSON`));
  });

  it('JSON that is not an array of flat objects', async () => {
    const object = await write('object.json', '{"a": [1, 2]}');
    expect((await readError(readJson(object))).message).toBe(
      `${object}: expected an array of objects at the top level, found an object`
    );
    const nested = await write('nested.json', '[{"a": 1}, {"a": {"b": 2}}]');
    expect((await readError(readJson(nested))).message).toBe(
      `${nested}: row 2, column "a": nested values (an object) are not supported`
    );
    const empty = await write('empty-array.json', '[]');
    expect((await readError(readJson(empty))).message).toContain('no rows');
  });

  it('copies keep working after a rename', async () => {
    const path = join(dir, 'renamed.parquet');
    await copyFile(FLIGHTS, path);
    expect((await readParquet(path, { limit: 10 })).rowCount).toBe(10);
  });
});
