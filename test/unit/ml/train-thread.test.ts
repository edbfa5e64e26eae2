import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { asFailure } from '../../../activities/failures.js';
import { MlInputError } from '../../../lib/ml/types.js';
import { trainInThread } from '../../../lib/training/run.js';

describe('training in a thread', () => {
  it('keeps the type of a trainer input error across the thread, so the activity fails it without retries', async () => {
    const x = Float64Array.from([1, 2, Infinity, 4]);
    const err = await trainInThread(
      {
        trainer: {
          kind: 'gbdt',
          rounds: 2,
          learningRate: 0.1,
          maxDepth: 2,
          minDataInLeaf: 1,
          lambda: 1,
          bins: 16,
          seed: 1,
        },
        task: 'regression',
        names: ['distance'],
        columns: [x],
        y: Float64Array.from([1, 2, 3, 4]),
        checkpointEvery: 10,
      },
      () => undefined
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlInputError);
    expect(err).toMatchObject({
      field: 'distance',
      message: expect.stringMatching(/feature distance row 2 is Infinity/),
    });
    const failure = asFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'MlInputError', nonRetryable: true });
  });
});
