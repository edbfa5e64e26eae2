// A workflow interceptor the integration tests bundle with Cairn's workflows: every activity any test schedules is
// checked, and one with an unbounded retry policy fails its workflow at once, naming it.
import { ApplicationFailure } from '@temporalio/workflow';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';

/** Why an activity's options retry without a bound (no maximumAttempts and no schedule-to-close timeout), if they do. */
export function unboundedRetry(options: { retry?: RetryPolicy; scheduleToCloseTimeout?: unknown }): string | undefined {
  if (options.scheduleToCloseTimeout !== undefined) return undefined;
  const attempts = options.retry?.maximumAttempts;
  if (attempts === undefined || attempts <= 0)
    return `retry policy ${JSON.stringify(options.retry ?? {})} has no maximumAttempts and there is no scheduleToCloseTimeout`;
  return undefined;
}

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
