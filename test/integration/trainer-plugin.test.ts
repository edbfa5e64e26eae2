import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { ModelPackage } from '../../activities/package.js';
import { loadProject } from '../../lib/pipeline/project.js';
import { getRun } from '../../lib/tracking/queries.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices({
  project: await loadProject(fileURLToPath(new URL('../fixtures/trainer-plugin', import.meta.url))),
});
const { deps } = ctx;
const CONFIG = { rows: 20_000 };

describe('trainers a project brings', () => {
  it('a trainer that is one file of the project trains, evaluates and registers like a built-in one', async () => {
    await withWorker(deps, async (taskQueue) => {
      const result = await ctx.client.workflow.execute(runPipeline, {
        taskQueue,
        workflowId: `plugin-${randomUUID()}`,
        args: [{ pipeline: 'flights-mean', config: CONFIG }],
      });
      const outputs = result.outputs as { model: string; version: number };
      const { rows } = await deps.db.query<{ package: string }>(
        `SELECT package_digest AS package FROM cairn.model_versions WHERE model = $1 AND version = $2`,
        [outputs.model, outputs.version]
      );
      const pkg = await deps.store.getJson<ModelPackage>(rows[0]!.package);
      // The training thread found the trainer by its module: the model is the mean of the training targets.
      expect(pkg.model).toMatchObject({ kind: 'mean', value: expect.any(Number) });
      expect(pkg.metrics.rmse).toBeGreaterThan(0);
      expect(pkg.metrics.r2).toBeLessThanOrEqual(0.01);
    });
  }, 120_000);

  it('an external command that fails ends the run once, naming the command and its stderr; nothing is registered', async () => {
    await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(runPipeline, {
        taskQueue,
        workflowId: `broken-${randomUUID()}`,
        args: [{ pipeline: 'flights-broken-trainer', config: CONFIG }],
      });
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      let cause = (err as WorkflowFailedError).cause;
      if (cause instanceof ActivityFailure) cause = cause.cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe('ExternalTrainerFailed');
      expect((cause as ApplicationFailure).message).toBe(
        "`node fail.mjs` exited with code 2; last lines of its stderr:\n  Traceback (most recent call last):\n  KeyError: 'max_iter'"
      );
      const run = await getRun(deps.db, handle.workflowId);
      expect(run?.status).toBe('failed');
      expect(run?.stages.find((s) => s.stage === 'tabular-train')).toMatchObject({ status: 'failed', attempt: 1 });
      expect(run?.stages.some((s) => s.stage === 'tabular-register')).toBe(false);
      const { rows } = await deps.db.query(`SELECT 1 FROM cairn.model_versions WHERE run_id = $1`, [handle.workflowId]);
      expect(rows).toEqual([]);
    });
  }, 120_000);
});
