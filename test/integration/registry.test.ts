import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import { keyOf } from '../../lib/artifacts/index.js';
import { aliasHistory, listVersions, registerVersion, resolveVersion } from '../../lib/registry/models.js';
import { getRun } from '../../lib/tracking/queries.js';
import { startRun } from '../../lib/tracking/runs.js';
import { lineageOf, reproduce } from '../../cli/registry.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../../workflows/training-pipeline.js';
import { testConfig } from '../helpers/services.js';
import { activityEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

const uniqueModel = () => `model-${randomUUID().slice(0, 8)}`;

async function run(input: TrainingPipelineInput, options: Parameters<typeof withWorker>[2] = {}) {
  return withWorker(
    deps,
    async (taskQueue) => {
      const handle = await ctx.client.workflow.start(trainingPipeline, {
        taskQueue,
        workflowId: `reg-${randomUUID()}`,
        args: [input],
      });
      return { handle, result: await handle.result() };
    },
    options
  );
}

describe('model registry', () => {
  it('gives 16 concurrent registrations of one model versions 1..16, with no gap, duplicate or error', async () => {
    const model = uniqueModel();
    const runs = Array.from({ length: 16 }, (_, i) => `${model}-run-${i}`);
    for (const id of runs) {
      await startRun(deps.db, {
        workflowId: id,
        executionId: 'test',
        pipeline: 'penguins',
        pipelineVersion: '1',
        trigger: 'test',
        config: {},
        configDigest: 'sha256:x',
        code: deps.code,
      });
    }
    const results = await Promise.all(
      runs.map((runId) =>
        registerVersion(deps.db, {
          model,
          pipeline: 'penguins',
          runId,
          packageDigest: `sha256:${runId}`,
          datasetDigest: 'sha256:d',
          metrics: {},
          gate: {},
          lineage: {},
        })
      )
    );
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(results.every((r) => r.created)).toBe(true);
    expect((await listVersions(deps.db, model)).map((v) => v.version)).toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1)
    );
  });

  it('a register activity that fails after its commit and is retried creates no second version', async () => {
    const model = uniqueModel();
    let failures = 0;
    const { handle, result } = await run(
      { pipeline: 'penguins', model, config: { rounds: 10 } },
      {
        wrap: (activities) => ({
          ...activities,
          async register(input) {
            const registered = await activities.register(input);
            if (Context.current().info.attempt === 1) {
              failures++;
              throw new Error('the worker lost its connection right after the commit');
            }
            return registered;
          },
        }),
      }
    );
    expect(failures).toBe(1);
    expect((await activityEvents(handle)).attempts.register).toEqual([2]);
    expect(result.model.version).toBe(1);
    expect((await listVersions(deps.db, model)).map((v) => v.version)).toEqual([1]);
    expect((await aliasHistory(deps.db, model)).map((h) => [h.alias, h.version])).toEqual([['champion', 1]]);
  });

  it('only a candidate that is not worse than the champion becomes champion, and the reasons are recorded', async () => {
    const model = uniqueModel();
    const weak = { rounds: 1, maxDepth: 1, learningRate: 0.05, gate: { minAccuracy: 0 } };
    const first = await run({ pipeline: 'penguins', model, config: weak });
    const better = await run({ pipeline: 'penguins', model, config: { rounds: 60 } });
    const worse = await run({ pipeline: 'penguins', model, config: weak });

    expect(first.result.gate).toEqual({ passed: true, reasons: [] });
    expect(better.result.metrics.accuracy).toBeGreaterThan(first.result.metrics.accuracy!);
    expect(better.result.gate.champion).toMatchObject({
      version: 1,
      passed: true,
      champion: first.result.metrics.accuracy,
    });
    expect(worse.result.gate.passed).toBe(false);
    expect(worse.result.gate.reasons).toEqual([
      expect.stringMatching(/^accuracy 0\.\d+ is worse than champion v2's 1\.0000 by 0\.\d+ \(allowed 0\.01\)$/),
    ]);

    expect((await resolveVersion(deps.db, { model, alias: 'champion' })).version).toBe(2);
    const v3 = await resolveVersion(deps.db, { model, version: 3 });
    expect(v3.gate).toMatchObject({ passed: false, reasons: worse.result.gate.reasons });
    const history = await aliasHistory(deps.db, model);
    expect(history.map((h) => [h.alias, h.version, h.previousVersion])).toEqual([
      ['champion', 1, null],
      ['champion', 2, 1],
    ]);
    expect(history[1]!.reason).toMatch(/^accuracy 1\.0000 vs champion v1 0\.\d+ on the same held-out rows$/);
  });
});

