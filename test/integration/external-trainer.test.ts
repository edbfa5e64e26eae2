import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchOutputManifest } from '../../activities/batch-inference.js';
import { loadDataset } from '../../activities/dataset.js';
import type { ModelPackage } from '../../activities/package.js';
import { splitForRun } from '../../activities/transform.js';
import { createToken } from '../../lib/auth/tokens.js';
import { readParquet } from '../../lib/data/read-parquet.js';
import { valueAt } from '../../lib/data/table.js';
import type { OnnxModel } from '../../lib/ml/onnx.js';
import type { TabularPipeline } from '../../lib/pipeline/tabular.js';
import type { RunPlan, TrainResult } from '../../lib/pipeline/stage-types.js';
import { getRun } from '../../lib/tracking/queries.js';
import { flightDelays } from '../../pipelines/flight-delays/pipeline.js';
import type { Server } from '../../serving/server.js';
import { ensureStreams, startStreamConsumer, streamNames, streamSettings } from '../../serving/stream.js';
import type { PredictionAnswer } from '../../serving/stream.js';
import { batchInference } from '../../workflows/batch-inference.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { loadProject } from '../../lib/pipeline/project.js';
import { runEntry } from '../helpers/cli.js';
import { crash, pendingHeartbeat, trainWorkerProcesses } from '../helpers/processes.js';
import { releaseTokens } from '../helpers/records.js';
import { testConfig } from '../helpers/services.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const PROJECT = 'examples/sklearn-flights';
const ctx = useServices({ project: await loadProject(PROJECT) });
const { deps } = ctx;
const startTrainWorker = trainWorkerProcesses();

const MODEL = 'flight-delays-sklearn';
/** Its own deployment environment, so reruns on one database start from a first release. */
const ENVIRONMENT = `sklearn-${randomUUID().slice(0, 8)}`;
const CONFIG = { rows: 300_000, rounds: 120, checkpointEvery: 10 };
/** How many held-out rows are sent to the online server and the stream. */
const SAMPLE = 300;

let server: Server;
let base: string;
beforeAll(async () => {
  ({ server, base } = await startTestServer(deps, { environment: ENVIRONMENT }));
});
afterAll(() => server?.close());

/** A relative difference within the tolerance of "equal to Python's to 1e-5". */
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));

