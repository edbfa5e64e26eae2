// runPipeline overhead: a pipeline of STEPS no-op steps chained one after another (s-0 → s-1 → …), run by the
import { onlineStoreOf } from '../lib/features/store/online.js';
// runPipeline workflow with its real activities (planPipeline, one runStep per step with its run_stages tracking and
// step cache in PostgreSQL, finishRun), against a bare Temporal workflow running the same number of no-op activities
// (bareStages of the orchestration benchmark). Two runPipeline cases: `noCache` (every step executes its activity)
// and a rerun where every step is a cache hit. One worker (same settings) serves all three on the same server; the
// benchmark process is pinned to one core and the Temporal server to the other. PostgreSQL is a fresh
// `<database>_bench_run_pipeline`, migrated here and dropped at the end. Needs the stack (npm run stack:up) for
// PostgreSQL and the object store; uses the stack's Temporal server when it answers, else starts a dev server.
// BENCH_REPS (default 5), BENCH_STEPS (default 40), BENCH_WORKFLOWS (per repetition, default 3); --smoke: 1
// repetition of 1 workflow of 5 steps per case.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import { signingOf } from '../lib/signing/packages.js';
import type { CairnConfig } from '../lib/config/index.js';
import { migrate } from '../lib/db/migrate.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { readCodeVersion } from '../lib/lineage/code-version.js';
import { createLogger } from '../lib/logging/logger.js';
import { definePipeline, defineProject, defineStep } from '../lib/pipeline/index.js';
import type { StepNode } from '../lib/pipeline/index.js';
import { runMain } from '../lib/process/main.js';
import type { RunPipelineInput, RunPipelineResult } from '../workflows/run-pipeline.js';
import { pinApart } from './cores.js';
import { interleave, needStack, report, sized, stats } from './harness.js';
import type { Sample } from './harness.js';
import { benchTemporal } from './temporal-server.js';
import type { NoopActivities } from './workflows/orchestration.js';
import { sourcesOf } from '../lib/pipeline/run-config.js';

const REPS = sized('BENCH_REPS', 5, 1);
const STEPS = sized('BENCH_STEPS', 40, 5);
const WORKFLOWS = sized('BENCH_WORKFLOWS', 3, 1);
const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/run-pipeline.ts', import.meta.url));
const PIPELINE = 'bench-noop-steps';

/** The no-op step: takes a number and gives the next one (so the run's output proves every step ran, in order). */
const noopStep = defineStep({
  name: 'noop',
  version: '1',
  queue: 'light',
  input: z.strictObject({ i: z.number() }),
  output: z.strictObject({ i: z.number() }),
  run: (_ctx, { i }) => ({ i: i + 1 }),
});

/** STEPS no-op steps, each wired to the previous one's output: s-0 → s-1 → … → s-(STEPS-1). */
const chain = definePipeline({
  name: PIPELINE,
  version: '1',
  steps(p) {
    let last: StepNode<{ i: number }> = p.step(noopStep, { i: 0 }, { id: 's-0' });
    for (let k = 1; k < STEPS; k++) last = p.step(noopStep, { i: last.out.i }, { id: `s-${k}` });
    return { i: last.out.i };
  },
});

type CaseName = 'steps' | 'cached' | 'bare';

/** Where one workflow's time went, from its history: per activity type, and between activities. */
interface Phases {
  /**
   * Per activity type: how many, and in total: the wait before it was scheduled (since the workflow started or the
   * previous activity completed: workflow-task time), scheduled→started and started→completed, ms.
   */
  activities: Record<string, { count: number; waitMs: number; queueMs: number; runMs: number }>;
  /** Total time between one activity's completion and the next one's scheduling (workflow tasks), and the ends. */
  betweenMs: number;
}

interface RunSample extends Sample {
  phases: Phases;
  /** PostgreSQL queries the worker's activities made during the sample, and their total time, per workflow. */
  queries: number;
  queryMs: number;
}

