import type { RetryPolicy } from '@temporalio/common';
import { NON_RETRYABLE_TYPES } from '../lib/errors.js';

/**
 * A bounded retry policy: transient faults (a crashed or restarted worker, the database or the store away for a
 * while) are retried up to `maximumAttempts`, backing off from 1 s to at most `maximumInterval` (default a minute)
 * apart; the failure types of errors a retry cannot fix (NON_RETRYABLE_TYPES, one per CairnError class) never. Every
 * activity Cairn schedules states its bound with this.
 */
export function boundedRetry(options: { maximumAttempts: number; maximumInterval?: string }): RetryPolicy {
  return {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: options.maximumInterval ?? '1m',
    maximumAttempts: options.maximumAttempts,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  };
}
