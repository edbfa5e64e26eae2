/** Rows as aligned columns (the first row is usually a header). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()
    )
    .join('\n');
}

export const short = (digest: string | null | undefined, n = 12) =>
  digest ? digest.replace(/^sha256:/, '').slice(0, n) : '-';
