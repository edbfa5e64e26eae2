// `npm run chaos`: real faults against the real stack while training runs are in flight, then a table of what each
// run became. `npm run chaos -- --quick` is the reduced form CI runs. Results are appended to bench/results/chaos.jsonl.
//
// Each scenario starts trainingPipeline runs on a task queue of its own, served by the two real worker processes
// started in the background, injects its fault mid-run, restarts what it killed, and waits for the runs. Then it
// counts from PostgreSQL and the object store: runs completed once (one succeeded run record per execution, one
// model version per run), duplicates (more records than that) and lost data (a registered version whose package or
// dataset manifest is not in the store, or a run that never finished).
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import protos from '@temporalio/proto';
import pg from 'pg';
import { formatTable } from '../cli/table.js';
import { createArtifactStore, LocalArtifactStore } from '../lib/artifacts/index.js';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { createToken } from '../lib/auth/tokens.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { ensureDatabase, migrate } from '../lib/db/migrate.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { streamNames } from '../serving/stream.js';
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
  outcome: 'passed' | 'FAILED' | 'skipped';
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
  startDetached(
    dirs,
    name,
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'infra/supervise.ts'), join(ROOT, entry)],
    {
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
    }
  );
}

/** Starts (or restarts) both workers on the chaos queue and waits until each polls. */
async function startWorkers(c: Chaos, env: Record<string, string> = {}): Promise<void> {
  for (const { name, entry } of WORKERS) startProcess(c, name, entry, env);
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

/**
 * kill -9 of a supervised process (not its supervisor), as a crash or an OOM kill would; the stack's supervisor
 * (infra/supervise.ts) starts it again by itself.
 */
function killSupervised(c: Chaos, name: string): void {
  const supervisor = ownedPid(dirsOf(c.config), name);
  if (!supervisor) return;
  const children = execFileSync('pgrep', ['-P', String(supervisor)], { encoding: 'utf8' })
    .trim()
    .split('\n');
  for (const pid of children.filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

async function stopWorkers(c: Chaos): Promise<void> {
  for (const { name } of WORKERS) await stopOwned(dirsOf(c.config), name, 5000);
}

function startRuns(
  c: Chaos,
  scenario: string,
  count: number,
  model = 'chaos-penguins',
  input: Record<string, unknown> = {}
) {
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
            ...input,
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
  handles: Handle[],
  store: ArtifactStore = createArtifactStore(c.config)
): Promise<Pick<Outcome, 'completedOnce' | 'duplicates' | 'lost'> & { problems: string[] }> {
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
    for (const { name } of WORKERS) killSupervised(c, name);
    return at;
  };
  const terminateMidRun = async (handles: Handle[]) => {
    await waitForStage(handles[0]!, 'transform');
    return terminateBackends(c);
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
        ['PostgreSQL backends terminated mid-run', 2, terminateMidRun],
      ]
    : [
        ...STAGES.map((s): [string, number, (h: Handle[]) => Promise<number | undefined>] => [
          `kill -9 of both workers at ${s}`,
          2,
          killAt(s),
        ]),
        ['Temporal server restarted mid-run', 3, restartTemporal],
        ['PostgreSQL backends terminated mid-run', 3, terminateMidRun],
        ['object store down 30 s mid-run', 3, storeDown(30_000)],
      ];
  return list;
}

/**
 * The disk of the local store full mid-run: both workers on the `local` store in a 64 MiB tmpfs filled to its last
 * byte. The runs' writes fail with ENOSPC (each retried, its partial file removed); once a run's pending activity
 * shows that failure, space is freed, and every run must complete once with nothing half-written left in the store.
 * Mounting the tmpfs needs root: without it the scenario is reported as skipped.
 */
async function diskFull(c: Chaos): Promise<Outcome> {
  const name = 'local store disk full mid-run';
  c.say(`-- ${name}`);
  const dir = join(c.config.home, 'chaos-disk');
  mkdirSync(dir, { recursive: true });
  const result = { scenario: name, runs: 2, completedOnce: 0, duplicates: 0, lost: 0, recoveryMs: 0 };
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    const why = String((err as { stderr?: Buffer }).stderr ?? err).trim();
    return { ...result, outcome: 'skipped', runs: 0, detail: `a tmpfs to fill could not be mounted: ${why}` };
  }
  const store = new LocalArtifactStore(dir);
  const filler = join(dir, 'filler');
  let detail = '';
  try {
    await stopWorkers(c);
    fillDisk(filler);
    await startWorkers(c, { CAIRN_STORE: 'local', CAIRN_STORE_DIR: dir });
    // A model of its own, and no cache: every stage writes to this store, and no other scenario reads its versions.
    const handles = await startRuns(c, name, 2, 'chaos-disk', { noCache: true });
    let failure = '';
    await waitUntil(
      'a write failing with ENOSPC',
      async () => {
        for (const h of handles) {
          const pending = (await h.describe()).raw.pendingActivities ?? [];
          failure ||= pending.map((a) => a.lastFailure?.message ?? '').find((m) => m.includes('ENOSPC')) ?? '';
        }
        return failure !== '';
      },
      120_000
    );
    c.say(`   ${failure}`);
    const freedAt = Date.now();
    rmSync(filler);
    try {
      await Promise.all(handles.map(resultOf));
    } catch (err) {
      detail = (err as Error).message;
    }
    result.recoveryMs = Date.now() - freedAt;
    const counted = await audit(c, handles, store);
    // Nothing half-written: no temporary file left behind, and every stored object holds the bytes its name says.
    const leftovers = readdirSync(join(dir, 'tmp'));
    const objects = readdirSync(join(dir, 'sha256'), { recursive: true, withFileTypes: true }).filter((e) =>
      e.isFile()
    );
    const corrupt: string[] = [];
    for (const o of objects) {
      const digest = `sha256:${o.name}`;
      await store.getBytes(digest).catch(() => corrupt.push(digest));
    }
    Object.assign(result, counted);
    detail = [
      detail,
      ...counted.problems,
      leftovers.length ? `${leftovers.length} temporary files left in the store` : '',
      corrupt.length ? `objects not matching their digest: ${corrupt.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    const passed = !detail && counted.completedOnce === 2 && counted.duplicates === 0 && counted.lost === 0;
    return { ...result, outcome: passed ? 'passed' : 'FAILED', detail };
  } finally {
    // The next scenarios run on the object store again.
    await stopWorkers(c);
    execFileSync('umount', [dir], { stdio: 'pipe' });
  }
}

/** Writes zeros to `path` until the file system refuses with ENOSPC. */
function fillDisk(path: string): void {
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'w');
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
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

interface ReleaseTokens {
  /** Holds release:<model>: requests releases. */
  release: string;
  /** Holds approver:<model>: approves them. */
  approve: string;
}

/** Starts a release requested with `tokens.release`, and approves it with `tokens.approve` once it waits. */
async function startApprovedRelease(c: Chaos, input: Record<string, unknown>, tokens: ReleaseTokens, id: string) {
  const handle = await c.client.workflow.start('releaseModel', {
    taskQueue: c.queue,
    workflowId: `${id}-${Date.now().toString(36)}`,
    args: [{ monitor: false, ...input, token: tokens.release }],
  });
  await waitForStage(handle, 'awaiting-approval', 60_000, ['checklist', 'awaiting-approval']);
  await handle.signal('approve', { token: tokens.approve });
  return handle;
}

/** Runs a release to its end. */
async function release(
  c: Chaos,
  input: Record<string, unknown>,
  tokens: ReleaseTokens
): Promise<{ status: string; outcome: string }> {
  const handle = await startApprovedRelease(c, input, tokens, 'chaos-release');
  return (await resultOf(handle)) as { status: string; outcome: string };
}

/** Steady predictions on every server, counted by port and status, until stopped. */
function startTraffic(model: string, token: string, ports: number[]) {
  const rows = penguinRows();
  const byPort = new Map(ports.map((p) => [p, new Map<string, number>()]));
  let running = true;
  const clients = Array.from({ length: 4 }, async (_, k) => {
    for (let i = k; running; i += 4) {
      const port = ports[i % ports.length]!;
      const status = await fetch(`http://127.0.0.1:${port}/v1/models/${model}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ row: rows[i % rows.length], key: `k${i}` }),
      }).then(
        (r) => String(r.status),
        (err: Error) => `error ${(err.cause as Error | undefined)?.message ?? err.message}`
      );
      const counts = byPort.get(port)!;
      counts.set(status, (counts.get(status) ?? 0) + 1);
      await sleep(5);
    }
  });
  const count = (ok: boolean, only?: number) =>
    [...byPort]
      .filter(([port]) => only === undefined || port === only)
      .flatMap(([, counts]) => [...counts])
      .filter(([status]) => (status === '200') === ok)
      .reduce((n, [, k]) => n + k, 0);
  return {
    served: (port?: number) => count(true, port),
    failed: (port?: number) => count(false, port),
    summary: () => JSON.stringify(Object.fromEntries([...byPort].map(([p, m]) => [p, Object.fromEntries(m)]))),
    stop: async () => {
      running = false;
      await Promise.all(clients);
    },
  };
}

