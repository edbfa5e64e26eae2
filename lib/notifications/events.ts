// What a notification says, and the key a receiver drops duplicates by. Pure code: workflows import it.

/** Events a webhook may subscribe to (`notifications.webhooks[].events` in cairn.yaml). */
export const NOTIFICATION_EVENTS = ['alert', 'run_failed', 'approval_pending', 'promoted', 'rolled_back'] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

/** One event, as the `event` object of every webhook body carries it. */
export interface NotificationEvent {
  /**
   * The delivery id, the same on every attempt and every webhook: `<workflow id>@<first run id>:<type>[:<seq>]`. The
   * first run id names the execution chain (it survives continue-as-new and retries; a workflow id is reused by a
   * later release of the same version or a monitor started again), so a receiver keeping the ids it has seen gets
   * each event exactly once from deliveries sent at least once.
   */
  id: string;
  type: NotificationEventType;
  /** Workflow time of the event, ISO 8601. */
  at: string;
  /** One line for people: what happened, and why when it is known. */
  summary: string;
  /** The workflow the event happened in. */
  workflowId: string;
  model?: string;
  /** The vector index or prompt (an alert of monitorIndex, monitorPrompt). */
  index?: string;
  prompt?: string;
  version?: number;
  environment?: string;
  pipeline?: string;
  /** The tracked run (run_failed). */
  runId?: string;
  /** The monitoring report and the monitor's check number (alert). */
  reportId?: number;
  seq?: number;
  /** The stage a run failed in (run_failed); how to approve (approval_pending). */
  stage?: string;
  approveWith?: string;
}

/** The delivery id of an event: unique per execution chain, type and (for repeated events) sequence number. */
export function notificationId(
  chain: { workflowId: string; firstExecutionRunId: string },
  type: NotificationEventType,
  seq?: number
): string {
  return `${chain.workflowId}@${chain.firstExecutionRunId}:${type}${seq === undefined ? '' : `:${seq}`}`;
}
