import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ArtifactIntegrityError, ArtifactNotFoundError } from '../lib/artifacts/index.js';
import { DataReadError } from '../lib/data/table.js';
import { InvalidConfigError } from '../lib/pipeline/run-config.js';
import { PipelineDefinitionError } from '../lib/pipeline/pipeline.js';
import { ProjectLoadError, UnknownPipelineError } from '../lib/pipeline/project.js';
import { StepValidationError } from '../lib/pipeline/step.js';
import { MlInputError } from '../lib/ml/types.js';

/**
 * Turns errors a retry cannot fix (bad request, bad data, a missing artifact) into non-retryable failures with a type and details;
 * anything else (network, database, store) is rethrown and retried.
 */
export function asFailure(err: unknown): unknown {
  if (err instanceof UnknownPipelineError)
    return ApplicationFailure.nonRetryable(err.message, 'UnknownPipeline', { pipeline: err.pipeline });
  if (err instanceof InvalidConfigError)
    return ApplicationFailure.nonRetryable(err.message, 'InvalidConfig', { problems: err.problems });
  // Content-addressed objects do not come back: a missing or corrupt artifact will be missing or corrupt next time.
  if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError) {
    return ApplicationFailure.nonRetryable(err.message, err.name, { digest: err.digest });
  }
  if (err instanceof DataReadError) {
    return ApplicationFailure.nonRetryable(err.message, 'DataReadError', {
      file: err.file,
      reason: err.reason,
      ...err.details,
    });
  }
  // A trainer's input (params, features) it cannot use fails the same way every time.
  if (err instanceof MlInputError)
    return ApplicationFailure.nonRetryable(err.message, 'MlInputError', { field: err.field ?? null });
  if (err instanceof StepValidationError)
    return ApplicationFailure.nonRetryable(err.message, 'StepValidationError', { problems: err.problems });
  // A step's own zod check failing is a validation error too, whoever threw it.
  if (err instanceof z.ZodError)
    return ApplicationFailure.nonRetryable(`validation failed: ${z.prettifyError(err)}`, 'StepValidationError', {
      problems: err.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`),
    });
  if (err instanceof PipelineDefinitionError || err instanceof ProjectLoadError)
    return ApplicationFailure.nonRetryable(err.message, err.name);
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
