import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleDescription } from '@temporalio/client';
import type { RebuildIndexInput } from '../../workflows/rebuild-index.js';

export const OVERLAP_POLICIES = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;
export type OverlapPolicy = keyof typeof OVERLAP_POLICIES;

export interface RetrainScheduleOptions {
  pipeline: string;
  /** The registered model each run makes a version of. @default the pipeline name */
  model?: string;
  cron: string;
  taskQueue: string;
  /** @default 'retrain-<pipeline>' */
  scheduleId?: string;
  environment?: string;
  /** Config overrides of every run (a source prefix, say): the pipeline's config.yaml and defaults otherwise. */
  config?: Record<string, unknown>;
  /** What a run does while the previous one still runs (it may be waiting for an approval). @default 'skip' */
  overlap?: OverlapPolicy;
  paused?: boolean;
  note?: string;
  requestedBy?: string;
}

/**
 * A Temporal Schedule that starts `retrainModel` for a pipeline: visible and editable in the Temporal UI and with
 * `temporal schedule …`. Overlap defaults to skip: a retraining still waiting for its approval is not doubled.
 */
export async function createRetrainSchedule(client: Client, o: RetrainScheduleOptions) {
  const scheduleId = o.scheduleId ?? `retrain-${o.pipeline}`;
  return client.schedule.create({
    scheduleId,
    spec: { cronExpressions: [o.cron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'retrainModel',
      taskQueue: o.taskQueue,
      workflowId: scheduleId,
      args: [
        {
          pipeline: o.pipeline,
          ...(o.model ? { model: o.model } : {}),
          reason: `schedule ${scheduleId} (${o.cron})`,
          trigger: 'schedule',
          ...(o.environment ? { environment: o.environment } : {}),
          ...(o.config && Object.keys(o.config).length ? { config: o.config } : {}),
          ...(o.requestedBy ? { requestedBy: o.requestedBy } : {}),
        },
      ],
    },
    policies: { overlap: OVERLAP_POLICIES[o.overlap ?? 'skip'] },
    // The server keeps a cron only as structured calendars; the memo keeps the expression people wrote.
    memo: { cron: o.cron },
    state: { paused: o.paused ?? false, ...(o.note ? { note: o.note } : {}) },
  });
}

/**
 * A Temporal Schedule that materialises a feature view (`materializeFeatures`, as of each run's start): each run
 * writes online only the entities with events since the previous one.
 */
export async function createMaterializeSchedule(
  client: Client,
  o: { view: string; cron: string; taskQueue: string; trainTaskQueue?: string }
) {
  const scheduleId = `materialize-${o.view}`;
  return client.schedule.create({
    scheduleId,
    spec: { cronExpressions: [o.cron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'materializeFeatures',
      taskQueue: o.taskQueue,
      workflowId: scheduleId,
      args: [{ view: o.view, ...(o.trainTaskQueue ? { trainTaskQueue: o.trainTaskQueue } : {}) }],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    memo: { cron: o.cron },
  });
}

/**
 * Rebuilds an index on a cron schedule (`rebuildIndex`): its pipeline reads the corpus again, so a grown corpus gives
 * a new version with its gate, and an unchanged one the same version from the step cache.
 */
export async function createRebuildSchedule(
  client: Client,
  o: { index: string; pipeline: string; config: Record<string, unknown>; cron: string; taskQueue: string }
) {
  const scheduleId = `rebuild-${o.index}`;
  const args: [RebuildIndexInput] = [{ index: o.index, pipeline: o.pipeline, config: o.config, reason: 'schedule' }];
  return client.schedule.create({
    scheduleId,
    spec: { cronExpressions: [o.cron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'rebuildIndex',
      taskQueue: o.taskQueue,
      workflowId: scheduleId,
      args,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    memo: { cron: o.cron },
  });
}

export const PRUNE_SCHEDULE = 'prune-prediction-log';

/** The schedule that enforces the prediction log's retention (`pruneLogs`), hourly unless told otherwise. */
export async function createPruneSchedule(client: Client, o: { taskQueue: string; cron?: string }) {
  const cron = o.cron ?? '17 * * * *';
  return client.schedule.create({
    scheduleId: PRUNE_SCHEDULE,
    spec: { cronExpressions: [cron] },
    action: {
      type: 'startWorkflow',
      workflowType: 'pruneLogs',
      taskQueue: o.taskQueue,
      workflowId: PRUNE_SCHEDULE,
      args: [],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    memo: { cron },
  });
}

/** One line of `cairn schedule list`. */
export interface ScheduleSummary {
  id: string;
  workflowType: string;
  spec: string;
  paused: boolean;
  note: string;
  nextRun: Date | null;
  recentRuns: number;
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = [];
  for await (const s of client.schedule.list()) {
    out.push({
      id: s.scheduleId,
      workflowType: s.action?.workflowType ?? '-',
      spec: describeSpec(s.spec, s.memo),
      paused: s.state.paused,
      note: s.state.note ?? '',
      nextRun: s.info.nextActionTimes[0] ?? null,
      recentRuns: s.info.recentActions.length,
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export function describeSpec(
  spec: Partial<Pick<ScheduleDescription['spec'], 'calendars' | 'intervals'>> | undefined,
  memo?: Record<string, unknown>
): string {
  if (typeof memo?.cron === 'string') return `cron ${memo.cron}`;
  const calendars = (spec?.calendars ?? []).map((c) => c.comment || JSON.stringify(c));
  const intervals = (spec?.intervals ?? []).map((i) => `every ${String(i.every)}`);
  return [...calendars, ...intervals].join('; ') || '-';
}
