import { describe, expect, it } from 'vitest';
import { boundedRetry, STEP_RETRY, unboundedRetry } from '../../../workflows/retry.js';

describe('retry policies', () => {
  it("are bounded: Cairn's own pass, an unbounded one is named", () => {
    expect(unboundedRetry({ retry: STEP_RETRY })).toBeUndefined();
    expect(unboundedRetry({ retry: boundedRetry(['InvalidConfig']) })).toBeUndefined();
    expect(unboundedRetry({ retry: { maximumAttempts: 0 }, scheduleToCloseTimeout: '1h' })).toBeUndefined();
    // Temporal's default: retry forever.
    expect(unboundedRetry({})).toMatch(/no maximumAttempts and there is no scheduleToCloseTimeout/);
    expect(unboundedRetry({ retry: { initialInterval: '1s', maximumAttempts: 0 } })).toMatch(/no maximumAttempts/);
  });
});
