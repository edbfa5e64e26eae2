import type { Column, StringColumn } from '../data/table.js';
import type { FeatureDef } from './feature.js';

function numericValue(column: Column, row: number): number {
  if (column.type === 'string') return Number.NaN;
  return column.missing[row] === 1 ? Number.NaN : column.values[row]!;
}

function requireString(name: string, column: Column): StringColumn {
  if (column.type !== 'string') throw new TypeError(`feature ${name} needs a string column, got ${column.type}`);
  return column;
}

/** A numeric, timestamp or boolean column as it is (missing → NaN). */
export function numeric(column: string, name = column): FeatureDef<null> {
  return {
    name,
    kind: 'numeric',
    inputs: [column],
    fit: () => null,
    apply([col], _state, rows, out) {
      for (let i = 0; i < rows.length; i++) out[i] = numericValue(col!, rows[i]!);
    },
  };
}

export interface CategoryState {
  /** Levels by training frequency (descending, ties by name); index = encoded value. Others encode as `levels.length`. */
  levels: string[];
}

/**
 * A string column as an integer level: the `maxLevels` most frequent training values get 0..n-1, any other value
 * (rare, or unseen in training) gets n, missing is NaN.
 */
// A fitted state's levels by value, made once per state: the online server applies the same state to every request.
const levelIndexes = new WeakMap<CategoryState, Map<string, number>>();
function levelIndex(state: CategoryState): Map<string, number> {
  let index = levelIndexes.get(state);
  if (!index) levelIndexes.set(state, (index = new Map(state.levels.map((value, level) => [value, level]))));
  return index;
}

export function category(
  column: string,
  options: { maxLevels?: number; name?: string } = {}
): FeatureDef<CategoryState> {
  const maxLevels = options.maxLevels ?? 255;
  const name = options.name ?? column;
  return {
    name,
    kind: 'category',
    params: { maxLevels },
    inputs: [column],
    fit([col], rows) {
      const c = requireString(name, col!);
      const counts = new Float64Array(c.dictionary.length);
      for (let i = 0; i < rows.length; i++) {
        const code = c.codes[rows[i]!]!;
        if (code >= 0) counts[code]!++;
      }
      const seen = c.dictionary.map((value, code) => ({ value, count: counts[code]! })).filter((e) => e.count > 0);
      seen.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
      return { levels: seen.slice(0, maxLevels).map((e) => e.value) };
    },
    apply([col], state, rows, out) {
      const c = requireString(name, col!);
      const index = levelIndex(state);
      const other = state.levels.length;
      const levelOf = Float64Array.from(c.dictionary, (value) => index.get(value) ?? other);
      for (let i = 0; i < rows.length; i++) {
        const code = c.codes[rows[i]!]!;
        out[i] = code < 0 ? Number.NaN : levelOf[code]!;
      }
    },
  };
}

const DATE_PARTS = {
  hour: (d: Date) => d.getUTCHours(),
  weekday: (d: Date) => d.getUTCDay(),
  month: (d: Date) => d.getUTCMonth() + 1,
  dayOfMonth: (d: Date) => d.getUTCDate(),
} as const;
export type DatePart = keyof typeof DATE_PARTS;

/** A calendar part (UTC) of a timestamp column: `hour` 0-23, `weekday` 0 (Sunday)-6, `month` 1-12, `dayOfMonth`. */
export function datePart(column: string, part: DatePart, name = `${column}_${part}`): FeatureDef<null> {
  const of = DATE_PARTS[part];
  return {
    name,
    kind: 'date-part',
    params: { part },
    inputs: [column],
    fit: () => null,
    apply([col], _state, rows, out) {
      const date = new Date(0);
      for (let i = 0; i < rows.length; i++) {
        const ms = numericValue(col!, rows[i]!);
        if (Number.isNaN(ms)) out[i] = Number.NaN;
        else {
          date.setTime(ms);
          out[i] = of(date);
        }
      }
    },
  };
}

export interface BucketState {
  /** Ascending inner edges; a value v lands in the number of edges <= v. */
  edges: number[];
}

/** A numeric column cut into `buckets` training quantiles (0..buckets-1); missing → NaN. */
export function bucketize(column: string, buckets: number, name = `${column}_bucket`): FeatureDef<BucketState> {
  return {
    name,
    kind: 'bucketize',
    params: { buckets },
    inputs: [column],
    fit([col], rows) {
      const values: number[] = [];
      for (let i = 0; i < rows.length; i++) {
        const v = numericValue(col!, rows[i]!);
        if (Number.isFinite(v)) values.push(v);
      }
      values.sort((a, b) => a - b);
      const edges: number[] = [];
      for (let b = 1; b < buckets && values.length; b++) {
        const edge = values[Math.min(values.length - 1, Math.floor((b * values.length) / buckets))]!;
        if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
      }
      return { edges };
    },
    apply([col], state, rows, out) {
      const { edges } = state;
      for (let i = 0; i < rows.length; i++) {
        const v = numericValue(col!, rows[i]!);
        if (Number.isNaN(v)) {
          out[i] = Number.NaN;
          continue;
        }
        let lo = 0;
        let hi = edges.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (edges[mid]! <= v) lo = mid + 1;
          else hi = mid;
        }
        out[i] = lo;
      }
    },
  };
}
