// `npm run chaos`: real faults against the real stack while training runs are in flight, then a table of what each
// run became. `npm run chaos -- --quick` is the reduced form CI runs. Results are appended to bench/results/chaos.jsonl.
//
// Each scenario starts trainingPipeline runs on a task queue of its own, served by the two real worker processes
// started in the background, injects its fault mid-run, restarts what it killed, and waits for the runs. Then it
// counts from PostgreSQL and the object store: runs completed once (one succeeded run record per execution, one
// model version per run), duplicates (more records than that) and lost data (a registered version whose package or
// dataset manifest is not in the store, or a run that never finished).
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import protos from '@temporalio/proto';
import pg from 'pg';
import { formatTable } from '../cli/table.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { createToken } from '../lib/auth/tokens.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { ensureDatabase, migrate } from '../lib/db/migrate.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import type { WorkflowStatus } from '../workflows/messages.js';
import { objectStoreUp, temporalUp } from './stack/components.js';
import { ownedPid, startDetached, stackDirs, stopOwned, waitUntil } from './stack/processes.js';
import { stackUp } from './stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAGES = ['ingest', 'validate', 'transform', 'train', 'evaluate', 'package', 'register'] as const;
const WORKERS = [
  { name: 'chaos-worker', entry: 'workers/cairn.ts' },
  { name: 'chaos-worker-train', entry: 'workers/cairn-train.ts' },
] as const;

interface Outcome {
  scenario: string;
  outcome: 'passed' | 'FAILED';
  runs: number;
  completedOnce: number;
  duplicates: number;
  lost: number;
  /** From the fault to the last run's end, and how long a fault-free run takes, ms. */
  recoveryMs: number;
  detail: string;
}

interface Chaos {
  config: CairnConfig;
  client: Client;
  db: Pool;
  queue: string;
  databaseUrl: string;
  rounds: number;
  say: (line: string) => void;
}

const dirsOf = (config: CairnConfig) => stackDirs(config.home);

/** Starts a Cairn process (a worker, a server) in the background against the chaos database and queue. */
function startProcess(c: Chaos, name: string, entry: string, env: Record<string, string> = {}): void {
  const dirs = dirsOf(c.config);
  if (ownedPid(dirs, name)) return;
  startDetached(dirs, name, process.execPath, ['--import', 'tsx', join(ROOT, entry)], {
    cwd: ROOT,
    env: {
      ...process.env,
      CAIRN_HOME: c.config.home,
      DATABASE_URL: c.databaseUrl,
      CAIRN_TASK_QUEUE: c.queue,
      CAIRN_TRAIN_TASK_QUEUE: `${c.queue}-train`,
      CAIRN_METRICS_PORT: '0',
      CAIRN_LOG_LEVEL: 'warn',
      ...env,
    },
  });
}

/** Starts (or restarts) both workers on the chaos queue and waits until each polls. */
async function startWorkers(c: Chaos): Promise<void> {
  for (const { name, entry } of WORKERS) startProcess(c, name, entry);
  // A worker polls within seconds of starting; Temporal's list of pollers confirms it.
  await waitUntil('chaos workers polling', () => pollersOn(c), 60_000);
}

async function pollersOn(c: Chaos): Promise<boolean> {
  const { workflowService } = c.client.connection;
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = protos.temporal.api.enums.v1.TaskQueueType;
  // The train worker runs activities only: it polls no workflow tasks.
  const queues = [
    [c.queue, TASK_QUEUE_TYPE_WORKFLOW],
    [`${c.queue}-train`, TASK_QUEUE_TYPE_ACTIVITY],
  ] as const;
  const counts = await Promise.all(
    queues.map(async ([name, taskQueueType]) => {
      const r = await workflowService
        .describeTaskQueue({ namespace: c.config.temporal.namespace, taskQueue: { name }, taskQueueType })
        .catch(() => undefined);
      return r?.pollers?.length ?? 0;
    })
  );
  return counts.every((n) => n > 0);
}

/** kill -9 of the whole process group, as a crash or an OOM kill would. */
function killWorkers(c: Chaos): void {
  const dirs = dirsOf(c.config);
  for (const { name } of WORKERS) {
    const pid = ownedPid(dirs, name);
    if (!pid) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

async function stopWorkers(c: Chaos): Promise<void> {
  for (const { name } of WORKERS) await stopOwned(dirsOf(c.config), name, 5000);
}

function startRuns(c: Chaos, scenario: string, count: number, model = 'chaos-penguins') {
  const stamp = Date.now().toString(36);
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      c.client.workflow.start('trainingPipeline', {
        taskQueue: c.queue,
        workflowId: `chaos-${scenario.replace(/[^a-z0-9]+/gi, '-')}-${stamp}-${i}`,
        args: [
          {
            pipeline: 'penguins',
            model,
            config: { rounds: c.rounds },
            trainTaskQueue: `${c.queue}-train`,
            trigger: 'chaos',
          },
        ],
      })
    )
  );
}

