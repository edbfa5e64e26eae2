import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import type { Activities, ActivityDeps } from '../../activities/index.js';
import { afterAll, beforeAll } from 'vitest';
import { services, testDeps } from './services.js';
import type { TestDeps } from './services.js';

/** A client on the test Temporal server; close `client.connection` when done. */
export async function testClient(): Promise<Client> {
  const s = services();
  const connection = await Connection.connect({ address: s.temporalAddress });
  return new Client({ connection, namespace: s.namespace });
}

/**
 * Runs real workers (the pre-built workflow bundle, real activities over `deps`) on a fresh task queue and on its
 * `-train` queue while `fn` runs, then shuts them down. `trainWorker: false` leaves the train queue to the test;
 * `wrap` replaces activities (to inject faults).
 */
export async function withWorker<T>(
  deps: ActivityDeps,
  fn: (taskQueue: string) => Promise<T>,
  options: { trainWorker?: boolean; wrap?: (activities: Activities) => Activities } = {}
): Promise<T> {
  const s = services();
  const connection = await NativeConnection.connect({ address: s.temporalAddress });
  try {
    const taskQueue = `test-${randomUUID()}`;
    const activities = (options.wrap ?? ((a) => a))(createActivities(deps));
    const worker = await Worker.create({
      connection,
      namespace: s.namespace,
      taskQueue,
      workflowBundle: { codePath: s.workflowBundlePath },
      activities,
    });
    if (options.trainWorker === false) return await worker.runUntil(fn(taskQueue));
    const trainWorker = await Worker.create({
      connection,
      namespace: s.namespace,
      taskQueue: `${taskQueue}-train`,
      activities,
    });
    return await trainWorker.runUntil(() => worker.runUntil(fn(taskQueue)));
  } finally {
    await connection.close();
  }
}

/** The activities a successful, registered trainingPipeline run schedules, in order, each once. */
export const RUN_ACTIVITIES = [
  'prepareRun',
  'ingest',
  'validate',
  'transform',
  'train',
  'evaluate',
  'packageModel',
  'register',
  'finishRun',
];

export interface ActivityEvents {
  /** Scheduled activities by type, in order. */
  scheduled: string[];
  /** The attempt numbers each activity type was started with. */
  attempts: Record<string, number[]>;
}

/** What a workflow's history says its activities did. */
export async function activityEvents(handle: WorkflowHandle): Promise<ActivityEvents> {
  const history = await handle.fetchHistory();
  const typeOf = new Map<string, string>();
  const scheduled: string[] = [];
  const attempts: Record<string, number[]> = {};
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) {
      const type = s.activityType?.name ?? '?';
      typeOf.set(String(event.eventId), type);
      scheduled.push(type);
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const type = typeOf.get(String(started.scheduledEventId)) ?? '?';
      (attempts[type] ??= []).push(started.attempt ?? 1);
    }
  }
  return { scheduled, attempts };
}

/**
 * Real dependencies and a Temporal client for one test file: the client connects before its tests, and both
 * close after them. Read `.client` inside tests (it is set in beforeAll).
 */
export function useServices(options: Parameters<typeof testDeps>[0] = {}): { deps: TestDeps; client: Client } {
  const used = { deps: testDeps(options), client: undefined as unknown as Client };
  beforeAll(async () => {
    used.client = await testClient();
  });
  afterAll(async () => {
    await used.client?.connection.close();
    await used.deps.close();
  });
  return used;
}