const SERVER_NAMES = SERVERS.map((_, i) => `chaos-serving-${i + 1}`);

/**
 * Two online servers in the environment `chaos`, a fresh model trained and released to it directly, and steady traffic
 * on both; returns what a scenario needs to go on.
 */
async function servingFixture(c: Chaos, label: string) {
  const environment = 'chaos';
  const model = `chaos-${label}-${Date.now().toString(36)}`;
  SERVERS.forEach((port, i) =>
    startProcess(c, SERVER_NAMES[i]!, 'serving/main.ts', {
      CAIRN_SERVING_PORT: String(port),
      CAIRN_ENVIRONMENT: environment,
      CAIRN_SAMPLE_RATE: '1',
    })
  );
  await startWorkers(c);
  await Promise.all(SERVERS.map((port) => waitUntil(`server on ${port}`, () => ready(port), 60_000)));
  const principal = `chaos-${Date.now().toString(36)}`;
  const tokens: ReleaseTokens = {
    release: (await createToken(c.db, `${principal}-releaser`, [`release:${model}`])).token,
    approve: (await createToken(c.db, `${principal}-approver`, [`approver:${model}`])).token,
  };
  const { token } = await createToken(c.db, `${principal}-client`, ['predict:*']);
  const [first] = await startRuns(c, `${label}-v1`, 1, model);
  const v1 = ((await resultOf(first!)) as { model: { version: number } }).model.version;
  const direct = await release(c, { model, version: v1, environment, first: true }, tokens);
  if (direct.status !== 'promoted') throw new Error(`the first release ended ${direct.status}: ${direct.outcome}`);
  return {
    environment,
    model,
    tokens,
    predictToken: token,
    first: first!,
    traffic: startTraffic(model, token, SERVERS),
  };
}

