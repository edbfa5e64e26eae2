// Pipeline wall time: flight-delays on 1,000,000 rows through Temporal (trainingPipeline, in-process workers on the
import { onlineStoreOf } from '../lib/features/store/online.js';
// stack's server, as the integration tests run it) against the very same activity functions called one after another
// in this process (MockActivityEnvironment), in the order and with the arguments the workflow passes them: prepare,
// ingest, validate, transform, train, evaluate, package, register, finish. Both sides use the same PostgreSQL (a
// fresh `<database>_bench`, migrated here), the same object store and `noCache: true`, so every run computes every
// stage. The benchmark process runs on one core, the Temporal server and SeaweedFS on the other.
// Needs the stack (npm run stack:up). BENCH_REPS (default 5), BENCH_ROWS (default 1,000,000); --smoke: 1
// repetition on 20,000 rows.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { defineProject } from '../lib/pipeline/project.js';
import { createActivities } from '../activities/index.js';
import type { Activities } from '../activities/index.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import { signingOf } from '../lib/signing/packages.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { migrate } from '../lib/db/migrate.js';
import { readCodeVersion } from '../lib/lineage/code-version.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { ownedPid, stackDirs } from '../infra/stack/processes.js';
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { trainingPipeline } from '../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../workflows/training-pipeline.js';
import { pinApart } from './cores.js';
import { interleave, needStack, report, sized, stats } from './harness.js';
import type { Sample } from './harness.js';
import { quietTemporalRuntime } from './temporal-server.js';
import { sourcesOf } from '../lib/pipeline/run-config.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 1_000_000, 20_000);
const PIPELINE = 'flight-delays';
const INPUT: TrainingPipelineInput = { pipeline: PIPELINE, config: { rows: ROWS }, noCache: true };

/** Wall time of each activity of one run, by activity type. */
type StageTimes = Record<string, number>;

interface PipelineSample extends Sample {
  stages: StageTimes;
}

/** A fresh `<name>_bench` database on the configured server, migrated: runs of earlier benchmarks do not count. */
async function freshBenchDatabase(url: string): Promise<string> {
  const bench = new URL(url);
  bench.pathname = `/${bench.pathname.slice(1)}_bench`;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    const name = pg.escapeIdentifier(bench.pathname.slice(1));
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  await migrate(bench.href);
  return bench.href;
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(new URL(url).pathname.slice(1))} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * The workflow's activity calls for INPUT, made directly: what a plain script would do with the same functions.
 * Mirrors trainingPipeline for a new run that registers its model (`register` defaults to true).
 */
async function direct(activities: Activities): Promise<PipelineSample> {
  const workflowId = `bench-direct-${randomUUID()}`;
  const logger = new DefaultLogger('WARN');
  const stages: StageTimes = {};
  const call = async <A extends unknown[], R>(type: string, fn: (...args: A) => Promise<R>, ...args: A) => {
    const env = new MockActivityEnvironment(
      { workflowExecution: { workflowId, runId: randomUUID() }, activityType: type, activityId: type },
      { logger }
    );
    const started = performance.now();
    const result = (await env.run(fn, ...args)) as R;
    stages[type] = performance.now() - started;
    return result;
  };
  const started = performance.now();
  const plan = await call('prepareRun', activities.prepareRun, {
    pipeline: PIPELINE,
    config: INPUT.config!,
    trigger: 'manual',
    noCache: true,
  });
  const dataset = await call('ingest', activities.ingest, plan, undefined);
  await call('validate', activities.validate, plan, dataset);
  const transformed = await call('transform', activities.transform, plan, dataset);
  const trained = await call('train', activities.train, plan, transformed);
  const evaluation = await call('evaluate', activities.evaluate, plan, transformed, trained, dataset);
  const packaged = await call('packageModel', activities.packageModel, plan, dataset, transformed, trained, evaluation);
  const registered = await call('register', activities.register, { plan, dataset, packaged, evaluation });
  await call('finishRun', activities.finishRun, workflowId, {
    status: 'succeeded',
    packageDigest: packaged.package.digest,
    model: { name: plan.model, version: registered.version },
  });
  return { ms: performance.now() - started, stages };
}

