import { proxyActivities } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import { scorerSpec } from '../lib/prompts/gate.js';
import type { PromptGate } from '../lib/prompts/gate.js';
import type { PromptEvaluation } from '../lib/prompts/registry.js';
import { digest, parseInput } from './input.js';
import { boundedRetry } from './retry.js';

const evaluatePromptInput = z.strictObject({
  prompt: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a prompt name'),
  /** The candidate version. */
  version: z.number().int().positive(),
  /** The evaluation dataset in the object store (`cairn prompts evaluate --data` puts it there). */
  dataset: digest,
  /** How answers are scored; the first scorer's metric is the one the gate compares. */
  scorers: z.array(scorerSpec).min(1),
  /** The alias whose version is the baseline, evaluated on the same rows. @default 'production' */
  against: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .default('production'),
  /** How far below the baseline the candidate may score and still pass. @default 0 */
  tolerance: z.number().min(0).default(0),
  /** The least the candidate must score, baseline or not. */
  minScore: z.number().min(0).max(1).optional(),
  requestedBy: z.string().min(1).default('temporal'),
});
export type EvaluatePromptInput = z.input<typeof evaluatePromptInput>;

export interface EvaluatePromptResult {
  candidate: PromptEvaluation;
  /** The version `against` pointed at, evaluated on the same rows; null when the alias points nowhere yet. */
  baseline: PromptEvaluation | null;
  gate: PromptGate;
}

/**
 * Evaluates a prompt version over a dataset and gates it against the version an alias serves (production): both are
 * rendered over the same rows, answered by the configured OpenAI-compatible endpoint through the response cache (a
 * rerun asks nothing), scored by the same scorers, and recorded. Started by `cairn prompts evaluate`, or by name.
 */
export async function evaluatePrompt(input: EvaluatePromptInput): Promise<EvaluatePromptResult> {
  const args = parseInput('evaluatePrompt', evaluatePromptInput, input);
  const { evaluatePromptVersion } = proxyActivities<Activities>({
    startToCloseTimeout: '2h',
    heartbeatTimeout: '5m',
    retry: boundedRetry({ maximumAttempts: 5 }),
  });
  const common = { dataset: args.dataset, scorers: args.scorers, requestedBy: args.requestedBy };
  const baseline = await evaluatePromptVersion({
    ...common,
    ref: { prompt: args.prompt, alias: args.against },
    role: 'baseline',
  });
  const candidate = (await evaluatePromptVersion({
    ...common,
    ref: { prompt: args.prompt, version: args.version },
    role: 'candidate',
    gate: {
      baseline: baseline && { version: baseline.version, metrics: baseline.metrics },
      tolerance: args.tolerance,
      ...(args.minScore === undefined ? {} : { minScore: args.minScore }),
    },
  }))!;
  return { candidate, baseline, gate: candidate.gate! };
}
