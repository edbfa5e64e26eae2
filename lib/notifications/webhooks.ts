import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load.js';
import type { CairnConfig } from '../config/schema.js';
import { CairnError } from '../errors.js';
import type { NotificationEvent, NotificationEventType } from './events.js';
import { webhookBody } from './message.js';
import type { NotificationLinks } from './message.js';
import { signWebhook, WEBHOOK_HEADERS } from './signature.js';
import { temporalUiBase } from '../temporal/ui.js';

/** A configured webhook with its secret read. Its URL stays on the workers: workflows name webhooks by `name`. */
export interface Webhook {
  name: string;
  url: string;
  events: NotificationEventType[];
  secret: string;
}

/** What the notification activities need: the webhooks and where links point. */
export interface Notifications {
  webhooks: Webhook[];
  links: NotificationLinks;
}

/** The webhooks of `notifications.webhooks`, each secret read from its `secretFile`; a ConfigError names one missing. */
export function notificationsOf(config: Pick<CairnConfig, 'notifications' | 'console' | 'temporal'>): Notifications {
  const webhooks = config.notifications.webhooks.map((w, i): Webhook => {
    const key = `notifications.webhooks[${i}].secretFile`;
    let secret: string;
    try {
      secret = readFileSync(w.secretFile, 'utf8').trim();
    } catch {
      throw new ConfigError(`${key}: cannot read ${w.secretFile} (webhook ${w.name})`, key);
    }
    if (!secret) throw new ConfigError(`${key}: ${w.secretFile} is empty (webhook ${w.name})`, key);
    return { name: w.name, url: w.url, events: w.events, secret };
  });
  return {
    webhooks,
    links: {
      console: config.console.url,
      temporal: temporalUiBase(config),
    },
  };
}

/** A receiver refused a delivery for good (a 4xx other than 408 and 429, a redirect): trying again cannot help. */
export class WebhookRejectedError extends CairnError {
  override readonly name = 'WebhookRejectedError';
  readonly type = 'WebhookRejected';
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
  override failureDetails() {
    return { status: this.status };
  }
}

/** A receiver away or failing for now (connection refused, timeout, 408, 429, 5xx): retried with backoff. */
export class WebhookUnavailableError extends Error {
  override readonly name = 'WebhookUnavailableError';
}

/** Statuses worth another attempt: the receiver timed out, asks to slow down, or failed on its side. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Sends one signed delivery of `event` to `webhook` and returns the receiver's status on a 2xx. Throws
 * WebhookUnavailableError when another attempt may succeed, WebhookRejectedError when none will. Error messages
 * name the webhook, never its URL (a Slack webhook URL is itself a secret).
 */
export async function sendWebhook(
  webhook: Webhook,
  event: NotificationEvent,
  links: NotificationLinks,
  options: { timeoutMs?: number; now?: number } = {}
): Promise<{ status: number }> {
  const body = JSON.stringify(webhookBody(event, links));
  const timestamp = Math.floor((options.now ?? Date.now()) / 1000);
  let res: Response;
  try {
    res = await fetch(webhook.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'cairn-webhooks',
        [WEBHOOK_HEADERS.signature]: signWebhook(webhook.secret, timestamp, body),
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.delivery]: event.id,
        [WEBHOOK_HEADERS.event]: event.type,
      },
      body,
    });
  } catch (err) {
    const cause = (err as Error).cause as { code?: string; message?: string } | undefined;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new WebhookUnavailableError(`webhook ${webhook.name}: ${why}`);
  }
  // The answer's body is not used; read it so the connection is released.
  const answer = (await res.text().catch(() => '')).slice(0, 200);
  if (res.ok) return { status: res.status };
  const message = `webhook ${webhook.name} answered ${res.status}${answer ? `: ${answer}` : ''}`;
  if (retryable(res.status)) throw new WebhookUnavailableError(message);
  throw new WebhookRejectedError(
    res.status >= 300 && res.status < 400 ? `${message} (redirects are not followed)` : message,
    res.status
  );
}
