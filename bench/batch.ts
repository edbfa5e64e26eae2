// Batch fan-out: wall time of batchInference scoring all 3,000,000 flights (30 chunks of 100,000) on two cairn-train
// worker processes against one, the same job, model and input, interleaved. Target: two workers >= 1.7x faster, and
// every run gives the same output digest. Runs against the stack (`npm run stack:up`): it starts its own `cairn`
// worker and three `cairn-train` workers (one queue with one, one with two) and trains the model it scores with.
// BENCH_REPS (default 5), BENCH_ROWS (default 3,000,000); --smoke: 1 repetition, a model trained on 20,000 flights
// scoring 20,000 in 10 chunks of 2,000.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import { readParquet } from '../lib/data/read-parquet.js';
import { encodeTable } from '../lib/data/snapshot.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { batchInference } from '../workflows/batch-inference.js';
import { trainingPipeline } from '../workflows/training-pipeline.js';
import { interleave, needStack, report, sized, SMOKE, stats } from './harness.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 3_000_000, 20_000);
const CHUNK_ROWS = SMOKE ? 2_000 : 100_000;
/** The flights the scored model is trained on. */
const TRAIN_ROWS = SMOKE ? 20_000 : 200_000;
const TARGET = 1.7;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Sample {
  ms: number;
  digest: string;
}

/** A Cairn worker process (`cairn` or `cairn-train`) on the given queues, killed when the benchmark ends. */
function worker(entry: 'cairn' | 'cairn-train', queue: string, trainQueue: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', `workers/${entry}.ts`], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_TASK_QUEUE: queue,
      CAIRN_TRAIN_TASK_QUEUE: trainQueue,
      CAIRN_METRICS_PORT: '0',
      CAIRN_HEALTH_PORT: '0',
    },
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  await needStack(config, ['temporal', 'postgres', 'object-store']);
  const id = randomUUID().slice(0, 8);
  const queue = `bench-batch-${id}`;
  const [one, two] = [`${queue}-one`, `${queue}-two`];
  const children = [
    worker('cairn', queue, one),
    worker('cairn-train', queue, one),
    worker('cairn-train', queue, two),
    worker('cairn-train', queue, two),
  ];
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    // The model: flight-delays on its first TRAIN_ROWS flights, registered under a name of the benchmark's own.
    const model = `bench-batch-${id}`;
    const trained = await client.workflow.execute(trainingPipeline, {
      taskQueue: queue,
      workflowId: `${model}-train`,
      args: [{ pipeline: 'flight-delays', model, config: { rows: TRAIN_ROWS }, trainTaskQueue: one }],
    });
    if (!trained.model.version) throw new Error(`no version registered: ${JSON.stringify(trained.gate)}`);
    // The input: the first ROWS flights as a dataset snapshot in the store.
    const flights = await readParquet(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'), { limit: ROWS });
    const input = (await createArtifactStore(config).putBytes(encodeTable(flights))).digest;

    const run = (trainTaskQueue: string) => async (): Promise<Sample> => {
      const started = performance.now();
      const result = await client.workflow.execute(batchInference, {
        taskQueue: queue,
        workflowId: `${model}-${randomUUID().slice(0, 8)}`,
        args: [{ model: `${model}@${trained.model.version}`, input, chunkRows: CHUNK_ROWS, trainTaskQueue }],
      });
      return { ms: performance.now() - started, digest: result.output.digest };
    };
    const results = await interleave({ one: run(one), two: run(two) }, REPS);
    const [single, double] = [results.one as Sample[], results.two as Sample[]];
    const digests = new Set([...single, ...double].map((s) => s.digest));
    const speedup = stats(single.map((s) => s.ms)).median / stats(double.map((s) => s.ms)).median;
    report(
      'batch',
      [
        {
          metric: `batchInference, ${ROWS.toLocaleString('en-US')} rows in ${Math.ceil(ROWS / CHUNK_ROWS)} chunks`,
          ours: stats(double.map((s) => s.ms / 1000)),
          peer: stats(single.map((s) => s.ms / 1000)),
          peerName: 'the same job on one cairn-train worker',
          unit: 's',
          ratio: speedup,
          ratioMeaning: `speed-up of two workers over one; target >= ${TARGET}: ${speedup >= TARGET ? 'met' : 'missed'}`,
        },
      ],
      { rows: ROWS, chunkRows: CHUNK_ROWS, sameOutput: digests.size === 1, output: [...digests][0] }
    );
    if (digests.size !== 1) throw new Error(`the runs gave ${digests.size} different output digests`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await connection.close();
  }
}

runMain('bench', main);
