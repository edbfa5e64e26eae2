import type { RetryPolicy } from '@temporalio/common';

/** Failure types a retry cannot fix: bad requests, config, data, wiring, step input or output, lost artifacts. */
export const NON_RETRYABLE = [
  'UnknownPipeline',
  'InvalidConfig',
  'DataReadError',
  'DataContractViolation',
  'InvalidWorkflowInput',
  'StepValidationError',
  'PipelineDefinitionError',
  'PipelineWiringError',
  'ProjectLoadError',
  'ArtifactNotFoundError',
  'ArtifactIntegrityError',
];

/**
 * A pipeline step's retry policy: transient faults (network, database, store, a crashed worker) are retried up to
 * 5 attempts over about half a minute of backoff; the types above never.
 */
export const STEP_RETRY: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE,
};

/**
 * Every other activity's retry policy: transient faults (a crashed or restarted worker, the database or the store
 * away for a while) are retried up to 10 attempts, backing off to a minute apart (about 6 minutes in all); the
 * given failure types never. Nothing in Cairn retries without a bound.
 */
export function boundedRetry(nonRetryableErrorTypes: string[] = []): RetryPolicy {
  return {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 10,
    nonRetryableErrorTypes,
  };
}

/** Why an activity's options retry without a bound (no maximumAttempts and no schedule-to-close timeout), if they do. */
export function unboundedRetry(options: { retry?: RetryPolicy; scheduleToCloseTimeout?: unknown }): string | undefined {
  if (options.scheduleToCloseTimeout !== undefined) return undefined;
  const attempts = options.retry?.maximumAttempts;
  if (attempts === undefined || attempts <= 0)
    return `retry policy ${JSON.stringify(options.retry ?? {})} has no maximumAttempts and there is no scheduleToCloseTimeout`;
  return undefined;
}
