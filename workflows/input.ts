import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';

/**
 * Validates a workflow input (JSON from the CLI, the Temporal UI or `temporal workflow start`).
 * A bad input fails the workflow at once, non-retryably, with every problem named by its field.
 */
export function parseInput<S extends z.ZodType>(workflow: string, schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(input)'}: ${i.message}`);
  throw ApplicationFailure.nonRetryable(`${workflow}: invalid input: ${problems.join('; ')}`, 'InvalidWorkflowInput', {
    problems,
  });
}

/** A content digest in a workflow input: checked here, so a malformed one fails the input, not an activity later. */
export const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected a digest, sha256:<64 hex digits>');

/** An artifact reference in a workflow input. */
export const artifactInput = z.strictObject({ digest, bytes: z.number().int().nonnegative(), uri: z.string().min(1) });
