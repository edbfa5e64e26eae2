import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { getRun } from '../../lib/tracking/queries.js';
import { statusQuery } from '../../workflows/messages.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import type { RunPipelineInput } from '../../workflows/run-pipeline.js';
import { CairnPipeline, CairnStage } from '../../workflows/search-attributes.js';
import project from '../fixtures/project/cairn.config.js';
import { activityEvents, maxInFlight, stepEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices({ project });
const { deps } = ctx;

function start(taskQueue: string, input: Partial<RunPipelineInput>) {
  return ctx.client.workflow.start(runPipeline, {
    taskQueue,
    workflowId: `run-${randomUUID()}`,
    args: [{ pipeline: 'fan-out', ...input }],
  });
}

describe('runPipeline: a DAG of user steps through Temporal, PostgreSQL and S3', () => {
  it('runs two branches in parallel and a foreach of 8 at most 3 at a time, joined in order', async () => {
    await withWorker(deps, async (taskQueue) => {
      // noCache: other tests of this run may have cached these steps already; here every step must run.
      const handle = await start(taskQueue, { config: { n: 8, concurrency: 3, delayMs: 400 }, noCache: true });
      const result = await handle.result();
      expect(result.outputs).toMatchObject({ sumOfSquares: 204, count: 8 });
      expect(result.cached).toEqual([]);

      const events = await stepEvents(handle);
      expect(maxInFlight(events, 'square')).toBe(3);
      // The summary branch was scheduled before the first square finished: the branches ran side by side.
      const summarized = events.find((e) => e.node === 'summarize' && e.kind === 'scheduled')!;
      const firstSquareDone = events.find((e) => e.node === 'square' && e.kind === 'closed')!;
      expect(summarized.id).toBeLessThan(firstSquareDone.id);
      // Every step ran once.
      const { attempts } = await activityEvents(handle);
      expect(attempts.runStep).toEqual(new Array(11).fill(1));

      const status = await handle.query(statusQuery);
      expect(status.stage).toBe('done');
      expect(status.steps!.square).toMatchObject({
        state: 'succeeded',
        queue: 'heavy',
        items: { total: 8, done: 8, running: 0 },
      });
      expect(Object.values(status.steps!).map((s) => s.state)).toEqual(new Array(4).fill('succeeded'));
      const { typedSearchAttributes: attributes } = await handle.describe();
      expect(attributes.get(CairnPipeline)).toBe('fan-out');
      expect(attributes.get(CairnStage)).toBe('done');

      const run = await getRun(deps.db, handle.workflowId);
      expect(run?.status).toBe('succeeded');
      expect(run?.stages.map((s) => s.stage).sort()).toEqual(
        ['combine', 'make-list', 'summarize', ...Array.from({ length: 8 }, (_, i) => `square[${i}]`)].sort()
      );
      expect(run?.artifacts.filter((a) => a.role === 'result')).toHaveLength(8);
      // The report is a real artifact in the store.
      const report = result.outputs.report as { digest: string };
      expect(await deps.store.getJson(report.digest)).toEqual({ items: [1, 2, 3, 4, 5, 6, 7, 8], total: 36 });
    });
  });

  it('is fully cached on an identical rerun, and recomputes with noCache', async () => {
    await withWorker(deps, async (taskQueue) => {
      const config = { n: 5, delayMs: 50 };
      await (await start(taskQueue, { config })).result();
      const again = await start(taskQueue, { config });
      const result = await again.result();
      expect(result.cached.sort()).toEqual(['combine', 'make-list', 'square', 'summarize']);
      expect(result.outputs).toMatchObject({ sumOfSquares: 55, count: 5 });
      const run = await getRun(deps.db, again.workflowId);
      expect(run?.stages.every((s) => s.cacheHit)).toBe(true);

      // Only the foreach's concurrency changed: no step reads it, so every step stays cached.
      const reshaped = await (await start(taskQueue, { config: { ...config, concurrency: 1 } })).result();
      expect(reshaped.cached.sort()).toEqual(['combine', 'make-list', 'square', 'summarize']);

      const fresh = await (await start(taskQueue, { config, noCache: true })).result();
      expect(fresh.cached).toEqual([]);
      expect(fresh.outputs).toEqual(result.outputs);
    });
  });

  it('fails once, without retries, when a step refuses its input or its input fails the schema', async () => {
    await withWorker(deps, async (taskQueue) => {
      // x = 13 raises StepValidationError inside the step, on the heavy queue.
      const refused = await start(taskQueue, { config: { n: 13, delayMs: 0, concurrency: 2 } });
      const err = await refused.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failure = (err as WorkflowFailedError).cause?.cause;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe('StepValidationError');
      expect((failure as ApplicationFailure).message).toMatch(/13 is refused/);
      const events = await stepEvents(refused);
      expect(events.filter((e) => e.node === 'square' && e.item === 12 && e.kind === 'scheduled')).toHaveLength(1);
      const record = await getRun(deps.db, refused.workflowId);
      expect(record?.status).toBe('failed');
      expect(record?.error).toMatch(/13 is refused/);

      const invalid = await start(taskQueue, { config: { n: 0 } });
      const bad = (await invalid.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect((bad.cause?.cause as Error).message).toMatch(/make-list.*invalid input: n: /);
      expect((await activityEvents(invalid)).attempts.runStep).toEqual([1]);
    });
  });

  it('refuses an unknown pipeline and an unknown config key before any step runs', async () => {
    await withWorker(deps, async (taskQueue) => {
      const unknown = await start(taskQueue, { pipeline: 'nope' });
      await expect(unknown.result()).rejects.toThrow(WorkflowFailedError);
      // Planning is a local activity: it failed, and nothing was ever scheduled.
      expect((await activityEvents(unknown)).scheduled).toEqual([]);
      const badKey = await start(taskQueue, { config: { m: 3 } });
      const err = (await badKey.result().catch((e: unknown) => e)) as WorkflowFailedError;
      const messages: string[] = [];
      for (let e: Error | undefined = err; e; e = e.cause as Error | undefined) messages.push(e.message);
      expect(messages.join('\n')).toMatch(/unknown config key m/);
    });
  });
});
