import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_FORMAT } from '../../activities/package.js';
import { statusQuery } from '../../workflows/messages.js';
import { CairnDatasetDigest, CairnPipeline, CairnStage } from '../../workflows/search-attributes.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../../workflows/training-pipeline.js';
import { testDeps } from '../helpers/services.js';
import { activityEvents, testClient, withWorker } from '../helpers/temporal.js';

const deps = testDeps();
let client: Client;
beforeAll(async () => {
  client = await testClient();
});
afterAll(async () => {
  await client.connection.close();
  await deps.close();
});

function run(input: TrainingPipelineInput) {
  return withWorker(deps, async (taskQueue) => {
    const handle = await client.workflow.start(trainingPipeline, {
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
    const { handle, result, status, attributes } = await run({ pipeline: 'penguins' });

    expect(result.pipeline).toBe('penguins');
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(result.metrics.macroF1).toBeGreaterThan(0.9);
    expect(result.gate).toEqual({ passed: true, reasons: [] });
    expect(status.stage).toBe('done');
    expect(attributes.get(CairnPipeline)).toBe('penguins');
    expect(attributes.get(CairnDatasetDigest)).toBe(result.dataset);
    expect(attributes.get(CairnStage)).toBe('done');

    const { scheduled } = await activityEvents(handle);
    expect(scheduled).toEqual(['prepareRun', 'ingest', 'validate', 'transform', 'train', 'evaluate', 'packageModel']);

    const pkg = JSON.parse((await deps.store.getBytes(result.model.digest)).toString('utf8'));
    expect(pkg.format).toBe(PACKAGE_FORMAT);
    expect(pkg.classes).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
    expect(pkg.model.kind).toBe('gbdt');
    expect(pkg.features.map((f: { name: string }) => f.name)).toEqual([
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
  });

  it('gives the same dataset digest and the same package digest for the same pipeline, config and data', async () => {
    const config = { rounds: 20, seed: 11 };
    const first = await run({ pipeline: 'penguins', config });
    const second = await run({ pipeline: 'penguins', config });
    expect(second.result.dataset).toBe(first.result.dataset);
    expect(second.result.model.digest).toBe(first.result.model.digest);
    const other = await run({ pipeline: 'penguins', config: { rounds: 21, seed: 11 } });
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
      client.workflow.execute(trainingPipeline, {
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
