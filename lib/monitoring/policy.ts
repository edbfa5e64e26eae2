import { z } from 'zod';
import { driftThresholdsSchema } from '../drift/thresholds.js';

const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(ms|s|m|h|d)$/, "expected a duration like '1h'"),
]);

/**
 * How a deployed model is watched: what `monitorModel` checks, how often, and what a breach does. Declared by the
 * pipeline (`definePipeline({ monitoring })`); a release is refused when the pipeline has none or it is invalid.
 */
export const monitoringPolicySchema = z.strictObject({
  /** How often the monitor checks the latest window of the serving feed. @default '1h' */
  interval: duration.default('1h'),
  /** Contract columns to watch for drift. @default every input column of the contract but timestamps (time always moves) */
  features: z.array(z.string().min(1)).min(1).optional(),
  /** Drift thresholds over the defaults of the established tools (PSI 0.1/0.25, KS p < 0.05 Bonferroni, …). */
  drift: driftThresholdsSchema.optional(),
  /** Alert when the metric measured on feedback labels is worse than at training time by more than this (in its units). */
  performance: z.strictObject({ metric: z.string().min(1), maxDegradation: z.number().positive() }).optional(),
  /** Alert when p99 latency of a window exceeds this. */
  latency: z.strictObject({ p99Ms: z.number().positive() }).optional(),
  /** Fewer rows than this in a window gives a report that says so, with no drift verdict. @default 100 */
  minRows: z.number().int().nonnegative().default(100),
  /** What an alert does besides being recorded and raised as a metric. @default 'on-alert' */
  retrain: z.enum(['never', 'on-alert']).default('on-alert'),
  /** Price of 1,000 predictions, for the cost line of the report. @default 0.001 */
  inferencePricePer1000: z.number().nonnegative().default(0.001),
});

export type MonitoringPolicy = z.input<typeof monitoringPolicySchema>;
export type ResolvedMonitoringPolicy = z.output<typeof monitoringPolicySchema>;

/**
 * Checks a policy against what the model can offer: its input columns and the metrics it was trained with. Returns
 * every problem as a sentence; an empty list means the policy can be used.
 */
export function monitoringPolicyProblems(
  policy: unknown,
  inputs: readonly string[],
  metrics: readonly string[]
): string[] {
  if (policy === undefined) return ['the pipeline defines no monitoring policy (definePipeline({ monitoring }))'];
  const parsed = monitoringPolicySchema.safeParse(policy);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `monitoring.${i.path.join('.') || '(policy)'}: ${i.message}`);
  }
  const problems: string[] = [];
  for (const f of parsed.data.features ?? []) {
    if (!inputs.includes(f))
      problems.push(`monitoring.features: unknown feature ${JSON.stringify(f)} (inputs: ${inputs.join(', ')})`);
  }
  const metric = parsed.data.performance?.metric;
  if (metric !== undefined && !metrics.includes(metric)) {
    problems.push(
      `monitoring.performance.metric: ${metric} was not measured at training (measured: ${metrics.join(', ')})`
    );
  }
  return problems;
}