type Handle = Awaited<ReturnType<typeof startRuns>>[number];

/** Waits for a run's result through a Temporal restart: the client's own wait gives up while the server is away. */
async function resultOf(handle: Handle): Promise<unknown> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

async function waitForStage(
  handle: { workflowId: string; query: Handle['query'] },
  stage: string,
  timeoutMs = 120_000,
  order: readonly string[] = ['prepare', ...STAGES, 'done']
): Promise<void> {
  await waitUntil(
    `${handle.workflowId} reaching ${stage}`,
    async () => {
      const status = await handle.query<WorkflowStatus>('status').catch(() => undefined);
      return status !== undefined && order.indexOf(status.stage) >= order.indexOf(stage);
    },
    timeoutMs
  );
}

/** What the runs became, from the records and the store. */
async function audit(
  c: Chaos,
  handles: Handle[]
): Promise<Pick<Outcome, 'completedOnce' | 'duplicates' | 'lost'> & { problems: string[] }> {
  const store = createArtifactStore(c.config);
  let completedOnce = 0;
  let duplicates = 0;
  let lost = 0;
  const problems: string[] = [];
  for (const h of handles) {
    const runs = await c.db.query<{ id: string; status: string }>(
      `SELECT id, status FROM cairn.runs WHERE workflow_id = $1 AND execution_id = $2`,
      [h.workflowId, h.firstExecutionRunId]
    );
    const versions = await c.db.query<{ package_digest: string; lineage: { manifest?: string } }>(
      `SELECT v.package_digest, v.lineage FROM cairn.model_versions v WHERE v.run_id = ANY($1)`,
      [runs.rows.map((r) => r.id)]
    );
    const stored = await Promise.all(
      versions.rows
        .flatMap((v) => [v.package_digest, v.lineage.manifest ?? ''])
        .map((d) => (d ? store.stat(d) : undefined))
    );
    const missing = stored.filter((s) => !s).length;
    const succeeded = runs.rows.filter((r) => r.status === 'succeeded').length;
    if (succeeded === 1 && runs.rows.length === 1 && versions.rows.length === 1 && missing === 0) completedOnce++;
    duplicates += Math.max(0, runs.rows.length - 1) + Math.max(0, versions.rows.length - 1);
    lost += missing + (succeeded === 0 ? 1 : 0);
    if (succeeded !== 1 || versions.rows.length !== 1 || missing)
      problems.push(
        `${h.workflowId}: ${runs.rows.length} run records (${succeeded} succeeded), ${versions.rows.length} versions, ${missing} artifacts missing`
      );
  }
  return { completedOnce, duplicates, lost, problems };
}

async function scenario(
  c: Chaos,
  name: string,
  runs: number,
  fault: (handles: Handle[]) => Promise<number | undefined>
): Promise<Outcome> {
  c.say(`-- ${name}`);
  await startWorkers(c);
  const handles = await startRuns(c, name, runs);
  let faultAt = Date.now();
  let detail = '';
  try {
    faultAt = (await fault(handles)) ?? faultAt;
    await Promise.all(handles.map(resultOf));
  } catch (err) {
    detail = (err as Error).message;
  }
  const recoveryMs = Date.now() - faultAt;
  await startWorkers(c).catch(() => undefined);
  const counted = await audit(c, handles);
  const passed = !detail && counted.completedOnce === runs && counted.duplicates === 0 && counted.lost === 0;
  return {
    scenario: name,
    outcome: passed ? 'passed' : 'FAILED',
    runs,
    completedOnce: counted.completedOnce,
    duplicates: counted.duplicates,
    lost: counted.lost,
    recoveryMs,
    detail: [detail, ...counted.problems].filter(Boolean).join('; '),
  };
}

