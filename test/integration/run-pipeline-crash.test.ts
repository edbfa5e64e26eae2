import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import protos from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { getRun } from '../../lib/tracking/queries.js';
import { statusQuery } from '../../workflows/messages.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import project from '../fixtures/project/cairn.config.js';
import { crash, trainWorkerProcesses } from '../helpers/processes.js';
import { stepEvents, useServices, withWorker } from '../helpers/temporal.js';

const { PendingActivityState, TimeoutType } = protos.temporal.api.enums.v1;

const ctx = useServices({ project });
const { deps } = ctx;

const startTrainWorker = trainWorkerProcesses();
/** The worker process loads the fixture project, as `cairn-train` in a user's project would. */
const PROJECT_ENV = { CAIRN_PROJECT: fileURLToPath(new URL('../fixtures/project', import.meta.url)) };

const N = 8;
const ITEMS = Array.from({ length: N }, (_, i) => i);

/** The runStep activities the server has handed to a worker and not yet seen end, by activity id. */
async function startedSteps(handle: WorkflowHandle): Promise<{ activityId: string; attempt: number }[]> {
  const { raw } = await handle.describe();
  return (raw.pendingActivities ?? [])
    .filter(
      (a) => a.activityType?.name === 'runStep' && a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    )
    .map((a) => ({ activityId: a.activityId ?? '', attempt: a.attempt ?? 1 }));
}

describe('kill -9 of the heavy worker in the middle of a runPipeline fan-out', () => {
  it('loses no finished item, and no item runs twice after it finished', async () => {
    await withWorker(
      deps,
      async (taskQueue) => {
        const queue = `${taskQueue}-train`;
        const first = await startTrainWorker(queue, PROJECT_ENV);
        const handle = await ctx.client.workflow.start(runPipeline, {
          taskQueue,
          workflowId: `fan-out-crash-${randomUUID()}`,
          args: [{ pipeline: 'fan-out', config: { n: N, concurrency: 3, delayMs: 1500 } }],
        });

        // The heavy worker runs one item at a time: wait until 2 are done and the next one is running on it.
        const deadline = Date.now() + 90_000;
        let done = 0;
        for (;;) {
          expect(Date.now(), 'two squares were not done in time').toBeLessThan(deadline);
          done = (await handle.query(statusQuery)).steps?.square?.items?.done ?? 0;
          if (done >= 2 && (await startedSteps(handle)).length > 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(done).toBeLessThanOrEqual(3);
        await crash(first);
        const killedAt = (await deps.db.query<{ now: Date }>('SELECT now()')).rows[0]!.now;

        // What the server knows at the kill: the items that finished, and the one the dead worker was running.
        const before = await stepEvents(handle);
        const finished = before
          .filter((e) => e.node === 'square' && e.kind === 'closed' && e.outcome === 'completed')
          .map((e) => e.item!);
        const byActivity = new Map(before.filter((e) => e.kind === 'scheduled').map((e) => [e.activityId, e]));
        const running = await startedSteps(handle);
        expect(running, 'the killed worker was running exactly one item').toHaveLength(1);
        expect(running[0]!.attempt).toBe(1);
        const inFlight = byActivity.get(running[0]!.activityId)!;
        expect(inFlight.node).toBe('square');
        expect(finished.length).toBeGreaterThanOrEqual(2);
        expect(finished).not.toContain(inFlight.item);

        await startTrainWorker(queue, PROJECT_ENV);
        const result = await handle.result();
        expect(result.outputs).toMatchObject({ sumOfSquares: 204, count: N });

        const squares = (await stepEvents(handle)).filter((e) => e.node === 'square');
        const of = (i: number, kind: 'scheduled' | 'closed') => squares.filter((e) => e.item === i && e.kind === kind);
        for (const i of ITEMS) {
          // Every item was scheduled once and completed once: nothing lost, nothing run again after it finished.
          expect(of(i, 'scheduled'), `square[${i}] scheduled`).toHaveLength(1);
          expect(
            of(i, 'closed').map((e) => e.outcome),
            `square[${i}] closed`
          ).toEqual(['completed']);
        }
        for (const i of finished) {
          const [closed] = of(i, 'closed');
          // The same completion the server had before the kill, from the first and only attempt.
          expect(closed!.id, `square[${i}] completed before the kill`).toBe(
            before.find((e) => e.kind === 'closed' && e.item === i)!.id
          );
          expect(closed!.attempt, `square[${i}] attempt`).toBe(1);
        }
        // The item the dead worker was running timed out on its heartbeat and ran again, to one completion.
        const [recovered] = of(inFlight.item!, 'closed');
        expect(recovered!.attempt).toBe(2);
        expect(recovered!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
        // The others were still waiting in the queue at the kill: the new worker ran each once.
        for (const i of ITEMS.filter((i) => i !== inFlight.item && !finished.includes(i)))
          expect(of(i, 'closed')[0]!.attempt, `square[${i}] attempt`).toBe(1);

        const status = await handle.query(statusQuery);
        expect(status.steps!.square).toMatchObject({ state: 'succeeded', items: { total: N, done: N, running: 0 } });

        const run = await getRun(deps.db, handle.workflowId);
        expect(run?.status).toBe('succeeded');
        const stages = new Map(run!.stages.map((s) => [s.stage, s]));
        for (const i of ITEMS)
          expect(stages.get(`square[${i}]`), `run_stages square[${i}]`).toMatchObject({
            status: 'succeeded',
            attempt: i === inFlight.item ? 2 : 1,
          });
        // The tracking store agrees: finished items' rows were last written before the kill, never started again.
        const { rows } = await deps.db.query<{ stage: string; started: Date; ended: Date }>(
          `SELECT stage, started_at AS started, ended_at AS ended FROM cairn.run_stages WHERE run_id = $1`,
          [handle.workflowId]
        );
        const times = new Map(rows.map((r) => [r.stage, r]));
        for (const i of finished) expect(times.get(`square[${i}]`)!.ended.getTime()).toBeLessThan(killedAt.getTime());
        expect(times.get(`square[${inFlight.item}]`)!.started.getTime()).toBeGreaterThan(killedAt.getTime());
      },
      { trainWorker: false }
    );
  }, 180_000);
});
