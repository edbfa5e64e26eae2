import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { PACKAGE_FORMAT } from '../../activities/package.js';
import type { ModelPackage } from '../../activities/package.js';
import { statusQuery } from '../../workflows/messages.js';
import { getRun } from '../../lib/tracking/queries.js';
import {
  CairnDatasetDigest,
  CairnModel,
  CairnModelVersion,
  CairnPipeline,
  CairnStage,
} from '../../workflows/search-attributes.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../../workflows/training-pipeline.js';

import { RUN_ACTIVITIES, activityEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

function run(input: TrainingPipelineInput) {
  return withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `train-${randomUUID()}`,
      args: [input],
    });
    const result = await handle.result();
    const description = await handle.describe();
    return { handle, result, status: await handle.query(statusQuery), attributes: description.typedSearchAttributes };
  });
}

describe('trainingPipeline on penguins through Temporal, PostgreSQL and S3', () => {
  it('runs every stage once and packages a model that classifies held-out penguins', async () => {
    const model = `penguins-${randomUUID().slice(0, 8)}`;
    const { handle, result, status, attributes } = await run({ pipeline: 'penguins', model });

    expect(result.pipeline).toBe('penguins');
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(result.metrics.macroF1).toBeGreaterThan(0.9);
    expect(result.gate).toEqual({ passed: true, reasons: [] });
    expect(status.stage).toBe('done');
    expect(attributes.get(CairnPipeline)).toBe('penguins');
    expect(attributes.get(CairnDatasetDigest)).toBe(result.dataset);
    expect(attributes.get(CairnStage)).toBe('done');
    expect(attributes.get(CairnModel)).toBe(model);
    expect(attributes.get(CairnModelVersion)).toBe('1');
    expect(result.model).toMatchObject({ name: model, version: 1 });

    const { scheduled } = await activityEvents(handle);
    expect(scheduled).toEqual(RUN_ACTIVITIES);

    const pkg = await deps.store.getJson<ModelPackage>(result.model.digest);
    expect(pkg.format).toBe(PACKAGE_FORMAT);
    expect(pkg.classes).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    expect((pkg.model as { kind: string }).kind).toBe('gbdt');
    expect((pkg.features as { name: string }[]).map((f) => f.name)).toEqual([
      'beak_length',
      'beak_depth',
      'flipper_length',
      'body_mass',
      'Island',
      'Sex',
    ]);
    expect(pkg.lineage).toMatchObject({ dataset: result.dataset, pipelineVersion: '1', code: deps.code });
    expect(pkg.lineage.configDigest).toMatch(/^sha256:/);
    expect(pkg.referenceStatistics).toBeTruthy();
    expect(pkg.metrics.accuracy).toBe(result.metrics.accuracy);

    const { rows } = await deps.db.query(
      'SELECT row_count FROM cairn.dataset_versions WHERE pipeline = $1 AND digest = $2',
      ['penguins', result.dataset]
    );
    expect(rows).toEqual([{ row_count: 344 }]);

    const record = await getRun(deps.db, handle.workflowId);
    expect(record).toMatchObject({
      status: 'succeeded',
      error: null,
      modelName: model,
      modelVersion: 1,
      packageDigest: result.model.digest,
    });
    expect(record!.stages.map((s) => [s.stage, s.status])).toEqual(
      ['ingest', 'validate', 'transform', 'train', 'evaluate', 'package', 'register'].map((s) => [s, 'succeeded'])
    );
    expect(record!.params).toMatchObject({ rounds: '60', 'gate.minAccuracy': '0.9' });
    expect(record!.metrics.find((m) => m.name === 'accuracy')?.value).toBe(result.metrics.accuracy);
    // Training curves: the log loss after each of the 60 rounds, on the training and the held-out rows.
    const curve = (name: string) => record!.metrics.filter((m) => m.name === name).map((m) => [m.step, m.value]);
    const [train, validation] = [curve('train.logLoss'), curve('validation.logLoss')];
    expect(train.map(([step]) => step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(validation.map(([step]) => step)).toEqual(train.map(([step]) => step));
    expect(train.at(-1)![1]).toBeLessThan(train[0]![1]! / 2);
    expect(validation.at(-1)![1]).toBe(result.metrics.logLoss);
    expect(record!.cpuSeconds).toBeGreaterThan(0);
    expect(record!.cost).toBeCloseTo(record!.cpuSeconds * deps.cpuSecondPrice, 12);
    expect(record!.artifacts.map((a) => `${a.stage}/${a.role}`)).toEqual(
      expect.arrayContaining(['ingest/data', 'ingest/manifest', 'train/model', 'train/curves', 'package/package'])
    );
  });

  it('gives the same dataset digest and the same package digest for the same pipeline, config and data', async () => {
    const config = { rounds: 20, seed: 11 };
    const model = `penguins-${randomUUID().slice(0, 8)}`;
    const first = await run({ pipeline: 'penguins', config, model, noCache: true });
    const second = await run({ pipeline: 'penguins', config, model, noCache: true });
    expect(second.result.model.version).toBe(2);
    expect(second.result.gate.champion).toMatchObject({ version: 1, metric: 'accuracy', passed: true });
    expect(second.result.dataset).toBe(first.result.dataset);
    expect(second.result.model.digest).toBe(first.result.model.digest);
    const other = await run({ pipeline: 'penguins', config: { rounds: 21, seed: 11 }, model });
    expect(other.result.dataset).toBe(first.result.dataset);
    expect(other.result.model.digest).not.toBe(first.result.model.digest);
  });

  it.each([
    [
      { pipeline: 'no-such-pipeline' },
      'UnknownPipeline',
      /unknown pipeline "no-such-pipeline" \(known: flight-delays, penguins\)/,
    ],
    [{ pipeline: 'penguins', config: { roundz: 3 } }, 'InvalidConfig', /unknown config key roundz/],
    [{ pipeline: 'penguins', config: { rounds: 'many' } }, 'InvalidConfig', /config key rounds: .*expected number/],
  ])('a bad request %j fails at once with %s', async (input, type, message) => {
    const err = await withWorker(deps, (taskQueue) =>
      ctx.client.workflow.execute(trainingPipeline, {
        taskQueue,
        workflowId: `train-${randomUUID()}`,
        args: [input as TrainingPipelineInput],
      })
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause as {
      type?: string;
      message: string;
      nonRetryable?: boolean;
    };
    expect(cause.type).toBe(type);
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(message);
  });
});
