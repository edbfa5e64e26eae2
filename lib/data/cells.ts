/** Parsing of text cells shared by the CSV and JSON readers. */

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOLEAN = /^(?:true|false)$/i;
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/**
 * A decimal number, or the literals `NaN`, `Infinity`, `+Infinity`, `-Infinity` (kept as values: the validator, not
 * the reader, rejects them). Hex, `1_000` and blank text are not numbers (unlike `Number()`). `undefined` = not a number.
 */
export function parseNumber(text: string): number | undefined {
  const t = text.trim();
  if (NUMBER.test(t)) return Number(t);
  switch (t) {
    case 'NaN':
      return NaN;
    case 'Infinity':
    case '+Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    default:
      return undefined;
  }
}

/** `true` / `false` in any letter case. */
export function parseBoolean(text: string): boolean | undefined {
  const t = text.trim();
  return BOOLEAN.test(t) ? t.length === 4 : undefined;
}

function daysInMonth(year: number, month: number): number {
  return month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;
}

/**
 * Milliseconds since the epoch for an ISO 8601 date (`2012-01-31`) or date-time (`2012-01-31T08:15`,
 * `2012-01-31 08:15:00.123456+01:00`). A date-time without a zone is read as UTC, never as the machine's local time,
 * so the same file gives the same table everywhere. Impossible dates (`2021-02-30`) are not timestamps.
 */
export function parseIsoTimestamp(text: string): number | undefined {
  const m = ISO_TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // Date.UTC would map years 0-99 to 1900-1999
  date.setUTCHours(hour, minute, second, 0);
  let ms = date.getTime();
  const fraction = m[7];
  if (fraction !== undefined) {
    const digits = fraction.padEnd(9, '0');
    ms += Number(digits.slice(0, 3)) + Number(digits.slice(3)) / 1e6;
  }
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMinutes = Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2, 4)) : 0);
    ms -= sign * offsetMinutes * 60_000;
  }
  return ms;
}

/** Interns strings into a dictionary in order of first appearance, as `StringColumn` requires. */
export class StringDictionary {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  code(value: string): number {
    let code = this.index.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.index.set(value, code);
      this.values.push(value);
    }
    return code;
  }
}
