import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { TrainHeartbeat, TrainResult } from '../../lib/pipeline/stage-types.js';
import { getRun } from '../../lib/tracking/queries.js';
import { reconcileRuns } from '../../lib/tracking/reconcile.js';
import { statusQuery } from '../../workflows/messages.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { crash, pendingHeartbeat, trainWorkerProcesses } from '../helpers/processes.js';
import { RUN_ACTIVITIES, activityEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

const startTrainWorker = trainWorkerProcesses();

describe('kill -9 of the cairn-train worker during training', () => {
  it('loses nothing: once a worker is back, training resumes from its checkpoint and finished stages do not run again', async () => {
    await withWorker(
      deps,
      async (taskQueue) => {
        const queue = `${taskQueue}-train`;
        const first = await startTrainWorker(queue);
        const handle = await ctx.client.workflow.start(trainingPipeline, {
          taskQueue,
          workflowId: `crash-${randomUUID()}`,
          args: [{ pipeline: 'flight-delays', config: { rows: 300_000, rounds: 300 } }],
        });

        // Wait until the server has seen a stored checkpoint, then kill the worker without warning.
        let beat: TrainHeartbeat | undefined;
        const deadline = Date.now() + 120_000;
        while (!(beat?.checkpointRound && beat.checkpointRound < beat.total - 10) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          beat = await pendingHeartbeat<TrainHeartbeat>(handle, 'train');
        }
        expect(beat?.checkpointRound, 'no checkpoint was reported in time').toBeGreaterThanOrEqual(10);
        await crash(first);

        await startTrainWorker(queue);
        const result = await handle.result();
        expect(result.gate.passed).toBe(true);

        const { scheduled, attempts } = await activityEvents(handle);
        expect(scheduled).toEqual(RUN_ACTIVITIES);
        expect(attempts.train).toEqual([2]);
        for (const stage of ['ingest', 'validate', 'transform', 'evaluate']) expect(attempts[stage]).toEqual([1]);

        const trained = (await handle.query(statusQuery)).results.train as TrainResult;
        expect(trained.resumedFromRound).toBeGreaterThanOrEqual(beat!.checkpointRound!);
        expect(trained.resumedFromRound).toBeLessThan(300);
      },
      { trainWorker: false }
    );
  }, 240_000);

  it('a run whose worker was killed and that is then cancelled ends cancelled, with its error, nothing left running', async () => {
    await withWorker(
      deps,
      async (taskQueue) => {
        const worker = await startTrainWorker(`${taskQueue}-train`);
        const handle = await ctx.client.workflow.start(trainingPipeline, {
          taskQueue,
          workflowId: `cancel-${randomUUID()}`,
          args: [
            {
              pipeline: 'flight-delays',
              model: `crash-${randomUUID().slice(0, 8)}`,
              config: { rows: 300_000, rounds: 400 },
            },
          ],
        });
        const deadline = Date.now() + 120_000;
        while (!(await pendingHeartbeat<TrainHeartbeat>(handle, 'train')) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 250));
        await crash(worker);

        await handle.cancel();
        const err = await handle.result().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

        const record = await getRun(deps.db, handle.workflowId);
        expect(record?.status).toBe('cancelled');
        expect(record?.error).toBeTruthy();
        expect(record?.endedAt).toBeInstanceOf(Date);
        expect(record?.stages.filter((s) => s.status === 'running')).toEqual([]);
        expect(record?.stages.find((s) => s.stage === 'train')?.status).toBe('failed');
      },
      { trainWorker: false }
    );
  }, 240_000);

  it('a terminated run (its workflow code never runs again) is closed by reconcileRuns', async () => {
    await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(trainingPipeline, {
        taskQueue,
        workflowId: `terminate-${randomUUID()}`,
        args: [
          {
            pipeline: 'flight-delays',
            model: `term-${randomUUID().slice(0, 8)}`,
            config: { rows: 300_000, rounds: 400 },
          },
        ],
      });
      const deadline = Date.now() + 120_000;
      while (!(await pendingHeartbeat<TrainHeartbeat>(handle, 'train')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      await handle.terminate('operator stopped it');
      expect((await getRun(deps.db, handle.workflowId))?.status).toBe('running');

      const closed = await reconcileRuns(ctx.client, deps.db);
      expect(closed).toContainEqual({
        id: handle.workflowId,
        end: { status: 'failed', error: 'the workflow was terminated' },
      });
      const record = await getRun(deps.db, handle.workflowId);
      expect(record).toMatchObject({ status: 'failed', error: 'the workflow was terminated' });
      expect(record?.stages.filter((s) => s.status === 'running')).toEqual([]);
    });
  }, 240_000);
});
