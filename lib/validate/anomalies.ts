import type { Table } from '../data/table.js';
import type { Anomaly } from './report.js';

/** What an accepted snapshot looked like, kept to compare the next snapshot of the same pipeline against. */
export interface Profile {
  rowCount: number;
  columns: Record<string, { missingRate: number; min?: number; max?: number; categories?: string[] }>;
}

export interface AnomalyThresholds {
  /** Absolute rise in a column's missing share that is reported. @default 0.05 */
  missingRateJump: number;
  /** Share of values outside the reference [min, max] that is reported. @default 0.01 */
  outOfRangeShare: number;
}

export const DEFAULT_THRESHOLDS: AnomalyThresholds = { missingRateJump: 0.05, outOfRangeShare: 0.01 };

/** Missing share, range and category set per column (categories only up to 10,000 distinct values). */
export function profileTable(table: Table): Profile {
  const columns: Profile['columns'] = {};
  for (const name of table.names) {
    const column = table.columns[name]!;
    let missing = 0;
    if (column.type === 'string') {
      const used = new Uint8Array(column.dictionary.length);
      for (const code of column.codes) {
        if (code < 0) missing++;
        else used[code] = 1;
      }
      const categories = column.dictionary.filter((_, code) => used[code]).sort();
      columns[name] = {
        missingRate: missing / (table.rowCount || 1),
        ...(categories.length <= 10_000 ? { categories } : {}),
      };
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < table.rowCount; i++) {
        if (column.missing[i] === 1) {
          missing++;
          continue;
        }
        const v = column.values[i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      columns[name] = { missingRate: missing / (table.rowCount || 1), ...(min <= max ? { min, max } : {}) };
    }
  }
  return { rowCount: table.rowCount, columns };
}

/** Compares a new snapshot's profile with the last accepted one of the same pipeline. */
export function findAnomalies(
  table: Table,
  current: Profile,
  reference: Profile,
  thresholds = DEFAULT_THRESHOLDS
): Anomaly[] {
  const out: Anomaly[] = [];
  for (const [name, ref] of Object.entries(reference.columns)) {
    const now = current.columns[name];
    const column = table.columns[name];
    if (!now || !column) continue;
    if (now.missingRate - ref.missingRate > thresholds.missingRateJump) {
      out.push({
        column: name,
        kind: 'missing-rate-jump',
        value: now.missingRate,
        reference: ref.missingRate,
        message: `missing share rose from ${(ref.missingRate * 100).toFixed(1)}% to ${(now.missingRate * 100).toFixed(1)}%`,
      });
    }
    if (column.type !== 'string' && ref.min !== undefined && ref.max !== undefined) {
      let outside = 0;
      let present = 0;
      for (let i = 0; i < table.rowCount; i++) {
        if (column.missing[i] === 1) continue;
        present++;
        const v = column.values[i]!;
        if (v < ref.min || v > ref.max) outside++;
      }
      const share = outside / (present || 1);
      if (share > thresholds.outOfRangeShare) {
        out.push({
          column: name,
          kind: 'out-of-range-share',
          value: share,
          reference: thresholds.outOfRangeShare,
          message: `${(share * 100).toFixed(1)}% of values outside the accepted range [${ref.min}, ${ref.max}]`,
        });
      }
    }
    if (ref.categories && now.categories) {
      const known = new Set(ref.categories);
      const unseen = now.categories.filter((c) => !known.has(c));
      if (unseen.length) {
        out.push({
          column: name,
          kind: 'unseen-categories',
          value: unseen.length,
          reference: ref.categories.length,
          message: `${unseen.length} value(s) never seen in the accepted snapshot`,
          examples: unseen.slice(0, 10),
        });
      }
    }
  }
  return out;
}
