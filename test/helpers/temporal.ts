import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkerPlugin } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../workers/run-worker.js';
import { createActivities } from '../../activities/index.js';
import type { Activities, ActivityDeps } from '../../activities/index.js';
import type { RunStepInput } from '../../activities/run-step.js';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { installTemporalRuntime } from '../../lib/logging/temporal-runtime.js';
import { createLogger } from '../../lib/logging/logger.js';
import { services, testConfig, testDeps } from './services.js';
import type { TestDeps } from './services.js';

// The SDK's logs in each test process go through Cairn's logger at the tests' level (warn), as in a worker, instead
// of the SDK's default logger at info. A test that installed a Runtime of its own keeps it.
try {
  installTemporalRuntime({ logger: createLogger(testConfig()) });
} catch {
  // already installed
}

/** The workflow interceptor every test bundle carries: each activity a test schedules has a bounded retry policy. */
export const BOUNDED_RETRIES = fileURLToPath(new URL('./bounded-retries.ts', import.meta.url));

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
  options: {
    trainWorker?: boolean;
    wrap?: (activities: Activities) => Activities;
    /** Worker plugins (tracing): the workflows are then bundled with theirs, instead of the prebuilt bundle. */
    plugins?: WorkerPlugin[];
  } = {}
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
      ...(options.plugins
        ? {
            workflowsPath: WORKFLOWS_PATH,
            interceptors: { workflowModules: [BOUNDED_RETRIES] },
            plugins: options.plugins,
          }
        : { workflowBundle: { codePath: s.workflowBundlePath } }),
      activities,
    });
    if (options.trainWorker === false) return await worker.runUntil(fn(taskQueue));
    const trainWorker = await Worker.create({
      connection,
      namespace: s.namespace,
      taskQueue: `${taskQueue}-train`,
      activities,
      ...(options.plugins ? { plugins: options.plugins } : {}),
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

export interface StepEvent {
  /** The history event's id. */
  id: number;
  kind: 'scheduled' | 'closed';
  node: string;
  item?: number;
  /** The activity's id (the same on both events, and in `describe().raw.pendingActivities`). */
  activityId: string;
  /** How a closed activity ended. */
  outcome?: 'completed' | 'failed' | 'timedOut';
  /** The attempt a closed activity ended with: earlier attempts retried by the server leave no event of their own. */
  attempt?: number;
  /** Why the attempt before the last one ended (a retried activity only), e.g. a heartbeat timeout. */
  lastFailure?: temporal.api.failure.v1.IFailure;
}

/** runStep activities as the history has them: when each was scheduled and closed (completed, failed, timed out). */
export async function stepEvents(handle: WorkflowHandle): Promise<StepEvent[]> {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, { input: RunStepInput; activityId: string }>();
  const started = new Map<string, temporal.api.history.v1.IActivityTaskStartedEventAttributes>();
  const out: StepEvent[] = [];
  for (const event of history.events ?? []) {
    const id = Number(event.eventId);
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === 'runStep') {
      const input = defaultPayloadConverter.fromPayload<RunStepInput>(s.input!.payloads![0]!);
      const activityId = s.activityId ?? '';
      scheduled.set(String(id), { input, activityId });
      out.push({
        id,
        kind: 'scheduled',
        node: input.node,
        ...(input.item === undefined ? {} : { item: input.item }),
        activityId,
      });
    }
    if (event.activityTaskStartedEventAttributes)
      started.set(
        String(event.activityTaskStartedEventAttributes.scheduledEventId),
        event.activityTaskStartedEventAttributes
      );
    const outcome = event.activityTaskCompletedEventAttributes
      ? 'completed'
      : event.activityTaskFailedEventAttributes
        ? 'failed'
        : event.activityTaskTimedOutEventAttributes
          ? 'timedOut'
          : undefined;
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes;
    const of = closed && scheduled.get(String(closed.scheduledEventId));
    if (of && outcome) {
      const start = started.get(String(closed.scheduledEventId));
      out.push({
        id,
        kind: 'closed',
        node: of.input.node,
        ...(of.input.item === undefined ? {} : { item: of.input.item }),
        activityId: of.activityId,
        outcome,
        ...(start ? { attempt: start.attempt ?? 1 } : {}),
        ...(start?.lastFailure ? { lastFailure: start.lastFailure } : {}),
      });
    }
  }
  return out;
}

/** The most activities of `node` in flight at once, from the history. */
export function maxInFlight(events: StepEvent[], node: string): number {
  let now = 0;
  let max = 0;
  for (const e of events.filter((e) => e.node === node)) {
    now += e.kind === 'scheduled' ? 1 : -1;
    max = Math.max(max, now);
  }
  return max;
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