/** Every scenario: kill -9 of the workers at each stage, Temporal restarted, PostgreSQL backends terminated, the store down. */
function scenarios(c: Chaos, quick: boolean) {
  const dirs = dirsOf(c.config);
  const killAt = (stage: string) => async (handles: Handle[]) => {
    await waitForStage(handles[0]!, stage);
    const at = Date.now();
    killWorkers(c);
    await sleep(1000);
    await startWorkers(c);
    return at;
  };
  const terminateBackends = async (handles: Handle[]) => {
    await waitForStage(handles[0]!, 'transform');
    const database = new URL(c.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: c.databaseUrl });
    await admin.connect();
    const at = Date.now();
    try {
      const { rowCount } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database]
      );
      c.say(`   terminated ${rowCount} PostgreSQL backends`);
    } finally {
      await admin.end();
    }
    return at;
  };
  const restartTemporal = async (handles: Handle[]) => {
    await waitForStage(handles[0]!, 'transform');
    const at = Date.now();
    await stopOwned(dirs, 'temporal', 10_000);
    await sleep(2000);
    await temporalUp(c.config, dirs, c.say);
    return at;
  };
  const storeDown = (ms: number) => async (handles: Handle[]) => {
    await waitForStage(handles[0]!, 'ingest');
    const at = Date.now();
    await stopOwned(dirs, 'seaweedfs', 10_000);
    await sleep(ms);
    await objectStoreUp(c.config, dirs, c.say);
    return at;
  };
  const list: [string, number, (h: Handle[]) => Promise<number | undefined>][] = quick
    ? [
        ['kill -9 of both workers at train', 2, killAt('train')],
        ['PostgreSQL backends terminated mid-run', 2, terminateBackends],
      ]
    : [
        ...STAGES.map((s): [string, number, (h: Handle[]) => Promise<number | undefined>] => [
          `kill -9 of both workers at ${s}`,
          2,
          killAt(s),
        ]),
        ['Temporal server restarted mid-run', 3, restartTemporal],
        ['PostgreSQL backends terminated mid-run', 3, terminateBackends],
        ['object store down 30 s mid-run', 3, storeDown(30_000)],
      ];
  return list;
}

const SERVERS = [18181, 18182];
const EXTRA_TRAIN_WORKERS = ['chaos-worker-train-2', 'chaos-worker-train-3'];

/** Rows to score: penguins without their label. */
function penguinRows(): Record<string, unknown>[] {
  const rows = JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Record<
    string,
    unknown
  >[];
  return rows.map(({ Species: _species, ...row }) => row);
}

/** Runs a release to its end, approving it as `principal` once it waits for a decision. */
async function release(
  c: Chaos,
  input: Record<string, unknown>,
  principal: string
): Promise<{ status: string; outcome: string }> {
  const handle = await c.client.workflow.start('releaseModel', {
    taskQueue: c.queue,
    workflowId: `chaos-release-${Date.now().toString(36)}`,
    args: [{ monitor: false, ...input }],
  });
  await waitForStage(handle, 'awaiting-approval', 60_000, ['checklist', 'awaiting-approval']);
  await handle.signal('approve', { by: principal });
  return (await resultOf(handle)) as { status: string; outcome: string };
}

/**
 * Scale-out: three train workers and two online servers on this machine; 12 concurrent training runs and, meanwhile,
 * a canary release under steady traffic on both servers. Every run completes once, versions stay contiguous, and no
 * request fails.
 */
