import type { NotificationEvent, NotificationEventType } from './events.js';

/** Where a notification's links point: the console (its base URL) and the Temporal UI (a namespace's base URL). */
export interface NotificationLinks {
  /** `console.url`, e.g. http://127.0.0.1:8090 */
  console: string;
  /** e.g. http://127.0.0.1:8233/namespaces/default */
  temporal: string;
}

/** A webhook body: Slack's incoming-webhook format (`text`, `blocks`) plus the event for machines. */
export interface WebhookBody {
  text: string;
  blocks: unknown[];
  event: NotificationEvent & { links: { console: string; temporal: string } };
}

const TITLES: Record<NotificationEventType, { emoji: string; title: string }> = {
  alert: { emoji: ':rotating_light:', title: 'Monitoring alert' },
  run_failed: { emoji: ':x:', title: 'Run failed' },
  approval_pending: { emoji: ':hourglass_flowing_sand:', title: 'Approval pending' },
  promoted: { emoji: ':white_check_mark:', title: 'Promoted' },
  rolled_back: { emoji: ':leftwards_arrow_with_hook:', title: 'Rolled back' },
};

// Slack rejects a section text over 3000 characters.
const MAX_SECTION = 2900;

/** Slack mrkdwn treats &, < and > as markup: escape them in text that comes from data. */
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** What the event is about, in a few words: `flight-delays@3 in production`, `pipeline penguins (run …)`. */
function subject(e: NotificationEvent): string {
  const model = e.model ? `${e.model}${e.version === undefined ? '' : `@${e.version}`}` : undefined;
  switch (e.type) {
    case 'alert':
      return `${model ?? 'a model'} in ${e.environment ?? 'its environment'}`;
    case 'run_failed':
      return `pipeline ${e.pipeline ?? '?'}${e.stage ? ` at ${e.stage}` : ''}${e.runId ? ` (run ${e.runId})` : ''}`;
    default:
      return `${model ?? 'a model'} to ${e.environment ?? 'its environment'}`;
  }
}

/** The page of the console (`cairn ui`) that shows the event. */
export function consoleLink(base: string, e: NotificationEvent): string {
  const root = base.replace(/\/+$/, '');
  const path = (...parts: (string | number)[]) => parts.map((p) => encodeURIComponent(String(p))).join('/');
  switch (e.type) {
    case 'alert':
      return `${root}/monitoring/${path(e.model ?? '', e.environment ?? '')}${e.reportId === undefined ? '' : `?report=${e.reportId}`}`;
    case 'run_failed':
      return `${root}/runs/${path(e.runId ?? e.workflowId)}`;
    default:
      return `${root}/releases/${path(e.workflowId)}`;
  }
}

/** The body every webhook of the event gets: the same bytes on every attempt. */
export function webhookBody(e: NotificationEvent, links: NotificationLinks): WebhookBody {
  const { emoji, title } = TITLES[e.type];
  const consoleUrl = consoleLink(links.console, e);
  const temporal = `${links.temporal.replace(/\/+$/, '')}/workflows/${encodeURIComponent(e.workflowId)}`;
  const what = subject(e);
  const lines = [`${emoji} *${title}*: ${escape(what)}`, escape(e.summary)];
  if (e.approveWith) lines.push(`Approve with \`${escape(e.approveWith)}\``);
  return {
    text: clip(`${title}: ${what}: ${e.summary}`, MAX_SECTION),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(lines.join('\n'), MAX_SECTION) } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: escape(`${e.type} · ${e.at} · delivery ${e.id}`) }],
      },
      {
        type: 'actions',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Open in the console' }, url: consoleUrl },
          { type: 'button', text: { type: 'plain_text', text: 'Temporal UI' }, url: temporal },
        ],
      },
    ],
    event: { ...e, links: { console: consoleUrl, temporal } },
  };
}
