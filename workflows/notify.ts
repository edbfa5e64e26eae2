import {
  ApplicationFailure,
  CancellationScope,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { notificationId } from '../lib/notifications/events.js';
import type { NotificationEvent } from '../lib/notifications/events.js';
import { boundedRetry } from './retry.js';

/**
 * A delivery is tried for an hour at most: 1 s, 2 s, 4 s… apart, never more than 30 s, so a receiver back from an
 * outage hears within 30 s. A refusal (4xx but 408 and 429) is final (`WebhookRejected` is non-retryable).
 */
const { deliverWebhook } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '1h',
  retry: boundedRetry({ maximumAttempts: 200, maximumInterval: '30s' }),
});

// Which webhooks an event goes to is the worker's config: a local activity, no round trip to the server.
const { notificationTargets } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: boundedRetry({ maximumAttempts: 3 }),
});

export interface NotifyWebhooksInput {
  event: NotificationEvent;
  /** Names of the webhooks (`notifications.webhooks[].name`) to deliver to. */
  webhooks: string[];
}

/**
 * Delivers one event to its webhooks, each retried on its own. Started by `notify` as an abandoned child, so it
 * outlives the workflow the event happened in; it fails (visibly, in the UI) only when a webhook never took it.
 */
export async function notifyWebhooks(input: NotifyWebhooksInput): Promise<{ delivered: string[] }> {
  const results = await Promise.allSettled(
    input.webhooks.map((webhook) => deliverWebhook({ webhook, event: input.event }))
  );
  const delivered = input.webhooks.filter((_, i) => results[i]!.status === 'fulfilled');
  const lost = results.flatMap((r, i) => (r.status === 'rejected' ? [`${input.webhooks[i]}: ${cause(r.reason)}`] : []));
  if (lost.length)
    throw ApplicationFailure.nonRetryable(
      `${input.event.type} ${input.event.id} not delivered to ${lost.join('; ')}`,
      'WebhookNotDelivered',
      { delivered }
    );
  return { delivered };
}

const cause = (err: unknown) =>
  err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);

/** An event as a workflow reports it; `notify` adds its id, time and workflow. */
export type WorkflowEvent = Omit<NotificationEvent, 'id' | 'at' | 'workflowId'>;

/**
 * Tells the webhooks subscribed to `event.type`, without waiting for any of them: a `notifyWebhooks` child (id
 * `notify-<event id>`) is started with ParentClosePolicy ABANDON, so its retries are Temporal's, survive any worker
 * restart and outlive this workflow, and a receiver that is down costs this workflow one round trip to start the
 * child. Nothing here fails the calling workflow: a notification that cannot even start is logged. Histories from
 * before notifications replay without them (patch 'webhook-notifications').
 */
export async function notify(event: WorkflowEvent): Promise<void> {
  if (!patched('webhook-notifications')) return;
  const info = workflowInfo();
  const { type, ...rest } = event;
  const full: NotificationEvent = {
    id: notificationId(info, type, event.seq),
    type,
    at: new Date().toISOString(),
    workflowId: info.workflowId,
    ...rest,
  };
  try {
    const webhooks = await notificationTargets({ type });
    if (webhooks.length === 0) return;
    // Not cancellable: cancelling this workflow later must not cancel a delivery already under way.
    await CancellationScope.nonCancellable(() =>
      startChild(notifyWebhooks, {
        workflowId: `notify-${full.id}`,
        args: [{ event: full, webhooks }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      })
    );
  } catch (err) {
    // The same event started twice (a reset replaying past it) leaves the first delivery to do the work.
    log.warn('notification not started', { event: full.id, error: cause(err) });
  }
}