describe('the scikit-learn example: trained in Python by the external trainer, served as ONNX', () => {
  it('resumes from its checkpoint after kill -9, reproduces bit for bit, and online, batch and stream predictions equal Python’s', async () => {
    await withWorker(
      deps,
      async (taskQueue) => {
        const queue = `${taskQueue}-train`;
        const env = { CAIRN_PROJECT: PROJECT };
        const first = await startTrainWorker(queue, env);
        const handle = await ctx.client.workflow.start(runPipeline, {
          taskQueue,
          workflowId: `sklearn-${randomUUID()}`,
          args: [{ pipeline: MODEL, config: CONFIG }],
        });

        // 1. Killed mid-training, once the server has a stored checkpoint; the next worker resumes from it.
        let beat: { round: number; total: number; checkpointRound?: number } | undefined;
        const deadline = Date.now() + 300_000;
        while (!(beat?.checkpointRound && beat.checkpointRound <= beat.total - 30) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          beat = await pendingHeartbeat(handle, 'runStep');
        }
        expect(beat?.checkpointRound, 'no checkpoint was reported in time').toBeGreaterThanOrEqual(10);
        await crash(first);
        await startTrainWorker(queue, env);
        const result = await handle.result();

        const run = await getRun(deps.db, result.runId);
        expect(run?.stages.find((s) => s.stage === 'tabular-train')).toMatchObject({ status: 'succeeded', attempt: 2 });
        const outputs = result.outputs as { model: string; version: number; package: { digest: string } };
        const pkg = await deps.store.getJson<ModelPackage>(outputs.package.digest);
        const model = pkg.model as OnnxModel;
        expect(model.kind).toBe('onnx');
        expect(model.signature.inputs).toEqual([{ name: 'input', type: 'float32', shape: [null, 6] }]);
        expect(model.environment).toMatchObject({ python: expect.any(String) });
        expect((model.environment as { packages: string[] }).packages).toContain('scikit-learn==1.9.1');
        const trained = pkg.lineage.trainer as Required<Pick<TrainResult, 'environment' | 'agreement'>>;
        expect(trained.environment).toBe((model.environment as { lock: string }).lock);
        expect(trained.agreement.maxDeviation).toBeLessThanOrEqual(1e-5);
        expect(pkg.metrics.rmse).toBeLessThan(60);
        // Training curves from its progress lines, every 10 rounds, whole across the crash (kept with checkpoints).
        const steps = (name: string) => run!.metrics.filter((m) => m.name === name).map((m) => m.step);
        const every10 = Array.from({ length: CONFIG.rounds / 10 }, (_, i) => (i + 1) * 10);
        expect(steps('train.rmse')).toEqual(every10);
        expect(steps('validation.rmse')).toEqual(every10);
        const last = run!.metrics.find((m) => m.name === 'validation.rmse' && m.step === CONFIG.rounds)!.value;
        expect(last).toBeCloseTo(pkg.metrics.rmse!, 3);

        // The progress the resumed attempt started from: the checkpoint, not round 0.
        const resumed = await resumedRound(handle.workflowId);
        expect(resumed).toBeGreaterThanOrEqual(beat!.checkpointRound!);
        expect(resumed).toBeLessThan(CONFIG.rounds);

        // 2. `cairn reproduce`: every step again, no cache: the same package, bit for bit, uninterrupted this time.
        const cli = { CAIRN_TASK_QUEUE: taskQueue, CAIRN_TRAIN_TASK_QUEUE: queue, CAIRN_PROJECT: PROJECT };
        const reproduced = await runEntry('cli/main.ts', ['reproduce', result.runId], cli);
        expect(reproduced.stderr).toBe('');
        expect(reproduced.stdout).toMatch(/reproduced outputs\s+sha256:[0-9a-f]{64}\s+IDENTICAL/);
        const lineage = await runEntry('cli/main.ts', ['lineage', `${MODEL}@${outputs.version}`], cli);
        expect(lineage.stdout).toContain(`├─ onnx model ${model.digest}`);
        expect(lineage.stdout).toContain(`python environment ${trained.environment}`);

        // 3. Released with an approval.
        const { rita, alice } = await releaseTokens(deps.db, MODEL);
        const release = await runEntry(
          'cli/main.ts',
          ['release', `${MODEL}@${outputs.version}`, '--first', '--env', ENVIRONMENT],
          { ...cli, CAIRN_TOKEN: rita }
        );
        expect(release.stderr).toBe('');
        const releaseId = `release-${MODEL}-v${outputs.version}-${ENVIRONMENT}`;
        const releaseHandle = ctx.client.workflow.getHandle(releaseId);
        for (
          let i = 0;
          i < 300 && (await releaseHandle.query<{ stage: string }>('status')).stage !== 'awaiting-approval';
          i++
        )
          await new Promise((r) => setTimeout(r, 100));
        const approved = await runEntry('cli/main.ts', ['approve', releaseId], { ...cli, CAIRN_TOKEN: alice });
        expect(approved.code).toBe(0);
        expect(await releaseHandle.result()).toMatchObject({ status: 'promoted' });

        // Python's own predictions on the held-out rows, and those rows as a caller sends them.
        const python = await deps.store.getJson<number[]>(trained.agreement.predictions);
        const table = await loadDataset(deps.store, pkg.lineage.dataset, pkg.lineage.dataset);
        const plan = { config: pkg.lineage.config, task: 'regression' } as unknown as RunPlan;
        const { test } = splitForRun(flightDelays as unknown as TabularPipeline, plan, table);
        expect(python).toHaveLength(test.rows.length);
        const sample = Array.from({ length: SAMPLE }, (_, i) => Math.floor((i * test.rows.length) / SAMPLE));
        const rowOf = (r: number) =>
          Object.fromEntries(
            ['date', 'distance', 'origin', 'destination'].map((c) => {
              const v = valueAt(table.columns[c]!, r);
              return [c, c === 'date' ? new Date(v as number).toISOString() : v];
            })
          );
        const requests = sample.map((i) => rowOf(test.rows[i]!));

        // 4a. Online.
        const predict = (await createToken(deps.db, 'sklearn-test', [`predict:${MODEL}`])).token;
        let online: { status: number; body: { version?: number; predictions?: { value: number }[] } } | undefined;
        for (let i = 0; i < 100 && online?.body.version !== outputs.version; i++) {
          const res = await fetch(`${base}/v1/models/${MODEL}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${predict}` },
            body: JSON.stringify({ rows: requests }),
          });
          online = { status: res.status, body: (await res.json()) as never };
          if (online.body.version !== outputs.version) await new Promise((r) => setTimeout(r, 200));
        }
        expect(online?.status).toBe(200);
        const served = online!.body.predictions!.map((p) => p.value);
        sample.forEach((t, i) =>
          expect(close(served[i]!, python[t]!), `online row ${t}: ${served[i]} vs ${python[t]}`).toBe(true)
        );

        // 4b. Batch, over the whole dataset: the held-out rows' outputs are Python's.
        const batch = await ctx.client.workflow.execute(batchInference, {
          taskQueue,
          workflowId: `sklearn-batch-${randomUUID()}`,
          args: [{ model: `${MODEL}@${outputs.version}`, input: pkg.lineage.dataset, chunkRows: 100_000 }],
        });
        const values = await batchValues(batch.output.digest);
        expect(values).toHaveLength(table.rowCount);
        let worst = 0;
        test.rows.forEach((r, i) => {
          if (!close(values[r]!, python[i]!)) worst = Math.max(worst, Math.abs(values[r]! - python[i]!));
        });
        expect(worst, 'largest batch deviation beyond 1e-5').toBe(0);

        // 4c. Stream.
        const streamed = await streamPredictions(requests);
        sample.forEach((t, i) => expect(close(streamed[i]!, python[t]!), `stream row ${t}`).toBe(true));
      },
      { trainWorker: false }
    );
  }, 900_000);
});

