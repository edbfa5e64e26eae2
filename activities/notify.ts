import { activityInfo } from '@temporalio/activity';
import { ConfigError } from '../lib/config/load.js';
import type { NotificationEvent, NotificationEventType } from '../lib/notifications/events.js';
import { sendWebhook } from '../lib/notifications/webhooks.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';

export function createNotifyActivities(deps: ActivityDeps) {
  const webhooks = deps.notifications?.webhooks ?? [];
  return {
    /** The names of the webhooks subscribed to `type` (none unless `notifications.webhooks` lists some). */
    async notificationTargets(a: { type: NotificationEventType }): Promise<string[]> {
      return webhooks.filter((w) => w.events.includes(a.type)).map((w) => w.name);
    },

    /**
     * One signed delivery of `event` to the webhook named `webhook`. A receiver away or failing (connection refused,
     * timeout, 408, 429, 5xx) fails the attempt and the retry policy tries again; a 4xx refusal is final. Every
     * attempt carries the event's id, so a receiver drops the repeat of a delivery whose answer got lost.
     */
    async deliverWebhook(a: { webhook: string; event: NotificationEvent }): Promise<{ status: number }> {
      return failFast(async () => {
        const webhook = webhooks.find((w) => w.name === a.webhook);
        const { links } = deps.notifications ?? {};
        if (!webhook || !links)
          throw new ConfigError(`notifications.webhooks: no webhook named ${a.webhook} on this worker`);
        const { status } = await sendWebhook(webhook, a.event, links);
        deps.logger.info(
          { webhook: webhook.name, event: a.event.type, delivery: a.event.id, attempt: activityInfo().attempt, status },
          'notification delivered'
        );
        return { status };
      });
    },
  };
}
