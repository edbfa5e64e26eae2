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
