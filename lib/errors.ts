/**
 * Failure types a retry cannot fix: bad requests, config, data, wiring, step input or output, lost artifacts,
 * conflicting records. Every non-retryable `CairnError` has one of them as its `type` (the compiler checks), and every
 * activity retry policy lists them all (workflows/retry.ts), so a workflow never retries one, whatever raised it.
 */
export const NON_RETRYABLE_TYPES = [
  'UnknownPipeline',
  'InvalidConfig',
  'ConfigError',
  'DataReadError',
  'DataContractViolation',
  'SnapshotFormatError',
  'FeatureStateError',
  'InvalidWorkflowInput',
  'StepValidationError',
  'PipelineDefinitionError',
  'PipelineWiringError',
  'ProjectLoadError',
  'ArtifactNotFoundError',
  'ArtifactIntegrityError',
  'MlInputError',
  'InvalidModelRef',
  'UnknownModel',
  'UnknownDataset',
  'DeploymentError',
  'RecordConflict',
  'UntrustedPackage',
  'PythonEnvError',
  'ExternalTrainerFailed',
  'WebhookRejected',
  'FeatureViewError',
  'UnknownFeatureView',
  'FeatureLookupError',
  'PromptDefinitionError',
  'PromptVariablesError',
  'UnknownPrompt',
  'PromptEvaluationError',
  'LlmRequestError',
  'EmbeddingModelError',
  'VectorIndexError',
] as const;
export type NonRetryableType = (typeof NON_RETRYABLE_TYPES)[number];

/**
 * The base of Cairn's own errors, mapped to Temporal failures in one place (activities/failures.ts): `type` names the
 * failure, `retryable` says whether trying again can help, `userFacing` errors are shown as one line (no stack), and
 * `failureDetails()` travel with the failure (the file, field or problems at fault).
 */
export abstract class CairnError extends Error {
  abstract readonly type: NonRetryableType;
  readonly retryable: boolean = false;
  readonly userFacing: boolean = true;

  failureDetails(): Record<string, unknown> | undefined {
    return undefined;
  }
}

/** A write that would make a record say something else than it says: two owners for one key. */
export class RecordConflictError extends CairnError {
  override readonly name = 'RecordConflictError';
  readonly type = 'RecordConflict';
  constructor(
    message: string,
    readonly table: string
  ) {
    super(message);
  }
  override failureDetails() {
    return { table: this.table };
  }
}

/** A CairnError raised in another thread (the training thread), rebuilt with its type, retryability and details. */
export class ForwardedError extends CairnError {
  override readonly name = 'ForwardedError';
  constructor(
    readonly type: NonRetryableType,
    message: string,
    private readonly details?: Record<string, unknown>
  ) {
    super(message);
  }
  override failureDetails() {
    return this.details;
  }
}

/** Whether `type` names a failure a retry cannot fix. */
export const isNonRetryableType = (type: unknown): type is NonRetryableType =>
  (NON_RETRYABLE_TYPES as readonly unknown[]).includes(type);