/** A fresh database on the configured server, migrated: earlier runs do not count. Returns its URL. */
async function freshDatabase(url: string, suffix: string): Promise<string> {
  const fresh = new URL(url);
  fresh.pathname = `/${fresh.pathname.slice(1)}${suffix}`;
  await adminQuery(url, (name) => [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`], fresh);
  await migrate(fresh.href);
  return fresh.href;
}

async function adminQuery(url: string, statements: (name: string) => string[], target: URL): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    for (const sql of statements(pg.escapeIdentifier(target.pathname.slice(1)))) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Counts the pool's queries and the time until each one's result, without changing what they do. */
function countQueries(db: Pool): { queries: number; ms: number } {
  const counter = { queries: 0, ms: 0 };
  const query = db.query.bind(db) as (...args: unknown[]) => Promise<unknown>;
  db.query = (async (...args: unknown[]) => {
    const started = performance.now();
    try {
      return await query(...args);
    } finally {
      counter.queries++;
      counter.ms += performance.now() - started;
    }
  }) as typeof db.query;
  return counter;
}

/** Activity and workflow-task time of one workflow, from its history. */
async function phasesOf(handle: WorkflowHandle): Promise<Phases> {
  const history = await handle.fetchHistory();
  const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, { type: string; at: number; waitMs: number }>();
  const started = new Map<string, number>();
  const phases: Phases = { activities: {}, betweenMs: 0 };
  let idleSince: number | undefined;
  for (const event of history.events ?? []) {
    const at = millis(event.eventTime);
    if (event.workflowExecutionStartedEventAttributes) idleSince = at;
    const s = event.activityTaskScheduledEventAttributes;
    if (s) {
      // Sequential activities: the gap since the previous one completed is workflow-task time.
      const waitMs = idleSince === undefined ? 0 : at - idleSince;
      scheduled.set(String(event.eventId), { type: s.activityType?.name ?? '?', at, waitMs });
      phases.betweenMs += waitMs;
      idleSince = undefined;
    }
    const st = event.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), at);
    const done = event.activityTaskCompletedEventAttributes;
    const from = done && scheduled.get(String(done.scheduledEventId));
    if (from) {
      const a = (phases.activities[from.type] ??= { count: 0, waitMs: 0, queueMs: 0, runMs: 0 });
      const start = started.get(String(done.scheduledEventId)) ?? from.at;
      a.count++;
      a.waitMs += from.waitMs;
      a.queueMs += start - from.at;
      a.runMs += at - start;
      idleSince = at;
    }
    if (event.workflowExecutionCompletedEventAttributes && idleSince !== undefined) phases.betweenMs += at - idleSince;
  }
  return phases;
}

/** The mean of several workflows' phases (same pipeline, so the same activity types and counts). */
function meanPhases(all: Phases[]): Phases {
  const mean: Phases = { activities: {}, betweenMs: 0 };
  for (const p of all) {
    mean.betweenMs += p.betweenMs / all.length;
    for (const [type, a] of Object.entries(p.activities)) {
      const m = (mean.activities[type] ??= { count: a.count, waitMs: 0, queueMs: 0, runMs: 0 });
      m.waitMs += a.waitMs / all.length;
      m.queueMs += a.queueMs / all.length;
      m.runMs += a.runMs / all.length;
    }
  }
  return mean;
}

async function main(): Promise<void> {
  const base = loadConfig();
  await needStack(base, ['postgres', 'object-store']);
  const server = await benchTemporal(base);
  const databaseUrl = await freshDatabase(base.database.url, '_bench_run_pipeline');
  const config: CairnConfig = { ...base, logLevel: 'warn', database: { ...base.database, url: databaseUrl } };
  const pinning = pinApart(server.pid ? [{ name: 'temporal', pid: server.pid }] : [], {
    startedOnServerCore: server.origin === 'own' ? ['temporal'] : [],
  });
  const db = createPool(config);
  const counter = countQueries(db);
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: server.namespace });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-run-pipeline-${randomUUID()}`;
    const noop: NoopActivities = { noop: async () => undefined };
    const store = createArtifactStore(config);
    const activities = {
      ...createActivities({
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
        project: defineProject({ pipelines: [chain] }),
      }),
      ...noop,
    };
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue,
      workflowBundle: { code },
      activities,
    });

    /** Checks a runPipeline result: every step ran, in order, and was cached as the case expects. */
    const check = (name: CaseName, result: RunPipelineResult) => {
      const cached = name === 'cached' ? STEPS : 0;
      if (result.outputs.i !== STEPS || result.cached.length !== cached)
        throw new Error(`${name}: expected output ${STEPS} and ${cached} cached steps, got ${JSON.stringify(result)}`);
    };
    const start = (name: CaseName) => {
      const workflowId = `bench-${name}-${randomUUID()}`;
      if (name === 'bare') return client.workflow.start('bareStages', { taskQueue, workflowId, args: [STEPS] });
      const input: RunPipelineInput = { pipeline: PIPELINE, trigger: 'bench', noCache: name === 'steps' };
      return client.workflow.start('runPipeline', { taskQueue, workflowId, args: [input] });
    };
    /** WORKFLOWS workflows one after another; the sample is the mean wall time of one, start to result. */
    const workflows = (name: CaseName) => async (): Promise<RunSample> => {
      const queries = { n: counter.queries, ms: counter.ms };
      const started = performance.now();
      const handles: WorkflowHandle[] = [];
      const results: unknown[] = [];
      for (let i = 0; i < WORKFLOWS; i++) {
        const handle = await start(name);
        handles.push(handle);
        results.push(await handle.result());
      }
      const ms = (performance.now() - started) / WORKFLOWS;
      if (name !== 'bare') for (const r of results) check(name, r as RunPipelineResult);
      return {
        ms,
        phases: meanPhases(await Promise.all(handles.map(phasesOf))),
        queries: (counter.queries - queries.n) / WORKFLOWS,
        queryMs: (counter.ms - queries.ms) / WORKFLOWS,
      };
    };
    // The cached case runs after `steps`, whose runs (noCache recomputes, and saves) fill the cache.
    const results = (await worker.runUntil(
      interleave({ steps: workflows('steps'), cached: workflows('cached'), bare: workflows('bare') }, REPS)
    )) as Record<CaseName, RunSample[]>;

    const peer = stats(results.bare.map((s) => s.ms));
    const perStep = (xs: Sample[]) => stats(xs.map((s) => s.ms / STEPS));
    const median = (xs: RunSample[], f: (s: RunSample) => number) => stats(xs.map(f)).median;
    /** Median per-step figures of a case: where a workflow's time went, divided by STEPS. */
    const profile = (name: CaseName) => {
      const xs = results[name];
      const types = Object.keys(xs[0]!.phases.activities);
      return {
        perWorkflowMs: median(xs, (s) => s.ms),
        betweenActivitiesMsPerStep: median(xs, (s) => s.phases.betweenMs / STEPS),
        queriesPerStep: median(xs, (s) => s.queries / STEPS),
        queryMsPerStep: median(xs, (s) => s.queryMs / STEPS),
        activities: Object.fromEntries(
          types.map((type) => [
            type,
            {
              count: xs[0]!.phases.activities[type]!.count,
              waitMsEach: median(xs, (s) => s.phases.activities[type]!.waitMs / s.phases.activities[type]!.count),
              queueMsEach: median(xs, (s) => s.phases.activities[type]!.queueMs / s.phases.activities[type]!.count),
              runMsEach: median(xs, (s) => s.phases.activities[type]!.runMs / s.phases.activities[type]!.count),
            },
          ])
        ),
      };
    };
    const profiles = { steps: profile('steps'), cached: profile('cached'), bare: profile('bare') };
    /**
     * The added time split, from the histories: per step, a runStep (workflow task + queued + ran) against a bare
     * no-op activity; per run, the rest: planPipeline and finishRun (which a longer pipeline spreads thinner).
     */
    const eachMs = (a: { waitMsEach: number; queueMsEach: number; runMsEach: number } | undefined) =>
      a ? a.waitMsEach + a.queueMsEach + a.runMsEach : 0;
    const split = (name: 'steps' | 'cached') => {
      const marginalPerStepMs = eachMs(profiles[name].activities.runStep) - eachMs(profiles.bare.activities.noop);
      // planPipeline and finishRun are local activities (markers in the history): their cost is what the steps
      // do not explain.
      const addedMs = profiles[name].perWorkflowMs - profiles.bare.perWorkflowMs;
      return { marginalPerStepMs, fixedPerRunMs: addedMs - marginalPerStepMs * STEPS };
    };
    const splits = { noCache: split('steps'), cached: split('cached') };
    const rows = (name: 'steps' | 'cached', label: string) => {
      const ours = stats(results[name].map((s) => s.ms));
      const added = (ours.median - peer.median) / STEPS;
      return {
        added,
        rows: [
          {
            metric: `${STEPS} no-op steps, ${label}, one workflow`,
            ours,
            peer,
            peerName: `bare Temporal workflow, ${STEPS} no-op activities`,
            unit: 'ms',
            ratio: ours.median / peer.median,
            ratioMeaning: 'time ours/peer, target <= 1.05',
          },
          {
            metric: `per step, ${label}`,
            ours: perStep(results[name]),
            peer: perStep(results.bare),
            peerName: 'bare Temporal workflow, per activity',
            unit: 'ms',
            ratio: ours.median / peer.median,
            ratioMeaning: `added ${added.toFixed(2)} ms per step`,
          },
        ],
      };
    };
    const computed = rows('steps', 'noCache (every step runs)');
    const cached = rows('cached', 'rerun (every step cached)');
    report('run-pipeline', [...computed.rows, ...cached.rows], {
      steps: STEPS,
      workflowsPerSample: WORKFLOWS,
      server: server.origin,
      pinning: pinning.description,
      addedPerStepMs: { noCache: computed.added, cached: cached.added },
      split: splits,
      profile: profiles,
    });
    const describe = (name: CaseName) => {
      const p = profiles[name];
      const acts = Object.entries(p.activities)
        .map(
          ([t, a]) =>
            `${t} x${a.count} each ${(a.waitMsEach + a.queueMsEach + a.runMsEach).toFixed(2)} ms (workflow task ` +
            `${a.waitMsEach.toFixed(2)} + queued ${a.queueMsEach.toFixed(2)} + ran ${a.runMsEach.toFixed(2)})`
        )
        .join(', ');
      return (
        `  ${name}: ${acts}; between activities ${p.betweenActivitiesMsPerStep.toFixed(2)} ms per step; ` +
        `PostgreSQL ${p.queriesPerStep.toFixed(1)} queries, ${p.queryMsPerStep.toFixed(2)} ms per step\n`
      );
    };
    process.stdout.write(
      `added per step ${computed.added.toFixed(2)} ms (noCache), ${cached.added.toFixed(2)} ms (cached); ` +
        `of which per step (runStep against a no-op activity) ${splits.noCache.marginalPerStepMs.toFixed(2)} ms ` +
        `(noCache), ${splits.cached.marginalPerStepMs.toFixed(2)} ms (cached), and per run (planPipeline, ` +
        `finishRun) ${splits.noCache.fixedPerRunMs.toFixed(0)} ms (noCache), ` +
        `${splits.cached.fixedPerRunMs.toFixed(0)} ms (cached); ` +
        `each sample the mean of ${WORKFLOWS} workflows; ` +
        `Temporal server: ${server.origin === 'stack' ? `the stack's at ${server.address}` : 'a dev server started here'}; ` +
        `${pinning.description}\nwhere the time goes (medians over samples of the mean over each sample's workflows; ` +
        `planPipeline and finishRun are runPipeline's fixed cost per run, ${STEPS} steps share it):\n` +
        describe('steps') +
        describe('cached') +
        describe('bare')
    );
    pinning.restore();
  } finally {
    await connection.close();
    await nativeConnection.close();
    await db.end();
    await adminQuery(
      base.database.url,
      (name) => [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`],
      new URL(databaseUrl)
    );
    await server.teardown();
  }
}

runMain('bench', main);