async function scaleOut(c: Chaos): Promise<Outcome> {
  const name = 'scale-out: 3 train workers, 2 servers, 12 runs + a canary under load';
  c.say(`-- ${name}`);
  const environment = 'chaos';
  const model = `chaos-scale-${Date.now().toString(36)}`;
  const serverEnv = (port: number) => ({
    CAIRN_SERVING_PORT: String(port),
    CAIRN_ENVIRONMENT: environment,
    CAIRN_SAMPLE_RATE: '1',
  });
  SERVERS.forEach((port, i) => startProcess(c, `chaos-serving-${i + 1}`, 'serving/main.ts', serverEnv(port)));
  for (const w of EXTRA_TRAIN_WORKERS) startProcess(c, w, 'workers/cairn-train.ts');
  await startWorkers(c);
  await Promise.all(
    SERVERS.map((port) =>
      waitUntil(
        `server on ${port}`,
        () =>
          fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false
          ),
        60_000
      )
    )
  );
  const principal = `chaos-${Date.now().toString(36)}`;
  await createToken(c.db, principal, [`approver:${model}`]);
  const { token } = await createToken(c.db, `${principal}-client`, ['predict']);

  // v1 serves first, released directly.
  const [first] = await startRuns(c, 'scale-v1', 1, model);
  const v1 = ((await resultOf(first!)) as { model: { version: number } }).model.version;
  const direct = await release(c, { model, version: v1, environment, first: true }, principal);
  if (direct.status !== 'promoted') throw new Error(`the first release ended ${direct.status}: ${direct.outcome}`);

  // Steady traffic on both servers for the rest of the scenario.
  const rows = penguinRows();
  const byStatus = new Map<string, number>();
  let running = true;
  const clients = Array.from({ length: 4 }, async (_, k) => {
    for (let i = k; running; i += 4) {
      const port = SERVERS[i % SERVERS.length]!;
      const status = await fetch(`http://127.0.0.1:${port}/v1/models/${model}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ row: rows[i % rows.length], key: `k${i}` }),
      }).then(
        (r) => String(r.status),
        (err: Error) => `error ${err.message}`
      );
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      await sleep(5);
    }
  });

  const started = Date.now();
  let detail = '';
  let handles: Handle[] = [];
  try {
    handles = await startRuns(c, 'scale', 12, model);
    // The canary of the first version the 12 register, while the others still train.
    const v2 = await Promise.race(
      handles.map(async (h) => ((await resultOf(h)) as { model: { version: number } }).model.version)
    );
    const canary = await release(
      c,
      {
        model,
        version: v2,
        environment,
        strategy: {
          kind: 'canary',
          steps: [0.5, 1],
          observation: '10s',
          limits: { maxPredictionShift: 0.5, minRows: 20 },
        },
      },
      principal
    );
    if (canary.status !== 'promoted') detail = `the canary ended ${canary.status}: ${canary.outcome}`;
    await Promise.all(handles.map(resultOf));
  } catch (err) {
    detail = (err as Error).message;
  } finally {
    running = false;
    await Promise.all(clients);
    for (const p of ['chaos-serving-1', 'chaos-serving-2', ...EXTRA_TRAIN_WORKERS])
      await stopOwned(dirsOf(c.config), p, 10_000);
  }
  const counted = await audit(c, [first!, ...handles]);
  const { rows: versions } = await c.db.query<{ version: number }>(
    'SELECT version FROM cairn.model_versions WHERE model = $1 ORDER BY version',
    [model]
  );
  const contiguous = versions.every((v, i) => v.version === i + 1) && versions.length === 13;
  const failed = [...byStatus].filter(([status]) => status !== '200').reduce((n, [, k]) => n + k, 0);
  const served = byStatus.get('200') ?? 0;
  const problems = [
    detail,
    ...counted.problems,
    contiguous ? '' : `versions ${versions.map((v) => v.version).join(',')} are not 1..13`,
    failed ? `${failed} of ${served + failed} requests failed: ${JSON.stringify(Object.fromEntries(byStatus))}` : '',
  ].filter(Boolean);
  c.say(
    `   ${served} requests served, ${failed} failed; versions 1..${versions.length}${contiguous ? ', contiguous' : ''}`
  );
  return {
    scenario: name,
    outcome: problems.length ? 'FAILED' : 'passed',
    runs: 13,
    completedOnce: counted.completedOnce,
    duplicates: counted.duplicates,
    lost: counted.lost,
    recoveryMs: Date.now() - started,
    detail: problems.join('; '),
  };
}

/** Drops and creates the chaos database: every run counts only its own records. */
async function freshDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
  await ensureDatabase(url);
}

runMain('chaos', async () => {
  const quick = process.argv.includes('--quick');
  const config = loadConfig();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  await stackUp(config);
  const base = new URL(config.database.url);
  base.pathname = `${base.pathname}_chaos`;
  const databaseUrl = base.href;
  await freshDatabase(databaseUrl);
  await migrate(databaseUrl);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const db = createPool({ database: { ...config.database, url: databaseUrl } });
  const c: Chaos = { config, client, db, queue: `chaos-${Date.now().toString(36)}`, databaseUrl, rounds: 400, say };
  const results: Outcome[] = [];
  try {
    // A fault-free run first: the time a run takes without faults, to read recovery times against.
    results.push(await scenario(c, 'no fault (baseline: run time)', 1, () => Promise.resolve(undefined)));
    for (const [name, runs, fault] of scenarios(c, quick)) results.push(await scenario(c, name, runs, fault));
    if (!quick) results.push(await scaleOut(c));
  } finally {
    await stopWorkers(c);
    await db.end();
    await connection.close();
  }
  say(
    formatTable([
      ['scenario', 'outcome', 'runs', 'completed once', 'duplicates', 'data lost', 'recovery'],
      ...results.map((r) => [
        r.scenario,
        r.outcome,
        String(r.runs),
        String(r.completedOnce),
        String(r.duplicates),
        String(r.lost),
        `${(r.recoveryMs / 1000).toFixed(1)} s`,
      ]),
    ])
  );
  for (const r of results.filter((x) => x.detail)) say(`${r.scenario}: ${r.detail}`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, 'chaos.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), quick, results })}\n`);
  if (results.some((r) => r.outcome !== 'passed')) process.exitCode = 1;
});
