const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration as text: a whole number and a unit, '500ms', '5s', '2m', '1h', '7d'. */
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;

/** Milliseconds of a config duration: a number of milliseconds or a string like '500ms', '5s', '2m', '1h'. */
export function durationMs(duration: number | string): number {
  if (typeof duration === 'number') return duration;
  const match = DURATION_PATTERN.exec(duration.trim());
  if (!match)
    throw new RangeError(`expected a duration like '5s' or a number of milliseconds, got ${JSON.stringify(duration)}`);
  return Number(match[1]) * UNITS[match[2] as keyof typeof UNITS];
}