describe('a champion whose package is gone', () => {
  it('does not block the next candidate; the gate notes why there was no comparison', async () => {
    const model = uniqueModel();
    const first = await run({ pipeline: 'penguins', model, config: { rounds: 15 } });
    await ctx.deps.store.client.removeObject(ctx.deps.store.bucket, keyOf(first.result.model.digest));
    const second = await run({ pipeline: 'penguins', model, config: { rounds: 16 } });
    expect(second.result.gate.passed).toBe(true);
    expect(second.result.gate.notes).toEqual([
      expect.stringMatching(/^champion v1 not compared: its package: artifact sha256:[0-9a-f]{64} not found/),
    ]);
    expect((await resolveVersion(deps.db, { model, alias: 'champion' })).version).toBe(2);
  });
});

describe('lineage, caching and reproduction', () => {
  it('traces a version to its dataset, manifest, config and commit, and reproduces it bit for bit', async () => {
    const model = uniqueModel();
    const { result } = await run({ pipeline: 'penguins', model, config: { rounds: 25 } });
    const lineage = await lineageOf(deps.db, deps.store, `${model}@champion`);
    expect(lineage).toMatchObject({
      model,
      version: 1,
      package: result.model.digest,
      code: deps.code,
      dataset: { digest: result.dataset, rowCount: 344, manifest: { readable: true } },
    });
    expect(lineage.configDigest).toMatch(/^sha256:/);
    expect(lineage.dataset.manifest.columns).toContain('Species');

    const config = testConfig();
    const reproduction = await withWorker(deps, (taskQueue) =>
      reproduce(
        ctx.client,
        deps.db,
        deps.store,
        { ...config, temporal: { ...config.temporal, taskQueue, trainTaskQueue: `${taskQueue}-train` } },
        `${model}@1`,
        'registry-test'
      )
    );
    expect(reproduction).toMatchObject({
      identical: true,
      commitMatches: true,
      registeredPackage: result.model.digest,
      reproducedPackage: result.model.digest,
    });
    const again = await getRun(deps.db, reproduction.reproducedBy);
    expect(again).toMatchObject({
      status: 'succeeded',
      trigger: 'reproduce',
      parentRunId: lineage.run.id,
      cacheHits: [],
      modelVersion: null,
    });
    expect((await listVersions(deps.db, model)).length).toBe(1);
  });

  it('a second identical run hits the cache for ingest, validate, transform and train; a deleted artifact is recomputed', async () => {
    const model = uniqueModel();
    const config = { rows: 120_000, rounds: 40 };
    const first = await run({ pipeline: 'flight-delays', model, config });
    const second = await run({ pipeline: 'flight-delays', model, config });
    const [a, b] = [await getRun(deps.db, first.handle.workflowId), await getRun(deps.db, second.handle.workflowId)];
    expect(a!.cacheHits).toEqual([]);
    expect(b!.cacheHits).toEqual(['ingest', 'validate', 'transform', 'train']);
    expect(second.result.model.digest).toBe(first.result.model.digest);
    const wall = (r: typeof a) =>
      r!.stages
        .filter((s) => ['ingest', 'validate', 'transform', 'train'].includes(s.stage))
        .reduce((t, s) => t + s.wallMs!, 0);
    expect(wall(b)).toBeLessThan(wall(a));

    // Delete the cached model: the next run recomputes train instead of failing, and still hits the rest.
    const trained = a!.artifacts.find((x) => x.stage === 'train' && x.role === 'model')!;
    await deps.store.client.removeObject(deps.store.bucket, keyOf(trained.digest));
    const third = await run({ pipeline: 'flight-delays', model, config });
    const c = await getRun(deps.db, third.handle.workflowId);
    expect(c!.status).toBe('succeeded');
    expect(c!.cacheHits).toEqual(['ingest', 'validate', 'transform']);
    expect(third.result.model.digest).toBe(first.result.model.digest);
    expect(await deps.store.stat(trained.digest)).toBeDefined();
  });
});