const ready = (port: number) =>
  fetch(`http://127.0.0.1:${port}/readyz`).then(
    (r) => r.ok,
    () => false
  );

const versionOf = async (h: Handle) => ((await resultOf(h)) as { model: { version: number } }).model.version;

async function stopServers(c: Chaos): Promise<void> {
  for (const name of SERVER_NAMES) await stopOwned(dirsOf(c.config), name, 10_000);
}

/** Terminates every PostgreSQL backend of the chaos database but this one; returns when it happened. */
async function terminateBackends(c: Chaos): Promise<number> {
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
}

/**
 * Faults while serving: PostgreSQL backends terminated under traffic (no request may fail, both servers ready again),
 * then a serving replica killed with -9 in the middle of a canary (the release goes on without it once it is silent,
 * and the other replica fails no request).
 */
async function servingFaults(c: Chaos): Promise<Outcome[]> {
  c.say('-- serving faults: PostgreSQL backends terminated mid-serving, a replica killed mid-canary');
  const s = await servingFixture(c, 'serving');
  const outcomes: Outcome[] = [];
  try {
    await sleep(2000);
    const before = s.traffic.failed();
    const at = await terminateBackends(c);
    await sleep(1000);
    await waitUntil(
      'both servers ready again',
      async () => (await Promise.all(SERVERS.map(ready))).every(Boolean),
      60_000
    );
    const readyAgain = Date.now() - at;
    await sleep(3000);
    const failed = s.traffic.failed() - before;
    outcomes.push({
      scenario: 'PostgreSQL backends terminated mid-serving',
      outcome: failed === 0 ? 'passed' : 'FAILED',
      runs: 1,
      ...(await audit(c, [s.first])),
      recoveryMs: readyAgain,
      detail: failed ? `${failed} requests failed: ${s.traffic.summary()}` : '',
    });

    const [second] = await startRuns(c, 'serving-v2', 1, s.model);
    const v2 = await versionOf(second!);
    const survivor = SERVERS[0]!;
    const failedBefore = s.traffic.failed(survivor);
    const handle = await startApprovedRelease(
      c,
      {
        model: s.model,
        version: v2,
        environment: s.environment,
        strategy: {
          kind: 'canary',
          steps: [0.5, 1],
          observation: '20s',
          limits: { maxPredictionShift: 0.5, minRows: 20 },
        },
      },
      s.tokens,
      'chaos-canary'
    );
    await waitForStage(handle, 'canary 50%', 60_000, ['awaiting-approval', 'canary 50%']);
    await sleep(3000);
    const killedAt = Date.now();
    killSupervised(c, SERVER_NAMES[1]!);
    const result = (await resultOf(handle)) as { status: string; outcome: string };
    const survivorFailed = s.traffic.failed(survivor) - failedBefore;
    const problems = [
      result.status === 'promoted' ? '' : `the canary ended ${result.status}: ${result.outcome}`,
      survivorFailed ? `${survivorFailed} requests to the surviving replica failed: ${s.traffic.summary()}` : '',
    ].filter(Boolean);
    outcomes.push({
      scenario: 'a serving replica killed -9 mid-canary',
      outcome: problems.length ? 'FAILED' : 'passed',
      runs: 1,
      ...(await audit(c, [second!])),
      recoveryMs: Date.now() - killedAt,
      detail: problems.join('; '),
    });
    outcomes.push(await natsRestart(c, s.model, s.environment, s.predictToken));
  } finally {
    await s.traffic.stop();
    await stopServers(c);
  }
  return outcomes;
}

