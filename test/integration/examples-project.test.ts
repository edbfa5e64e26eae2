import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ModelPackage } from '../../activities/package.js';
import { sha256 } from '../../lib/artifacts/digest.js';
import { canonicalJson } from '../../lib/ml/canonical-json.js';
import { loadProject } from '../../lib/pipeline/project.js';
import { getRun } from '../../lib/tracking/queries.js';
import { resolveVersion } from '../../lib/registry/models.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const project = await loadProject('examples');
const ctx = useServices({ project });
const { deps } = ctx;

describe('the examples project: penguins as a pipeline of steps (the tabular recipe)', () => {
  it('gives the dataset and package of trainingPipeline (plus the project bundle), registers a servable version, and caches a rerun', async () => {
    await withWorker(deps, async (taskQueue) => {
      const before = await ctx.client.workflow.execute(trainingPipeline, {
        taskQueue,
        workflowId: `train-${randomUUID()}`,
        args: [{ pipeline: 'penguins', register: false }],
      });
      const start = () =>
        ctx.client.workflow.execute(runPipeline, {
          taskQueue,
          workflowId: `run-${randomUUID()}`,
          args: [{ pipeline: 'penguins' }],
        });

      const first = await start();
      const outputs = first.outputs as { model: string; version: number; package: { digest: string } };
      // The same package, plus the bundle of the project code that made it.
      const made = await deps.store.getJson<ModelPackage>(outputs.package.digest);
      const { project, ...lineage } = made.lineage;
      expect(project?.bundle).toBe(ctx.deps.project.bundle!.digest);
      expect(sha256(canonicalJson({ ...made, lineage }))).toBe(before.model.digest);
      const run = await getRun(deps.db, first.runId);
      expect(run?.datasetDigest).toBe(before.dataset);
      // What trainingPipeline made of penguins before pipelines of steps existed (the dataset in
      // test/fixtures/histories/training-pipeline-registered.json): unchanged. The trained model is pinned too: it
      // changed once, when GBDT training went multi-threaded and the root's sums began to come from its histogram
      // (the fixture's model, sha256:8ce4054d…, is the one before); it is the same on any number of threads.
      expect(before.dataset).toBe('sha256:12dbbb2f9db26801be44f2ce6de3df2a5902b6f839e70ddf6c505eeb51a3ec0e');
      expect(run?.artifacts.find((a) => a.stage === 'tabular-train' && a.role === 'model')?.digest).toBe(
        'sha256:8ce856fbcdf97d93fc29d53be12ef68869fc10d8387af0a7c8b3d70aacef9003'
      );
      expect(run?.stages.map((s) => s.stage)).toEqual([
        'tabular-read',
        'tabular-dataset',
        'tabular-validate',
        'tabular-transform',
        'tabular-train',
        'tabular-evaluate',
        'tabular-package',
        'tabular-register',
      ]);
      const version = await resolveVersion(deps.db, { model: outputs.model, version: outputs.version });
      expect(version.packageDigest).toBe(outputs.package.digest);
      expect(version.runId).toBe(first.runId);

      const again = await start();
      expect(again.cached.sort()).toEqual(run!.stages.map((s) => s.stage).sort());
      expect(again.outputs).toEqual(first.outputs);
    });
  });
});
