import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { CairnError } from '../lib/errors.js';

/**
 * Turns errors a retry cannot fix (every non-retryable CairnError: a bad request, config or data, a missing artifact, a
 * conflicting record) into non-retryable failures with their type and details, whatever thread or process raised
 * them; a step's own zod check failing counts as a validation error. Anything else (network, database, store) is
 * rethrown and retried.
 */
export function asFailure(err: unknown): unknown {
  if (err instanceof CairnError && !err.retryable)
    return ApplicationFailure.nonRetryable(
      err.message,
      err.type,
      ...[err.failureDetails()].filter((d) => d !== undefined)
    );
  if (err instanceof z.ZodError)
    return ApplicationFailure.nonRetryable(`validation failed: ${z.prettifyError(err)}`, 'StepValidationError', {
      problems: err.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`),
    });
  return err;
}

/** Runs an activity body, mapping non-retryable errors to failures. */
export async function failFast<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asFailure(err);
  }
}