const NATS_PORT = 14222;

/**
 * A NATS restart mid-stream: a private `nats-server -js` (its store on disk), the real stream consumer process, and
 * 3,000 requests published with their ids; the server is killed with -9 a third of the way and started again on the
 * same store. Every request must be answered exactly once.
 */
async function natsRestart(c: Chaos, model: string, environment: string, token: string): Promise<Outcome> {
  const name = 'NATS killed -9 and restarted mid-stream';
  c.say(`-- ${name}`);
  const dirs = dirsOf(c.config);
  const url = `nats://127.0.0.1:${NATS_PORT}`;
  const storeDir = join(c.config.home, 'chaos-nats');
  rmSync(storeDir, { recursive: true, force: true });
  const startNats = () =>
    startDetached(dirs, 'chaos-nats', 'nats-server', [
      '-js',
      '-a',
      '127.0.0.1',
      '-p',
      String(NATS_PORT),
      '-sd',
      storeDir,
    ]);
  const total = 3000;
  let nc: NatsConnection | undefined;
  let killedAt = Date.now();
  try {
    startNats();
    nc = await waitFor('the private NATS server', () =>
      connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 250 })
    );
    startProcess(c, 'chaos-stream', 'serving/stream-main.ts', { NATS_URL: url, CAIRN_ENVIRONMENT: environment });
    const jsm = await jetstreamManager(nc);
    const js = jsm.jetstream();
    const names = streamNames();
    await waitFor('the stream consumer', () => jsm.consumers.info(names.inputStream, names.consumer(model)));
    const rows = penguinRows();
    const auth = headers();
    auth.set('Authorization', `Bearer ${token}`);
    for (let i = 0; i < total; i += 100) {
      if (i === 1000) {
        killedAt = Date.now();
        const pid = ownedPid(dirs, 'chaos-nats');
        if (pid) process.kill(-pid, 'SIGKILL');
        await sleep(2000);
        startNats();
      }
      // A publisher's own duty through an outage: publish again, with the same id, until JetStream acknowledges.
      await Promise.all(
        Array.from({ length: 100 }, (_, k) =>
          waitFor(`request ${i + k} published`, () =>
            js.publish(names.input(model), JSON.stringify({ row: rows[(i + k) % rows.length] }), {
              msgID: `m-${i + k}`,
              headers: auth,
            })
          )
        )
      );
    }
    await waitUntil(
      'every request answered',
      async () => (await jsm.streams.info(names.outputStream)).state.messages >= total,
      180_000
    ).catch(() => undefined);
    const ids = new Map<string, number>();
    let predictions = 0;
    const stored = (await jsm.streams.info(names.outputStream)).state.messages;
    if (stored) {
      const messages = await (await js.consumers.get(names.outputStream)).consume({ max_messages: 1000 });
      let seen = 0;
      for await (const m of messages) {
        const id = m.headers?.get('Nats-Msg-Id') ?? '';
        ids.set(id, (ids.get(id) ?? 0) + 1);
        if ('predictions' in m.json<object>()) predictions++;
        if (++seen === stored) break;
      }
      await messages.close();
    }
    const answered = [...ids.keys()].filter((id) => id.startsWith(`${model}:m-`)).length;
    const duplicates = [...ids.values()].reduce((n, k) => n + k - 1, 0);
    const lost = total - answered;
    c.say(`   ${answered} of ${total} answered (${predictions} with predictions), ${duplicates} duplicates`);
    return {
      scenario: name,
      outcome: lost === 0 && duplicates === 0 && predictions === total ? 'passed' : 'FAILED',
      runs: total,
      completedOnce: answered - duplicates,
      duplicates,
      lost,
      recoveryMs: Date.now() - killedAt,
      detail: predictions === total ? '' : `${total - predictions} requests answered with an error or not at all`,
    };
  } finally {
    await nc?.close().catch(() => undefined);
    await stopOwned(dirs, 'chaos-stream', 10_000);
    await stopOwned(dirs, 'chaos-nats', 10_000);
  }
}

