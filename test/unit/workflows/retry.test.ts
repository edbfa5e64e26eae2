import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { asFailure } from '../../../activities/failures.js';
import { DataReadError } from '../../../lib/data/table.js';
import { ForwardedError, RecordConflictError } from '../../../lib/errors.js';
import { InvalidConfigError } from '../../../lib/pipeline/run-config.js';
import { boundedRetry } from '../../../workflows/retry.js';
import { unboundedRetry } from '../../helpers/bounded-retries.js';

describe('retry policies', () => {
  it("are bounded: Cairn's own pass, an unbounded one is named", () => {
    expect(unboundedRetry({ retry: boundedRetry({ maximumAttempts: 5 }) })).toBeUndefined();
    expect(unboundedRetry({ retry: { maximumAttempts: 0 }, scheduleToCloseTimeout: '1h' })).toBeUndefined();
    // Temporal's default: retry forever.
    expect(unboundedRetry({})).toMatch(/no maximumAttempts and there is no scheduleToCloseTimeout/);
    expect(unboundedRetry({ retry: { initialInterval: '1s', maximumAttempts: 0 } })).toMatch(/no maximumAttempts/);
  });
});

describe('CairnError to failure', () => {
  it('maps every non-retryable CairnError to a non-retryable failure of its type, with its details', () => {
    const errors = [
      new InvalidConfigError('penguins', ['rounds: expected a number']),
      new DataReadError('data.csv', 'bad number', { row: 3, column: 'x' }),
      new RecordConflictError('taken', 'models'),
      new ForwardedError('MlInputError', 'bad feature', { field: 'x' }),
    ];
    for (const err of errors) {
      const failure = asFailure(err) as ApplicationFailure;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: err.type, nonRetryable: true, message: err.message });
      expect(failure.details).toEqual([err.failureDetails()]);
      // And every workflow's retry policy lists the type: a failure raised without the flag is not retried either.
      expect(boundedRetry({ maximumAttempts: 1 }).nonRetryableErrorTypes).toContain(err.type);
    }
    const transient = new Error('connection reset');
    expect(asFailure(transient)).toBe(transient);
  });
});
