import { StringDictionary } from './cells.js';
import { DataReadError } from './table.js';
import type { Column, ColumnType, Table } from './table.js';

/** One growing column: values (or string codes) and missing flags, doubled as they fill. */
class ColumnBuilder {
  values: Float64Array | Uint8Array | Int32Array;
  missing = new Uint8Array(0);
  readonly dictionary = new StringDictionary();
  length = 0;

  constructor(readonly type: ColumnType) {
    this.values = type === 'string' ? new Int32Array(0) : type === 'boolean' ? new Uint8Array(0) : new Float64Array(0);
  }

  reserve(n: number): void {
    if (this.length + n <= this.values.length) return;
    const size = Math.max(this.length + n, this.values.length * 2, 1024);
    const grown = new (this.values.constructor as Float64ArrayConstructor)(size);
    grown.set(this.values.subarray(0, this.length));
    this.values = grown;
    if (this.type !== 'string') {
      const missing = new Uint8Array(size);
      missing.set(this.missing.subarray(0, this.length));
      this.missing = missing;
    }
  }

  /** Appends one value: a number (ms for timestamps), string, boolean, or null for missing. */
  push(value: number | string | boolean | null): void {
    this.reserve(1);
    const i = this.length++;
    if (this.type === 'string') this.values[i] = value === null ? -1 : this.dictionary.code(value as string);
    else if (value === null) this.missing[i] = 1;
    else this.values[i] = this.type === 'boolean' ? (value ? 1 : 0) : (value as number);
  }

  /** Appends a whole column of the same type, re-coding strings into this column's dictionary. */
  pushColumn(column: Column, rows: number): void {
    this.reserve(rows);
    if (column.type === 'string') {
      const codes = column.dictionary.map((v) => this.dictionary.code(v));
      const out = this.values as Int32Array;
      for (let i = 0; i < rows; i++) out[this.length + i] = column.codes[i]! < 0 ? -1 : codes[column.codes[i]!]!;
    } else {
      this.values.set(column.values.subarray(0, rows), this.length);
      this.missing.set(column.missing.subarray(0, rows), this.length);
    }
    this.length += rows;
  }

  build(): Column {
    const n = this.length;
    if (this.type === 'string')
      return { type: 'string', codes: (this.values as Int32Array).slice(0, n), dictionary: this.dictionary.values };
    const missing = this.missing.slice(0, n);
    if (this.type === 'boolean') return { type: 'boolean', values: (this.values as Uint8Array).slice(0, n), missing };
    return { type: this.type, values: (this.values as Float64Array).slice(0, n), missing };
  }
}

/**
 * Builds one table from parts read one after another (Parquet parts of a prefix, batches of a database cursor):
 * every part must have the same columns with the same types, and the result is the table of all their rows in order,
 * the same table (and dataset digest) as one file of those rows.
 */
export class TableBuilder {
  private columns: { name: string; builder: ColumnBuilder }[] | undefined;

  constructor(private readonly source: string) {}

  get rowCount(): number {
    return this.columns?.[0]?.builder.length ?? 0;
  }

  /** Declares the columns (from the first part, or a cursor's fields); later parts must match. */
  schema(columns: { name: string; type: ColumnType }[], part: string): void {
    if (!this.columns) {
      this.columns = columns.map(({ name, type }) => ({ name, builder: new ColumnBuilder(type) }));
      return;
    }
    const expected = this.columns.map((c) => `${c.name} ${c.builder.type}`).join(', ');
    const got = columns.map((c) => `${c.name} ${c.type}`).join(', ');
    if (expected !== got)
      throw new DataReadError(this.source, `${part} has columns (${got}), the parts before it (${expected})`);
  }

  appendTable(table: Table, part: string, rows = table.rowCount): void {
    this.schema(
      table.names.map((name) => ({ name, type: table.columns[name]!.type })),
      part
    );
    for (const { name, builder } of this.columns!) builder.pushColumn(table.columns[name]!, rows);
  }

  /** Appends one row of values in the declared column order. */
  appendRow(values: (number | string | boolean | null)[]): void {
    const columns = this.columns!;
    for (let j = 0; j < columns.length; j++) columns[j]!.builder.push(values[j]!);
  }

  build(): Table {
    if (!this.columns) throw new DataReadError(this.source, 'no rows: the source is empty');
    const table: Table = { rowCount: this.rowCount, names: [], columns: {} };
    for (const { name, builder } of this.columns) {
      table.names.push(name);
      table.columns[name] = builder.build();
    }
    this.columns = undefined;
    return table;
  }
}
