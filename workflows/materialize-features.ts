import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { OfflineResult, OnlineResult } from '../activities/features.js';
import { parseInput } from './input.js';
import { boundedRetry } from './retry.js';

const materializeFeaturesInput = z.strictObject({
  /** The project's feature view. */
  view: z.string().min(1),
  /** The time the online values are as of (ISO 8601 or ms since the epoch). @default the workflow's start */
  asOf: z.union([z.number(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]).optional(),
  /** Also write the latest values to the online store. @default true */
  online: z.boolean().default(true),
  /** Rewrite every entity, not only those with events since the last materialisation. @default false */
  full: z.boolean().default(false),
  /** Queue of the materialising activities. @default '<this workflow's task queue>-train' (`cairn-train`) */
  trainTaskQueue: z.string().min(1).optional(),
});
export type MaterializeFeaturesInput = z.input<typeof materializeFeaturesInput>;

export interface MaterializeFeaturesResult {
  offline: OfflineResult;
  online?: OnlineResult;
}

/**
 * Materialises a feature view: computes it over its source into the offline store (a new snapshot only when the
 * definition or the source changed), then writes each entity's latest values to the online store, incrementally.
 * Scheduled by `cairn features schedule`; started by `cairn features materialize` or by name from the UI or CLI.
 */
export async function materializeFeatures(input: MaterializeFeaturesInput): Promise<MaterializeFeaturesResult> {
  const args = parseInput('materializeFeatures', materializeFeaturesInput, input);
  const info = workflowInfo();
  const taskQueue = args.trainTaskQueue ?? `${info.taskQueue}-train`;
  const { materializeOffline } = proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '1h',
    retry: boundedRetry({ maximumAttempts: 5 }),
  });
  // The online write heartbeats after every part read and every chunk written: a lost worker is noticed in 20 s.
  const { materializeOnline } = proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '1h',
    heartbeatTimeout: '20s',
    retry: boundedRetry({ maximumAttempts: 5 }),
  });
  const offline = await materializeOffline({ view: args.view });
  if (!args.online) return { offline };
  const online = await materializeOnline({
    view: args.view,
    snapshot: offline.snapshot,
    asOf: args.asOf ?? Date.now(),
    full: args.full,
  });
  return { offline, online };
}
