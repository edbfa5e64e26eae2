import { describe, expect, it } from 'vitest';
import { boundedRetry, NON_RETRYABLE } from '../../../workflows/retry.js';
import { unboundedRetry } from '../../helpers/bounded-retries.js';

describe('retry policies', () => {
  it("are bounded: Cairn's own pass, an unbounded one is named", () => {
    expect(
      unboundedRetry({ retry: boundedRetry({ maximumAttempts: 5, nonRetryable: NON_RETRYABLE }) })
    ).toBeUndefined();
    expect(
      unboundedRetry({ retry: boundedRetry({ maximumAttempts: 10, nonRetryable: ['InvalidConfig'] }) })
    ).toBeUndefined();
    expect(unboundedRetry({ retry: { maximumAttempts: 0 }, scheduleToCloseTimeout: '1h' })).toBeUndefined();
    // Temporal's default: retry forever.
    expect(unboundedRetry({})).toMatch(/no maximumAttempts and there is no scheduleToCloseTimeout/);
    expect(unboundedRetry({ retry: { initialInterval: '1s', maximumAttempts: 0 } })).toMatch(/no maximumAttempts/);
  });
});
