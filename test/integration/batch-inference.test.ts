import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BatchOutputManifest } from '../../activities/batch-inference.js';
import { encodeTable } from '../../lib/data/snapshot.js';
import { readParquet } from '../../lib/data/read-parquet.js';
import { batchInference } from '../../workflows/batch-inference.js';
import type { BatchInferenceInput, BatchInferenceStatus } from '../../workflows/batch-inference.js';
import { statusQuery } from '../../workflows/messages.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { crash, trainWorkerProcesses } from '../helpers/processes.js';
import { activityEvents, useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

const ROWS = 1_000_000;
const CHUNK_ROWS = 100_000;
const CHUNKS = ROWS / CHUNK_ROWS;
/** The model trained once for this file, under its own name so other files' versions do not interfere. */
const model = `batch-${randomUUID().slice(0, 8)}`;
let version: number;
let dataset: string;

beforeAll(async () => {
  const trained = await withWorker(deps, (taskQueue) =>
    ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `batch-train-${randomUUID()}`,
      args: [{ pipeline: 'flight-delays', model, config: { rows: ROWS } }],
    })
  );
  expect(trained.gate.passed).toBe(true);
  version = trained.model.version!;
  dataset = trained.dataset;
}, 240_000);

const startTrainWorker = trainWorkerProcesses();

