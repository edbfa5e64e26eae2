import type { Column, Table } from '../data/table.js';
import { valueAt } from '../data/table.js';
import type { ColumnRule } from './contract.js';
import type { Violation } from './report.js';

const EXAMPLES = 5;

/** Counts rows that match and keeps the first few as examples. */
class Tally {
  count = 0;
  readonly rows: number[] = [];
  add(row: number): void {
    this.count++;
    if (this.rows.length < EXAMPLES) this.rows.push(row);
  }
}

/** NaN and ±Infinity as the strings they were written as: reports are JSON. */
function jsonSafe(value: ReturnType<typeof valueAt>): string | number | boolean | null {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function violation(
  column: Column | undefined,
  rule: ColumnRule,
  kind: Violation['rule'],
  tally: Tally,
  message: string
): Violation {
  return {
    column: rule.column,
    rule: kind,
    count: tally.count,
    message,
    examples: column ? tally.rows.map((row) => ({ row, value: jsonSafe(valueAt(column, row)) })) : [],
  };
}

/** Numeric rules, and the not-null rule when `notNull` is given, in one pass over the column. */
function checkNumeric(
  column: Column & { values: Float64Array; missing: Uint8Array },
  rule: ColumnRule,
  notNull: Tally | undefined,
  out: Violation[]
): void {
  const nonFinite = new Tally();
  const below = new Tally();
  const above = new Tally();
  const fractional = new Tally();
  const { values, missing } = column;
  const min = rule.min ?? -Infinity;
  const max = rule.max ?? Infinity;
  const integer = rule.integer === true;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) {
      if (notNull) notNull.add(i);
      continue;
    }
    const v = values[i]!;
    // The common case, every rule met, in one test (isInteger and isFinite are false for NaN and ±Infinity).
    if (v >= min && v <= max && (integer ? Number.isInteger(v) : Number.isFinite(v))) continue;
    if (!Number.isFinite(v)) nonFinite.add(i);
    else {
      if (v < min) below.add(i);
      if (v > max) above.add(i);
      if (integer && !Number.isInteger(v)) fractional.add(i);
    }
  }
  if (notNull?.count) out.push(violation(column, rule, 'not-null', notNull, 'missing values in a required column'));
  if (nonFinite.count) out.push(violation(column, rule, 'finite', nonFinite, 'NaN or Infinity in a numeric column'));
  if (below.count) out.push(violation(column, rule, 'min', below, `below the minimum ${rule.min}`));
  if (above.count) out.push(violation(column, rule, 'max', above, `above the maximum ${rule.max}`));
  if (fractional.count) out.push(violation(column, rule, 'integer', fractional, 'not a whole number'));
}

function checkStrings(column: Column & { type: 'string' }, rule: ColumnRule, out: Violation[]): void {
  if (rule.allowed) {
    const allowed = new Set(rule.allowed);
    const bad = column.dictionary.map((value) => !allowed.has(value));
    const tally = new Tally();
    for (let i = 0; i < column.codes.length; i++) {
      const code = column.codes[i]!;
      if (code >= 0 && bad[code]) tally.add(i);
    }
    if (tally.count) {
      const unseen = column.dictionary.filter((_, code) => bad[code]).slice(0, 10);
      out.push(
        violation(
          column,
          rule,
          'allowed-values',
          tally,
          `values outside ${JSON.stringify(rule.allowed)}: ${JSON.stringify(unseen)}`
        )
      );
    }
  }
}

function checkUnique(column: Column, rule: ColumnRule, out: Violation[]): void {
  const tally = new Tally();
  if (column.type === 'string') {
    const seen = new Uint8Array(column.dictionary.length);
    for (let i = 0; i < column.codes.length; i++) {
      const code = column.codes[i]!;
      if (code < 0) continue;
      if (seen[code]) tally.add(i);
      seen[code] = 1;
    }
  } else {
    const seen = new Set<number>();
    for (let i = 0; i < column.values.length; i++) {
      if (column.missing[i] === 1) continue;
      const v = column.values[i]!;
      if (seen.has(v)) tally.add(i);
      seen.add(v);
    }
  }
  if (tally.count) out.push(violation(column, rule, 'unique', tally, 'duplicate values in a unique column'));
}

function checkNotNull(table: Table, column: Column, rule: ColumnRule, out: Violation[]): void {
  const tally = new Tally();
  const rows = table.rowCount;
  if (column.type === 'string') {
    const { codes } = column;
    for (let i = 0; i < rows; i++) if (codes[i]! < 0) tally.add(i);
  } else {
    const { missing } = column;
    for (let i = 0; i < rows; i++) if (missing[i] === 1) tally.add(i);
  }
  if (tally.count) out.push(violation(column, rule, 'not-null', tally, 'missing values in a required column'));
}

const looksNumeric = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));

/**
 * Checks a table against compiled contract rules, column by column. Returns every broken rule with its row count
 * and example rows; an empty list means the data honours the contract.
 */
export function checkContract(table: Table, rules: ColumnRule[]): Violation[] {
  const out: Violation[] = [];
  if (table.rowCount === 0) {
    out.push({ column: '*', rule: 'non-empty', count: 0, message: 'the dataset has no rows', examples: [] });
    return out;
  }
  for (const rule of rules) {
    const column = table.columns[rule.column];
    if (!column) {
      const all = new Tally();
      all.count = table.rowCount;
      out.push(
        violation(
          undefined,
          rule,
          'required-column',
          all,
          `column ${rule.column} is missing (found: ${table.names.join(', ')})`
        )
      );
      continue;
    }
    if (column.type !== rule.type) {
      // Show the rows that make the column the wrong type: for an expected number, the values that are not numbers.
      const tally = new Tally();
      for (let i = 0; i < table.rowCount; i++) {
        const value = valueAt(column, i);
        if (value === null) continue;
        if (rule.type === 'number' && typeof value === 'string' && looksNumeric(value)) continue;
        tally.add(i);
      }
      out.push(violation(column, rule, 'type', tally, `expected ${rule.type}, found ${column.type}`));
      continue;
    }
    // A number column checks not-null in the same pass as its values (the rule counts rows up to `rowCount`).
    const fused = column.type === 'number' && !rule.nullable && column.values.length === table.rowCount;
    if (!rule.nullable && !fused) checkNotNull(table, column, rule, out);
    if (column.type === 'number') checkNumeric(column, rule, fused ? new Tally() : undefined, out);
    if (column.type === 'string') checkStrings(column, rule, out);
    if (rule.unique) checkUnique(column, rule, out);
  }
  return out;
}
