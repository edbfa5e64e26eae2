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
 * A bounded retry policy: transient faults (a crashed or restarted worker, the database or the store away for a
 * while) are retried up to `maximumAttempts`, backing off from 1 s to at most a minute apart; the `nonRetryable`
 * failure types never. Every activity Cairn schedules states its bound with this.
 */
export function boundedRetry(options: { maximumAttempts: number; nonRetryable?: string[] }): RetryPolicy {
  return {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: options.maximumAttempts,
    nonRetryableErrorTypes: options.nonRetryable ?? [],
  };
}