/** Reads every part of an output back with Cairn's Parquet reader: row indices and predictions, in order. */
async function readOutput(digest: string): Promise<{ manifest: BatchOutputManifest; rows: number }> {
  const manifest = await deps.store.getJson<BatchOutputManifest>(digest);
  const dir = await mkdtemp(join(tmpdir(), 'cairn-batch-'));
  try {
    let rows = 0;
    for (const part of manifest.parts) {
      const path = join(dir, 'part.parquet');
      await deps.store.getFile(part.digest, path);
      const table = await readParquet(path);
      expect(table.names).toEqual(['row', 'value']);
      expect(table.rowCount).toBe(part.rows);
      const index = table.columns.row!;
      const value = table.columns.value!;
      if (index.type !== 'number' || value.type !== 'number') throw new Error('row and value must be numbers');
      for (let i = 0; i < table.rowCount; i++) {
        if (index.values[i] !== rows + i) throw new Error(`part row ${i} has index ${index.values[i]}`);
        if (!Number.isFinite(value.values[i]!)) throw new Error(`row ${rows + i}: prediction ${value.values[i]}`);
      }
      rows += table.rowCount;
      await rm(path);
    }
    return { manifest, rows };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function lineage(id: string) {
  const { rows } = await deps.db.query<{ model: string; version: number; input: string; output: string; rows: number }>(
    `SELECT model, version, input_digest AS input, output_digest AS output, rows
     FROM cairn.batch_inferences WHERE id = $1`,
    [id]
  );
  return rows;
}

/** The failure a failed workflow ends with: its ApplicationFailure, unwrapped from an activity failure. */
async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause = (err as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('batchInference', () => {
  it(`scores ${ROWS} flights in chunks fanned out over two worker processes; a killed worker's chunk is scored by the other, same output`, async () => {
    // One chunk at a time on one in-process worker, through the alias (resolved once to the version trained above).
    const started = performance.now();
    const sequential = await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(batchInference, {
        taskQueue,
        workflowId: `batch-${randomUUID()}`,
        args: [{ model: `${model}@champion`, input: dataset, chunkRows: CHUNK_ROWS, concurrency: 1 }],
      });
      const result = await handle.result();
      const status = (await handle.query(statusQuery)) as BatchInferenceStatus;
      expect(status).toMatchObject({ stage: 'done', progress: 1, chunks: { done: CHUNKS, total: CHUNKS } });
      expect(status.results.score).toMatchObject({ rows: ROWS, parts: CHUNKS, concurrency: 1 });
      const { attempts } = await activityEvents(handle);
      expect(attempts.planBatch).toEqual([1]);
      expect(attempts.scoreChunk).toEqual(Array.from({ length: CHUNKS }, () => 1));
      return { id: `${handle.workflowId}/${handle.firstExecutionRunId}`, result };
    });
    const sequentialMs = performance.now() - started;
    expect(sequential.result.model).toMatchObject({ name: model, version });
    expect(sequential.result.input).toBe(dataset);
    expect(sequential.result.output).toMatchObject({ parts: CHUNKS, rows: ROWS });

    // The same job on two real cairn-train worker processes, four chunks at a time; one worker is killed (SIGKILL)
    // while it scores a chunk, after some chunks are stored.
    const fanned = await withWorker(
      deps,
      async (taskQueue) => {
        const queue = `${taskQueue}-train`;
        const [first, second] = [await startTrainWorker(queue), await startTrainWorker(queue)];
        const args: BatchInferenceInput = {
          model: `${model}@${version}`,
          input: dataset,
          chunkRows: CHUNK_ROWS,
          concurrency: 4,
        };
        const handle = await ctx.client.workflow.start(batchInference, {
          taskQueue,
          workflowId: `batch-crash-${randomUUID()}`,
          args: [args],
        });
        let done = 0;
        const deadline = Date.now() + 120_000;
        for (;;) {
          expect(Date.now(), 'no chunk of the first worker was in flight after two stored chunks').toBeLessThan(
            deadline
          );
          done = ((await handle.query(statusQuery)) as BatchInferenceStatus).chunks?.done ?? 0;
          const { raw } = await handle.describe();
          const onFirst = (raw.pendingActivities ?? []).some(
            (a) => a.activityType?.name === 'scoreChunk' && a.lastWorkerIdentity?.startsWith(`${first.pid}@`)
          );
          if (done >= 2 && onFirst) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await crash(first);
        expect(done, 'the job finished before the worker could be killed').toBeLessThan(CHUNKS);

        const result = await handle.result();
        const history = await handle.fetchHistory();
        const scoredBy = new Set(
          (history.events ?? [])
            .map((e) => e.activityTaskStartedEventAttributes?.identity)
            .filter((id): id is string => Boolean(id))
            .map((id) => id.split('@')[0])
        );
        // Both processes scored chunks, and the chunk the killed one held was scored again by the other.
        expect(scoredBy).toContain(String(first.pid));
        expect(scoredBy).toContain(String(second.pid));
        const { attempts } = await activityEvents(handle);
        expect(attempts.scoreChunk).toHaveLength(CHUNKS);
        expect(attempts.scoreChunk!.filter((a) => a > 1).length).toBeGreaterThanOrEqual(1);
        return { id: `${handle.workflowId}/${handle.firstExecutionRunId}`, result, killedAt: done };
      },
      { trainWorker: false }
    );
    console.info(
      `batch inference: ${ROWS} rows, one chunk at a time, in ${(sequentialMs / 1000).toFixed(1)} s; ` +
        `a worker killed after ${fanned.killedAt} of ${CHUNKS} chunks`
    );

    expect(fanned.result.output.digest).toBe(sequential.result.output.digest);
    expect(fanned.result.model).toEqual(sequential.result.model);

    const { manifest, rows } = await readOutput(fanned.result.output.digest);
    expect(rows).toBe(ROWS);
    expect(manifest).toMatchObject({
      model: { name: model, version, package: sequential.result.model.digest },
      input: dataset,
      rows: ROWS,
      columns: [
        { name: 'row', type: 'int32' },
        { name: 'value', type: 'double' },
      ],
    });
    expect(manifest.parts).toHaveLength(CHUNKS);

    for (const { id } of [sequential, fanned]) {
      expect(await lineage(id)).toEqual([
        { model, version, input: dataset, output: sequential.result.output.digest, rows: ROWS },
      ]);
    }
  }, 240_000);

  it('fails once, non-retryably, naming what is missing: an unknown model, dataset or contract column', async () => {
    await withWorker(deps, async (taskQueue) => {
      const run = (args: BatchInferenceInput) =>
        ctx.client.workflow.start(batchInference, { taskQueue, workflowId: `batch-bad-${randomUUID()}`, args: [args] });

      const unknownModel = await run({ model: 'no-such-model@1', input: dataset });
      const noModel = await failureOf(unknownModel);
      expect(noModel).toMatchObject({ type: 'UnknownModel', nonRetryable: true });
      expect(noModel.message).toMatch(/unknown model no-such-model/);
      expect((await activityEvents(unknownModel)).attempts.resolveBatchInference).toEqual([1]);

      const noVersion = await failureOf(await run({ model: `${model}@99`, input: dataset }));
      expect(noVersion).toMatchObject({ type: 'UnknownModel', nonRetryable: true });
      expect(noVersion.message).toMatch(new RegExp(`${model}@99 does not exist`));

      const missing = `sha256:${'0'.repeat(64)}`;
      const noData = await failureOf(await run({ model: `${model}@${version}`, input: missing }));
      expect(noData).toMatchObject({ type: 'UnknownDataset', nonRetryable: true });
      expect(noData.message).toContain(missing);

      // A snapshot with the distance column alone.
      const distance = { type: 'number' as const, values: Float64Array.of(300, 1200), missing: new Uint8Array(2) };
      const partial = await deps.store.putBytes(
        encodeTable({ rowCount: 2, names: ['distance'], columns: { distance } })
      );
      const lacking = await run({ model: `${model}@${version}`, input: partial.digest });
      const noColumns = await failureOf(lacking);
      expect(noColumns).toMatchObject({ type: 'DataContractViolation', nonRetryable: true });
      expect(noColumns.message).toMatch(/lacks the contract columns date, origin, destination/);
      expect((await activityEvents(lacking)).attempts.planBatch).toEqual([1]);

      const malformed = await failureOf(await run({ model: 'flight-delays', input: 'latest' }));
      expect(malformed).toMatchObject({ type: 'InvalidWorkflowInput', nonRetryable: true });
      expect(malformed.message).toMatch(/model: expected <model>@<version>.*input: expected a digest, sha256/);
    });
  }, 60_000);
});