/** Retries `attempt` every 250 ms until it resolves (60 s at most). */
async function waitFor<T>(what: string, attempt: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(250);
    }
  }
}

/**
 * Scale-out: three train workers and two online servers on this machine; 12 concurrent training runs and, meanwhile,
 * a canary release under steady traffic on both servers. Every run completes once, versions stay contiguous, and no
 * request fails.
 */
async function scaleOut(c: Chaos): Promise<Outcome> {
  const name = 'scale-out: 3 train workers, 2 servers, 12 runs + a canary under load';
  c.say(`-- ${name}`);
  for (const w of EXTRA_TRAIN_WORKERS) startProcess(c, w, 'workers/cairn-train.ts');
  const s = await servingFixture(c, 'scale');
  const started = Date.now();
  let detail = '';
  let handles: Handle[] = [];
  try {
    handles = await startRuns(c, 'scale', 12, s.model);
    // The canary of the first version the 12 register, while the others still train.
    const v2 = await Promise.race(handles.map(versionOf));
    const canary = await release(
      c,
      {
        model: s.model,
        version: v2,
        environment: s.environment,
        strategy: {
          kind: 'canary',
          steps: [0.5, 1],
          observation: '10s',
          limits: { maxPredictionShift: 0.5, minRows: 20 },
        },
      },
      s.tokens
    );
    if (canary.status !== 'promoted') detail = `the canary ended ${canary.status}: ${canary.outcome}`;
    await Promise.all(handles.map(resultOf));
  } catch (err) {
    detail = (err as Error).message;
  } finally {
    await s.traffic.stop();
    await stopServers(c);
    for (const w of EXTRA_TRAIN_WORKERS) await stopOwned(dirsOf(c.config), w, 10_000);
  }
  const counted = await audit(c, [s.first, ...handles]);
  const { rows: versions } = await c.db.query<{ version: number }>(
    'SELECT version FROM cairn.model_versions WHERE model = $1 ORDER BY version',
    [s.model]
  );
  const contiguous = versions.every((v, i) => v.version === i + 1) && versions.length === 13;
  const failed = s.traffic.failed();
  const served = s.traffic.served();
  const problems = [
    detail,
    ...counted.problems,
    contiguous ? '' : `versions ${versions.map((v) => v.version).join(',')} are not 1..13`,
    failed ? `${failed} of ${served + failed} requests failed: ${s.traffic.summary()}` : '',
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
  // `--only <text>`: the scenarios whose name contains it (after the baseline), e.g. `--only kill`, `--only NATS`.
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
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
    const picked = (name: string) => !only || name.includes(only);
    for (const [name, runs, fault] of scenarios(c, quick))
      if (picked(name)) results.push(await scenario(c, name, runs, fault));
    if (picked('disk full')) results.push(await diskFull(c));
    if (!quick && picked('serving faults, NATS')) results.push(...(await servingFaults(c)));
    if (!quick && picked('scale-out')) results.push(await scaleOut(c));
  } finally {
    await stopWorkers(c);
    await db.end();
    await connection.close();
  }
  say(
    formatTable([
      ['scenario', 'outcome', 'runs (requests)', 'completed once', 'duplicates', 'data lost', 'recovery'],
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
  if (results.some((r) => r.outcome === 'FAILED')) process.exitCode = 1;
});