/** The round the train step's last attempt started from, as its first heartbeat in the run's history shows. */
async function resumedRound(workflowId: string): Promise<number> {
  const { rows } = await deps.db.query<{ attempt: number }>(
    `SELECT attempt FROM cairn.run_stages WHERE run_id = $1 AND stage = 'tabular-train'`,
    [workflowId]
  );
  expect(rows[0]?.attempt).toBe(2);
  const history = await ctx.client.workflow.getHandle(workflowId).fetchHistory();
  const completed = history.events!.find((e) => {
    const result = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    return result && Buffer.from(result).toString('utf8').includes('"resumedFromRound"');
  });
  const payload = Buffer.from(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString(
    'utf8'
  );
  return Number(/"resumedFromRound":(\d+)/.exec(payload)![1]);
}

/** Every prediction of a batch output, by dataset row. */
async function batchValues(digest: string): Promise<number[]> {
  const manifest = await deps.store.getJson<BatchOutputManifest>(digest);
  const dir = await mkdtemp(join(tmpdir(), 'cairn-sklearn-'));
  try {
    const values: number[] = [];
    for (const part of manifest.parts) {
      const path = join(dir, 'part.parquet');
      await deps.store.getFile(part.digest, path);
      const column = (await readParquet(path)).columns.value!;
      if (column.type !== 'number') throw new Error('value must be a number column');
      values.push(...column.values);
      await rm(path);
    }
    return values;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Sends each row as one message to a stream consumer of the test's environment; its predictions, in order. */
async function streamPredictions(rows: Record<string, unknown>[]): Promise<number[]> {
  const prefix = `sk${randomUUID().slice(0, 8)}`;
  const names = streamNames(prefix);
  const config = { ...testConfig(), serving: { ...testConfig().serving, environment: ENVIRONMENT } };
  const nc = await connect({ servers: config.nats.url });
  const jsm = await jetstreamManager(nc);
  const token = (await createToken(deps.db, 'sklearn-stream', [`predict:${MODEL}`])).token;
  await ensureStreams(jsm, streamSettings({ config, prefix }));
  const consumer = await startStreamConsumer({ ...deps, config, prefix });
  try {
    const js = jsm.jetstream();
    for (const [i, row] of rows.entries()) {
      const h = headers();
      h.set('Authorization', `Bearer ${token}`);
      await js.publish(names.input(MODEL), JSON.stringify({ row }), { msgID: `row-${i}`, headers: h });
    }
    const answers = new Map<string, number>();
    const reader = await js.consumers.get(names.outputStream);
    const messages = await reader.consume({ max_messages: 1000 });
    for await (const m of messages) {
      const answer = m.json<PredictionAnswer>();
      expect(answer.predictions, JSON.stringify(answer)).toBeDefined();
      answers.set(answer.id, (answer.predictions[0] as { value: number }).value);
      if (answers.size === rows.length) break;
    }
    await messages.close();
    return rows.map((_, i) => answers.get(`row-${i}`)!);
  } finally {
    await consumer.stop();
    for (const stream of [names.inputStream, names.outputStream]) await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
  }
}
