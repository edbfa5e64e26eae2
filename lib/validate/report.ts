/** A rule broken by some rows of a dataset, with how many and which. */
export interface Violation {
  column: string;
  rule:
    | 'required-column'
    | 'type'
    | 'not-null'
    | 'finite'
    | 'min'
    | 'max'
    | 'integer'
    | 'allowed-values'
    | 'unique'
    | 'non-empty';
  /** Rows that break it (for a missing column: every row). */
  count: number;
  message: string;
  /** Up to five rows (0-based) that break it, with their values. */
  examples: { row: number; value: unknown }[];
}

/** A change against the last accepted snapshot of the same pipeline: reported, not fatal. */
export interface Anomaly {
  column: string;
  kind: 'missing-rate-jump' | 'out-of-range-share' | 'unseen-categories';
  message: string;
  value: number;
  reference: number;
  examples?: string[];
}

export interface ValidationReport {
  dataset: string;
  rowCount: number;
  passed: boolean;
  violations: Violation[];
  anomalies: Anomaly[];
  /** The accepted snapshot compared against, if there was one. */
  reference?: string;
}

/** Turns a report into lines a person reads: one per violation with counts and example rows. */
export function formatReport(report: ValidationReport): string {
  const lines = [
    `dataset ${report.dataset}: ${report.rowCount} rows, ${report.passed ? 'passed' : `${report.violations.length} rule(s) broken`}`,
  ];
  for (const v of report.violations) {
    const examples = v.examples.map((e) => `row ${e.row}: ${JSON.stringify(e.value)}`).join(', ');
    lines.push(`  ${v.column} [${v.rule}] ${v.count} row(s): ${v.message}${examples ? ` (e.g. ${examples})` : ''}`);
  }
  for (const a of report.anomalies) lines.push(`  anomaly ${a.column} [${a.kind}]: ${a.message}`);
  return lines.join('\n');
}
