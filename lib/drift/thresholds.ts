/**
 * When a column counts as drifted. The defaults are the ones the established tools ship (Evidently, NannyML,
 * Alibi Detect): PSI 0.1 to warn and 0.25 to alert, a KS or chi-squared p-value below 0.05 after a multiple-testing
 * correction, and on large samples the distance measures instead of the tests (Jensen-Shannon distance 0.1,
 * Wasserstein distance 0.1 reference standard deviations), because there a test flags shifts too small to matter.
 */
import { z } from 'zod';

const correction = (name: string) =>
  z.enum(['bonferroni', 'benjamini-hochberg', 'none'], {
    error: `${name} must be 'bonferroni', 'benjamini-hochberg' or 'none'`,
  });

/** A group of thresholds; `name` is its path in messages (empty at the top). */
function group<Shape extends z.core.$ZodLooseShape>(name: string, shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
        return `unknown threshold ${keys}${name ? ` in ${name}` : ''} (known: ${known})`;
      }
      if (issue.code === 'invalid_type') return `${name || 'drift thresholds'} must be an object`;
      return undefined;
    },
  });
}

const positive = (name: string) => z.number({ error: `${name} must be a number` }).positive(`${name} must be > 0`);

const pValue = (name: string) =>
  z
    .number({ error: `${name} must be a number` })
    .gt(0, `${name} is a significance level and must be in (0, 1)`)
    .lt(1, `${name} is a significance level and must be in (0, 1)`);

/**
 * User overrides of the thresholds, completed from the defaults: `{ psi: { alert: 0.2 } }` keeps every other value.
 * Unknown keys are refused (a misspelt threshold would otherwise be silently ignored).
 */
export const driftThresholdsSchema = group('', {
  psi: group('psi', {
    /** PSI at or above this is 'warn'. @default 0.1 */
    warn: positive('psi.warn').default(0.1),
    /** PSI at or above this is 'alert' (drift) on large samples. @default 0.25 */
    alert: positive('psi.alert').default(0.25),
  }).prefault({}),
  ks: group('ks', {
    /** Drift when the (corrected) KS p-value is below this. @default 0.05 */
    pValue: pValue('ks.pValue').default(0.05),
    /** Correction over all the tests of one check. @default 'bonferroni' */
    correction: correction('ks.correction').default('bonferroni'),
  }).prefault({}),
  jensenShannon: group('jensenShannon', {
    /** Jensen-Shannon distance (base 2, in [0, 1]) at or above this is drift on large samples. @default 0.1 */
    alert: positive('jensenShannon.alert')
      .max(1, 'jensenShannon.alert must be <= 1 (the distance is at most 1)')
      .default(0.1),
  }).prefault({}),
  wasserstein: group('wasserstein', {
    /** Wasserstein distance in reference standard deviations at or above this is drift on large samples. @default 0.1 */
    alert: positive('wasserstein.alert').default(0.1),
  }).prefault({}),
  chiSquared: group('chiSquared', {
    /** Drift when the (corrected) chi-squared p-value is below this. @default 0.05 */
    pValue: pValue('chiSquared.pValue').default(0.05),
    /** Correction over all the tests of one check. @default 'bonferroni' */
    correction: correction('chiSquared.correction').default('bonferroni'),
  }).prefault({}),
  /**
   * Tests (KS, chi-squared) while neither sample is larger than this (for KS the reference side is its reservoir
   * sample), distance measures above it. @default 10000
   */
  largeSampleSize: z
    .number({ error: 'largeSampleSize must be a number' })
    .int('largeSampleSize must be an integer')
    .min(2, 'largeSampleSize must be >= 2')
    .default(10_000),
})
  .prefault({})
  .superRefine((t, ctx) => {
    if (t.psi.warn >= t.psi.alert) {
      ctx.addIssue({
        code: 'custom',
        path: ['psi', 'warn'],
        message: `psi.warn (${t.psi.warn}) must be less than psi.alert (${t.psi.alert})`,
      });
    }
  });

export type DriftThresholds = z.output<typeof driftThresholdsSchema>;
export type DriftThresholdsInput = z.input<typeof driftThresholdsSchema>;

export const DEFAULT_DRIFT_THRESHOLDS: Readonly<DriftThresholds> = Object.freeze({
  psi: Object.freeze({ warn: 0.1, alert: 0.25 }),
  ks: Object.freeze({ pValue: 0.05, correction: 'bonferroni' as const }),
  jensenShannon: Object.freeze({ alert: 0.1 }),
  wasserstein: Object.freeze({ alert: 0.1 }),
  chiSquared: Object.freeze({ pValue: 0.05, correction: 'bonferroni' as const }),
  largeSampleSize: 10_000,
});

/** Raised for invalid overrides; one line per problem, each naming the threshold. */
export class DriftThresholdsError extends Error {
  override readonly name = 'DriftThresholdsError';
  readonly userFacing = true;
  constructor(readonly problems: string[]) {
    super(`invalid drift thresholds: ${problems.join('; ')}`);
  }
}

/** The thresholds with `overrides` applied; throws DriftThresholdsError when they are invalid. */
export function resolveDriftThresholds(overrides: unknown = {}): DriftThresholds {
  const parsed = driftThresholdsSchema.safeParse(overrides);
  if (parsed.success) return parsed.data;
  throw new DriftThresholdsError(
    parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      // Our messages name their threshold; zod's own (should one get through) get the path in front.
      return !path || issue.message.includes(path) ? issue.message : `${path}: ${issue.message}`;
    })
  );
}
