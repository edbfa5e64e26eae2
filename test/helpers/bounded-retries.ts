// A workflow interceptor the integration tests bundle with Cairn's workflows: every activity any test schedules is
// checked, and one with an unbounded retry policy fails its workflow at once, naming it.
import { ApplicationFailure } from '@temporalio/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { unboundedRetry } from '../../workflows/retry.js';

function check(activityType: string, options: Parameters<typeof unboundedRetry>[0]): void {
  const why = unboundedRetry(options);
  if (why) throw ApplicationFailure.nonRetryable(`activity ${activityType}: ${why}`, 'UnboundedRetry');
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity(input, next) {
        check(input.activityType, input.options);
        return next(input);
      },
      scheduleLocalActivity(input, next) {
        check(input.activityType, input.options);
        return next(input);
      },
    },
  ],
});
