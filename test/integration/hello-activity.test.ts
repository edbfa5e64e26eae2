import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { testDeps } from '../helpers/services.js';

const deps = testDeps();
afterAll(() => deps.close());

describe('writeGreeting activity', () => {
  it('is idempotent: a retry of the same execution stores one artifact and one row', async () => {
    const workflowExecution = { workflowId: `retry-${Date.now()}`, runId: 'run-1' };
    const { writeGreeting } = createActivities(deps);
    const first = await new MockActivityEnvironment({ workflowExecution, attempt: 1 }).run(writeGreeting, {
      name: 'Grace',
    });
    const second = await new MockActivityEnvironment({ workflowExecution, attempt: 2 }).run(writeGreeting, {
      name: 'Grace',
    });
    expect(second).toEqual(first);
    const { rows } = await deps.db.query('SELECT count(*)::int AS n FROM cairn.greetings WHERE workflow_id = $1', [
      workflowExecution.workflowId,
    ]);
    expect(rows[0].n).toBe(1);
  });
});
