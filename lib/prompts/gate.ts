// What a prompt evaluation is asked to do and how its gate decides: plain data and pure functions, used by the
// evaluatePrompt workflow as well as by the activity that evaluates.
import { z } from 'zod';

/** How an answer is scored, from 0 to 1. `name` is the metric's (default the kind, `-` as `_`). */
export const scorerSpec = z.discriminatedUnion('kind', [
  /** 1 when the answer is the reference, both trimmed. */
  z.strictObject({ kind: z.literal('exact'), name: z.string().min(1).optional() }),
  /** 1 when the answer matches the pattern. */
  z.strictObject({
    kind: z.literal('regex'),
    pattern: z.string().min(1),
    flags: z
      .string()
      .regex(/^[imsu]*$/)
      .optional(),
    name: z.string().min(1).optional(),
  }),
  /** 1 when the answer is JSON that the schema accepts. */
  z.strictObject({
    kind: z.literal('json-schema'),
    schema: z.record(z.string(), z.unknown()),
    name: z.string().min(1).optional(),
  }),
  /** The cosine similarity of the answer's and the reference's embeddings by `model` (clamped to 0..1). */
  z.strictObject({
    kind: z.literal('embedding-similarity'),
    model: z.string().min(1),
    name: z.string().min(1).optional(),
  }),
  /** A scorer the project defines (`defineScorer` in cairn.config.ts), by its name. */
  z.strictObject({ kind: z.literal('project'), scorer: z.string().min(1), name: z.string().min(1).optional() }),
]);
export type ScorerSpec = z.output<typeof scorerSpec>;

export const metricName = (s: ScorerSpec) => s.name ?? (s.kind === 'project' ? s.scorer : s.kind).replaceAll('-', '_');

export interface PromptGate {
  passed: boolean;
  /** The metric compared: the first scorer's. */
  metric: string;
  candidate: number;
  /** The baseline's value on the same rows, when there is a baseline. */
  baseline?: number;
  baselineVersion?: number;
  tolerance: number;
  minScore?: number;
  reasons: string[];
}

/**
 * The gate: the candidate's first metric at least the baseline's minus `tolerance` (when a baseline version exists)
 * and at least `minScore` (when given).
 */
export function promptGate(
  metric: string,
  candidate: number,
  baseline: { version: number; value: number } | undefined,
  options: { tolerance: number; minScore?: number }
): PromptGate {
  const reasons: string[] = [];
  if (baseline && candidate < baseline.value - options.tolerance)
    reasons.push(
      `${metric} ${candidate.toFixed(4)} is below the baseline v${baseline.version}'s ${baseline.value.toFixed(4)}` +
        (options.tolerance ? ` by more than ${options.tolerance}` : '')
    );
  if (options.minScore !== undefined && candidate < options.minScore)
    reasons.push(`${metric} ${candidate.toFixed(4)} is below the minimum ${options.minScore}`);
  return {
    passed: reasons.length === 0,
    metric,
    candidate,
    ...(baseline ? { baseline: baseline.value, baselineVersion: baseline.version } : {}),
    tolerance: options.tolerance,
    ...(options.minScore === undefined ? {} : { minScore: options.minScore }),
    reasons,
  };
}