/** Activity wall times (scheduled to completed) from a workflow's history. */
async function stageTimes(handle: WorkflowHandle): Promise<StageTimes> {
  const history = await handle.fetchHistory();
  const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, { type: string; at: number }>();
  const times: StageTimes = {};
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(event.eventId), { type: s.activityType?.name ?? '?', at: millis(event.eventTime) });
    const done = event.activityTaskCompletedEventAttributes;
    const from = done && scheduled.get(String(done.scheduledEventId));
    if (from) times[from.type] = millis(event.eventTime) - from.at;
  }
  return times;
}

async function main(): Promise<void> {
  const base = loadConfig();
  await needStack(base, ['temporal', 'postgres', 'object-store']);
  const databaseUrl = await freshBenchDatabase(base.database.url);
  const config: CairnConfig = { ...base, logLevel: 'warn', database: { ...base.database, url: databaseUrl } };
  const dirs = stackDirs(config.home);
  const servers = (['temporal', 'seaweedfs'] as const).flatMap((name) => {
    const pid = ownedPid(dirs, name);
    return pid ? [{ name, pid }] : [];
  });
  const pinning = pinApart(servers);

  quietTemporalRuntime();
  const db = createPool(config);
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const store = createArtifactStore(config);
    const deps = {
      db,
      store,
      sources: sourcesOf(config, store),
      logger: createLogger(config),
      code: readCodeVersion(),
      home: config.home,
      pythonEnvs: config.pythonEnvs!,
      cpuSecondPrice: config.tracking.cpuSecondPrice,
      onlineStore: onlineStoreOf(config),
      ...signingOf(config),
      project: defineProject({ pipelines: [] }),
    };
    const activities = createActivities(deps);
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-pipeline-${randomUUID()}`;
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: { code },
      activities,
    });
    const trainWorker = await Worker.create({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue: `${taskQueue}-train`,
      activities,
    });

    const throughTemporal = async (): Promise<PipelineSample> => {
      const started = performance.now();
      const handle = await client.workflow.start(trainingPipeline, {
        taskQueue,
        workflowId: `bench-pipeline-${randomUUID()}`,
        args: [INPUT],
      });
      await handle.result();
      const ms = performance.now() - started;
      return { ms, stages: await stageTimes(handle) };
    };
    const results = (await trainWorker.runUntil(() =>
      worker.runUntil(interleave({ temporal: throughTemporal, direct: () => direct(activities) }, REPS))
    )) as Record<'temporal' | 'direct', PipelineSample[]>;

    const seconds = (xs: Sample[]) => stats(xs.map((x) => x.ms / 1000));
    const ours = seconds(results.temporal);
    const peer = seconds(results.direct);
    const ratio = ours.median / peer.median;
    const types = Object.keys(results.direct[0]!.stages);
    const stageMedians = Object.fromEntries(
      types.map((type) => [
        type,
        {
          temporal: stats(results.temporal.map((r) => r.stages[type] ?? NaN)).median,
          direct: stats(results.direct.map((r) => r.stages[type] ?? NaN)).median,
        },
      ])
    );
    report(
      'pipeline',
      [
        {
          metric: `${PIPELINE}, ${ROWS.toLocaleString('en-US')} rows, ingest to register`,
          ours,
          peer,
          peerName: 'same activities called directly',
          unit: 's',
          ratio,
          ratioMeaning: 'time ours/peer, target <= 1.15',
        },
      ],
      { rows: ROWS, input: INPUT, stages: stageMedians, pinning: pinning.description }
    );
    process.stdout.write(
      `per activity, median ms (Temporal: scheduled to completed; direct: the call): ${types
        .map((t) => `${t} ${stageMedians[t]!.temporal.toFixed(0)}/${stageMedians[t]!.direct.toFixed(0)}`)
        .join(', ')}\n` + `Temporal adds ${(ours.median - peer.median).toFixed(2)} s per run; ${pinning.description}\n`
    );
    pinning.restore();
  } finally {
    await connection.close();
    await nativeConnection.close();
    await db.end();
    await dropDatabase(databaseUrl);
  }
}

runMain('bench', main);
