// Online feature serving: requests per second of POST /v1/models/<model>/predict by entity key (`{"entities":
// {"origin", "destination"}, "row": {"date", "distance"}}`: the server looks the model's two feature views up in
// Redis, adds their values to the row and scores it), and latency at half of that rate, against a bare node:http
// server doing one Redis MGET of the same keys plus the same scoring with the same model
// (bench/feature-serving-peer.ts). The issue's acceptance: lookup plus scoring p99 under 10 ms at half of the maximum
// rate.
//
// Cairn: `startServer` (serving/server.ts) as `cairn serve` runs it, in a child process, with its default settings
// (sampleRate, flush and reload intervals): the predict fast path (bearer token, cached), the body checks, the
// entity and time checks of `lookupFeatures` and its one MGET (`onlineFeatureLookup`, @redis/client), statuses per
// view, contract-checked rows (`parseRows`), `scoreNow`, finite-output check, a prediction id per row, Prometheus
// metrics, the monitoring feed and the prediction log. Peer: node:http, JSON.parse, one MGET, `decodeOnline`, the
// same fill rules, `parseRows`, `scoreNow`, `prediction`, JSON answer; nothing else.
//
// The model: `flight-delays-features` of the example project (examples/cairn.config.ts; views `origin_delays` and
// `route_delays`), in the database `cairn_bench_feature_serving` (created and migrated here, kept between runs). In-
// process workers on a fresh task queue of the stack's Temporal server run `materializeFeatures` for both views as
// of AS_OF (the offline snapshot is computed once and reused by later runs; the online values are written each run
// under a Redis key prefix of the run's own, `features.prefix`, deleted at the end) and, unless a version trained
// with the views' current definitions is registered already, `runPipeline` (rows 200000, rounds 30). The version is
// promoted to production; a `predict` token is issued for the run and revoked after.
// Requests: BENCH_BODIES (500) routes, every 997th of the first 1.2 million flights (busy and quiet routes, some with
// no value by AS_OF or only a stale one, filled with the views' defaults), each with one of its flights' distances,
// all asked about at AS_OF; shuffled. Both sides answer each of them first, and must agree on every value and status.
// Load: wrk (Debian package `wrk`), 2 threads, BENCH_CONNECTIONS (32) connections, BENCH_SECONDS (10) per run, a Lua
// script cycling through the bodies (each thread from another one); Cairn and the peer interleaved after a warm-up
// run of each; medians of BENCH_REPS (3). Then an open-loop generator of our own (wrk cannot hold a rate), cycling
// through the same bodies, at half of each side's own median maximum rate, latency timed from each request's scheduled
// send. Servers run on core 0, wrk and the generator on core 1 (bench/cores.ts); Redis and the rest of the stack are
// not pinned. The floor: the latency of one MGET of two keys from this process, one at a time, without load.
// A missed target is diagnosed (BENCH_PROFILE=1 always, 0 never): each side runs once more at its half rate with its
// process watched (CPU time, and event-loop stalls over 8 ms: how much of them the process spent on the CPU, in GC,
// or off the CPU; bench/feature-serving-peer.ts `recordLoop`), then the Cairn server is CPU-profiled at half rate.
// --smoke: 2 s runs, one repetition, no warm-ups, nothing recorded; it still prints the ratios.
// Needs the stack (npm run stack:up), Redis at features.redisUrl, and wrk.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { closeRedisConnections } from '../activities/features.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { createToken, revokeToken } from '../lib/auth/tokens.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { readTable } from '../lib/data/read-table.js';
import { ensureDatabase, migrate } from '../lib/db/migrate.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { connectRedis, onlineKey } from '../lib/features/store/online.js';
import type { OnlineStoreSettings, Redis } from '../lib/features/store/online.js';
import { readCodeVersion } from '../lib/lineage/code-version.js';
import { createLogger } from '../lib/logging/logger.js';
import { loadProject } from '../lib/pipeline/project.js';
import type { Project } from '../lib/pipeline/project.js';
import { resolveSourcePath, sourcesOf } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { listVersions } from '../lib/registry/models.js';
import { changeDeployment, moves } from '../lib/release/deployments.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import { signingOf } from '../lib/signing/packages.js';
import { startServer } from '../serving/server.js';
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { materializeFeatures } from '../workflows/materialize-features.js';
import { runPipeline } from '../workflows/run-pipeline.js';
import { pinApart } from './cores.js';
import { formatSelfTimes, selfTimes } from './cpu-profile.js';
import { answerLoopAsks } from './feature-serving-peer.js';
import type { LoopRecord } from './feature-serving-peer.js';
import { interleave, needStack, report, sized, SMOKE, stats } from './harness.js';
import type { Row, Sample } from './harness.js';
import { quietTemporalRuntime } from './temporal-server.js';

const REPS = sized('BENCH_REPS', 3, 1);
const SECONDS = sized('BENCH_SECONDS', 10, 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const BODIES = Number(process.env.BENCH_BODIES ?? 500);
const THREADS = 2;
const MODEL = 'flight-delays-features';
const VIEWS = ['origin_delays', 'route_delays'];
const TRAIN_CONFIG = { rows: 200_000, rounds: 30 };
const ENVIRONMENT = 'production';
const DATABASE = 'cairn_bench_feature_serving';
/** The online values are as of this time, and every request asks for it: mid-March 2001. */
const AS_OF = Date.UTC(2001, 2, 15, 18, 0);
const FLIGHTS = 'npm:vega-datasets/data/flights-3m.parquet';
const TARGET_P99_MS = 10;
const SELF = fileURLToPath(import.meta.url);
const PEER = fileURLToPath(new URL('./feature-serving-peer.ts', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../examples', import.meta.url));
const PATH = `/v1/models/${MODEL}/predict`;

/**
 * Cycles through the bodies of BENCH_BODIES (one JSON body a line), each thread from its own place; prints one JSON
 * line at the end of a run: what `done` sees (times in microseconds).
 */
const WRK_SCRIPT = `
local headers = { ["Content-Type"] = "application/json" }
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then headers["Authorization"] = auth end
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if line ~= "" then bodies[#bodies + 1] = line end
end

local threads = 0
setup = function(thread)
  thread:set("offset", threads * 131)
  threads = threads + 1
end

-- Formatted in init: only then does wrk.format know the Host header.
local requests = {}
local n = 0
init = function(args)
  for i, body in ipairs(bodies) do requests[i] = wrk.format("POST", nil, headers, body) end
  n = offset or 0
end

request = function()
  n = n + 1
  return requests[n % #requests + 1]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50Us":%d,"p99Us":%d,"maxUs":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

interface WrkResult {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

interface ThroughputSample extends Sample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** What the open-loop generator is asked to do (sent over IPC: the token stays out of argv). */
interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  bodies: string[];
  rate: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

interface LatencySample extends Sample {
  rate: number;
  sent: number;
  completed: number;
  failed: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late the generator itself sent, p99: part of every latency (they are timed from the scheduled send). */
  lagP99Ms: number;
}

type ProfileMessage = { profile: 'start' } | { profile: 'stop'; path: string };

/** Everything this benchmark starts, killed at the end whatever happens. */
class Children {
  private readonly live = new Set<ChildProcess>();

  constructor() {
    // The last resort (an exception that skipped `stopAll`): nothing may outlive the benchmark.
    process.on('exit', () => {
      for (const child of this.live) child.kill('SIGKILL');
    });
  }

  spawn(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
    const child = spawn(command, args, options);
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    child.once('error', () => this.live.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
    if (!this.live.has(child)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((child) => this.stop(child)));
  }
}

/** The first IPC message of a child (a server's `{ port }`, the generator's result); fails if it exits first. */
function firstMessage<T>(child: ChildProcess, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as T);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before answering`));
    });
  });
}

/** Arguments of `node` running a TypeScript file of ours. */
const tsxArgs = (...args: string[]) => ['--import', 'tsx', ...args];

/**
 * `server`: Cairn's online server on a free port of 127.0.0.1, as `cairn serve` starts it; `{ port }` over IPC.
 * DATABASE_URL (the bench database) and CAIRN_FEATURES_PREFIX (the run's keys) come from the benchmark.
 */
async function cairnServer(): Promise<void> {
  const loaded = loadConfig({ overrides: { logLevel: 'warn' } });
  const config: CairnConfig = {
    ...loaded,
    serving: { ...loaded.serving, host: '127.0.0.1', port: 0, environment: ENVIRONMENT },
  };
  const db = createPool(config);
  const server = await startServer({
    db,
    store: createArtifactStore(config),
    logger: createLogger(config),
    config,
    server: 'bench-feature-serving',
  });
  if (!server.models.get(MODEL)) throw new Error(`the server does not serve ${MODEL} in ${ENVIRONMENT}`);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await server.close();
      await db.end();
      process.exit(0);
    })());
  process.once('SIGTERM', () => void stop());
  process.once('disconnect', () => void stop());
  // The benchmark's profile of a missed target: only the load it asks for, not start-up and module loading.
  const session = new Session();
  answerLoopAsks();
  process.on('message', (m: ProfileMessage | { loop: string }) => {
    if (!('profile' in m)) return;
    void (async () => {
      if (m.profile === 'start') {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        process.send?.({ profiling: true });
      } else {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(m.path, JSON.stringify(profile));
        session.disconnect();
        process.send?.({ profiling: false });
      }
    })();
  });
  process.send?.({ port: server.port });
}

/** `load`: the open-loop generator; its spec arrives over IPC, its result goes back the same way. */
function loadChild(): void {
  process.once('message', (spec: LoadSpec) => {
    // The benchmark is told when the timed phase starts (a diagnosis run records the server from there).
    void openLoop(spec, () => process.send?.({ timed: true })).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (err: unknown) => {
        process.stderr.write(`load: ${String(err)}\n`);
        process.exit(1);
      }
    );
  });
  process.once('disconnect', () => process.exit(0));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Sends requests at a fixed rate whatever the answers do (open loop, as wrk2 does): request i, with body
 * i mod bodies, is due at start + i / rate and its latency is timed from then, so a slow answer cannot hide the
 * requests queued behind it. At most `connections` keep-alive sockets; a request waiting for one is waiting on the
 * server.
 */
async function openLoop(spec: LoadSpec, onTimed: () => void): Promise<LatencySample> {
  const target = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const bodies = spec.bodies.map((b) => Buffer.from(b));
  const headers = bodies.map((body) => ({
    ...spec.headers,
    'content-type': 'application/json',
    'content-length': String(body.length),
  }));

  const phase = (seconds: number) =>
    new Promise<LatencySample>((resolve) => {
      const total = Math.max(1, Math.round(spec.rate * seconds));
      const interval = 1000 / spec.rate;
      const latencies = new Float64Array(total).fill(NaN);
      const lags = new Float64Array(total);
      let sent = 0;
      let finished = 0;
      let failed = 0;
      let settled = false;
      const start = performance.now() + 1;
      const settle = () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        const ok = latencies.filter((v) => !Number.isNaN(v)).sort();
        const lag = lags.subarray(0, sent).slice().sort();
        resolve({
          ms: performance.now() - start,
          rate: spec.rate,
          sent,
          completed: ok.length,
          failed: failed + (total - finished),
          p50Ms: percentile(ok, 0.5),
          p90Ms: percentile(ok, 0.9),
          p99Ms: percentile(ok, 0.99),
          p999Ms: percentile(ok, 0.999),
          maxMs: ok[ok.length - 1] ?? NaN,
          lagP99Ms: percentile(lag, 0.99),
        });
      };
      const finish = (i: number, scheduled: number, ok: boolean) => {
        if (ok) latencies[i] = performance.now() - scheduled;
        else failed++;
        if (++finished === total) settle();
      };
      const send = (i: number, scheduled: number) => {
        lags[i] = performance.now() - scheduled;
        let done = false;
        const once = (ok: boolean) => {
          if (done) return;
          done = true;
          finish(i, scheduled, ok);
        };
        const k = i % bodies.length;
        const req = request(
          {
            hostname: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: headers[k],
          },
          (res) => {
            const ok = res.statusCode === 200;
            res.on('data', () => undefined);
            res.on('end', () => once(ok));
            res.on('error', () => once(false));
          }
        );
        req.on('error', () => once(false));
        req.end(bodies[k]);
      };
      const tick = () => {
        const now = performance.now();
        while (sent < total && start + sent * interval <= now) {
          send(sent, start + sent * interval);
          sent++;
        }
        if (sent < total) setTimeout(tick, 1);
      };
      // Answers that never come count as failures.
      const deadline = setTimeout(settle, (seconds + 10) * 1000);
      setTimeout(tick, 1);
    });

  if (spec.warmupSeconds > 0) await phase(spec.warmupSeconds);
  onTimed();
  const result = await phase(spec.seconds);
  agent.destroy();
  return result;
}

/** Whether a package was trained with the project's current definitions of the views (its keys are theirs). */
function currentViews(pkg: ServablePackage, project: Project): boolean {
  const views = pkg.featureViews ?? [];
  return (
    views.map((v) => v.name).join() === VIEWS.join() &&
    views.every((v) => v.digest === project.featureView(v.name).digest)
  );
}

/**
 * Materialises both views as of AS_OF into the online store of `onlineStore` (the run's prefix) and returns a version
 * of MODEL trained with their current definitions: the latest one registered, else a new one trained by runPipeline.
 * In-process workers on a fresh task queue of the stack's Temporal server.
 */
async function prepare(
  config: CairnConfig,
  db: Pool,
  store: ArtifactStore,
  project: Project,
  onlineStore: OnlineStoreSettings
): Promise<{ version: number; trained: boolean; materialized: Record<string, { entities: number; reused: boolean }> }> {
  quietTemporalRuntime();
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const activities = createActivities({
      db,
      store,
      sources: sourcesOf(config, store, project.dir),
      logger: createLogger(config),
      code: readCodeVersion(),
      home: config.home,
      cpuSecondPrice: config.tracking.cpuSecondPrice,
      onlineStore,
      ...signingOf(config),
      project,
    });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-feature-serving-${randomUUID()}`;
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
    const client = new Client({ connection, namespace: config.temporal.namespace });
    return await trainWorker.runUntil(() =>
      worker.runUntil(async () => {
        const materialized: Record<string, { entities: number; reused: boolean }> = {};
        for (const view of VIEWS) {
          const done = await client.workflow.execute(materializeFeatures, {
            taskQueue,
            workflowId: `bench-feature-serving-${view}-${randomUUID()}`,
            args: [{ view, asOf: AS_OF, full: true }],
          });
          materialized[view] = { entities: done.online?.entities ?? 0, reused: done.offline.reused };
        }
        const versions = await listVersions(db, MODEL).catch(() => []);
        for (const v of [...versions].sort((a, b) => b.version - a.version)) {
          try {
            const pkg = await store.getJson<ServablePackage>(v.packageDigest);
            await scorerFor(pkg);
            if (currentViews(pkg, project)) return { version: v.version, trained: false, materialized };
          } catch {
            // Made by another version of the pipeline, or its package is gone: try an older one, else train.
          }
        }
        process.stdout.write(`training ${MODEL} (${JSON.stringify(TRAIN_CONFIG)}) through Temporal\n`);
        const run = await client.workflow.execute(runPipeline, {
          taskQueue,
          workflowId: `bench-feature-serving-train-${randomUUID()}`,
          args: [{ pipeline: MODEL, config: TRAIN_CONFIG, requestedBy: 'bench' }],
        });
        const version = run.outputs.version;
        if (typeof version !== 'number') throw new Error(`runPipeline registered no version of ${MODEL}`);
        return { version, trained: true, materialized };
      })
    );
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

/**
 * `count` requests by entity key at AS_OF: the routes of every 997th of the first 1.2 million flights (busy and
 * quiet ones; some have no value by AS_OF, or only one older than the TTL), each once with one of its flights'
 * distances, in a fixed shuffled order.
 */
async function requestBodies(count: number): Promise<string[]> {
  const flights = await readTable(resolveSourcePath(FLIGHTS), { limit: 1_200_000 });
  const { origin, destination, distance } = flights.columns;
  if (origin?.type !== 'string' || destination?.type !== 'string' || distance?.type !== 'number')
    throw new Error(`${FLIGHTS}: expected origin and destination (strings) and distance (number)`);
  const date = new Date(AS_OF).toISOString();
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0; out.length < count && i < flights.rowCount; i += 997) {
    const o = origin.dictionary[origin.codes[i]!]!;
    const d = destination.dictionary[destination.codes[i]!]!;
    if (seen.has(`${o}-${d}`)) continue;
    seen.add(`${o}-${d}`);
    out.push(JSON.stringify({ entities: { origin: o, destination: d }, row: { date, distance: distance.values[i]! } }));
  }
  // A fixed shuffle (a linear congruential generator): neighbours in the file are not neighbours in the load.
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One MGET of two keys at a time, without load, from this process: what Redis alone costs a request. */
async function redisFloor(redis: Redis, prefix: string, pkg: ServablePackage, bodies: string[], n: number) {
  const views = pkg.featureViews ?? [];
  const keys = bodies.map((text) => {
    const { entities } = JSON.parse(text) as { entities: Record<string, string> };
    return views.map((v) =>
      onlineKey(
        prefix,
        v,
        v.entities.map((c) => entities[c]!)
      )
    );
  });
  for (let i = 0; i < 200; i++) await redis.mGet(keys[i % keys.length]!);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await redis.mGet(keys[i % keys.length]!);
    times[i] = performance.now() - started;
  }
  times.sort();
  return { calls: n, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99) };
}

type Answer = {
  predictions: { value: number; features: Record<string, { status: string; asOf?: string }> }[];
};

async function main(): Promise<void> {
  if (spawnSync('wrk', ['-v']).error) {
    throw Object.assign(new Error('wrk is not installed: apt-get install -y wrk'), { userFacing: true });
  }
  const startedAt = performance.now();
  const loadBefore = loadavg()[0]!;
  const base = loadConfig();
  await needStack(base, ['temporal', 'postgres', 'object-store']);
  const url = new URL(base.database.url);
  url.pathname = `/${DATABASE}`;
  await ensureDatabase(url.href);
  await migrate(url.href);
  const prefix = `cairn-bench-${randomUUID().slice(0, 8)}:`;
  const config: CairnConfig = {
    ...base,
    logLevel: 'warn',
    database: { ...base.database, url: url.href },
    features: { ...base.features, prefix },
  };
  const logger = createLogger(config);
  let redis: Redis;
  try {
    redis = await connectRedis(config.features.redisUrl, logger, 3000);
  } catch (err) {
    throw Object.assign(
      new Error(
        `cannot reach redis at ${config.features.redisUrl} (features.redisUrl, CAIRN_REDIS_URL): ${(err as Error).message}. ` +
          'This benchmark needs the online feature store: start Redis (e.g. apt-get install -y redis-server)'
      ),
      { userFacing: true }
    );
  }
  const project = await loadProject(EXAMPLES);
  const db = createPool(config);
  const store = createArtifactStore(config);
  const children = new Children();
  const dir = join(config.home, 'bench', 'feature-serving');
  mkdirSync(dir, { recursive: true });
  let tokenId: string | undefined;
  try {
    const prepared = await prepare(config, db, store, project, { url: config.features.redisUrl, prefix });
    const { version } = prepared;
    await changeDeployment(db, MODEL, ENVIRONMENT, moves.promote(version, null), {
      action: 'promote',
      by: 'bench',
      reason: 'feature-serving benchmark',
    });
    const issued = await createToken(db, 'bench-feature-serving', [`predict:${MODEL}`]);
    tokenId = issued.id;
    const auth = `Bearer ${issued.token}`;
    const digest = (await listVersions(db, MODEL)).find((v) => v.version === version)!.packageDigest;
    const pkg = await store.getJson<ServablePackage>(digest);
    const packagePath = join(dir, 'package.json');
    writeFileSync(packagePath, JSON.stringify(pkg));
    const scriptPath = join(dir, 'predict.lua');
    writeFileSync(scriptPath, WRK_SCRIPT);
    const bodies = await requestBodies(BODIES);
    const bodiesPath = join(dir, 'bodies.jsonl');
    writeFileSync(bodiesPath, `${bodies.join('\n')}\n`);
    const setupSeconds = (performance.now() - startedAt) / 1000;

    const serve = async (what: string, args: string[], env: NodeJS.ProcessEnv) => {
      const child = children.spawn(process.execPath, tsxArgs(...args), {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env,
      });
      const { port } = await firstMessage<{ port: number }>(child, what, 120_000);
      return { child, url: `http://127.0.0.1:${port}${PATH}` };
    };
    const cairn = await serve('the Cairn server', [SELF, 'server'], {
      ...process.env,
      DATABASE_URL: url.href,
      CAIRN_REDIS_URL: config.features.redisUrl,
      CAIRN_FEATURES_PREFIX: prefix,
    });
    const peer = await serve('the peer server', [PEER, packagePath, MODEL], {
      ...process.env,
      BENCH_REDIS_URL: config.features.redisUrl,
      BENCH_PREFIX: prefix,
    });
    const pinning = pinApart([
      { name: 'Cairn server', pid: cairn.child.pid! },
      { name: 'peer server', pid: peer.child.pid! },
    ]);

    // Both answer every body, and agree on every value and every view's status.
    const answer = async (target: string, headers: Record<string, string>, body: string) => {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${target} answered ${res.status} to ${body}: ${text}`);
      return (JSON.parse(text) as Answer).predictions[0]!;
    };
    const statuses: Record<string, Record<string, number>> = Object.fromEntries(VIEWS.map((v) => [v, {}]));
    for (let i = 0; i < bodies.length; i += 25) {
      await Promise.all(
        bodies.slice(i, i + 25).map(async (body) => {
          const [ours, theirs] = await Promise.all([
            answer(cairn.url, { authorization: auth }, body),
            answer(peer.url, {}, body),
          ]);
          const same =
            ours.value === theirs.value &&
            VIEWS.every(
              (v) =>
                ours.features[v]?.status === theirs.features[v]?.status &&
                ours.features[v]?.asOf === theirs.features[v]?.asOf
            );
          if (!same)
            throw new Error(`the sides disagree on ${body}: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`);
          for (const v of VIEWS) {
            const s = ours.features[v]!.status;
            statuses[v]![s] = (statuses[v]![s] ?? 0) + 1;
          }
        })
      );
    }
    // Lookups that find nothing would measure a cheaper request (and mean the keys are not where the server looks).
    if ((statuses.origin_delays!.fresh ?? 0) < bodies.length / 2)
      throw new Error(`most lookups found no fresh value: ${JSON.stringify(statuses)}`);
    const floor = await redisFloor(redis, prefix, pkg, bodies, SMOKE ? 500 : 5000);

    const wrk = async (target: string, authorization: string, seconds: number): Promise<WrkResult> => {
      const child = children.spawn(
        'wrk',
        ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '-s', scriptPath, target],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, BENCH_BODIES: bodiesPath, BENCH_AUTH: authorization },
        }
      );
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
      const result = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
      const errors = result.connect + result.read + result.write + result.status + result.timeout;
      if (errors) throw new Error(`wrk against ${target}: ${errors} errors (non-2xx answers: ${result.status})`);
      return result;
    };
    const throughput = (target: string, authorization: string) => async () => {
      const r = await wrk(target, authorization, SECONDS);
      return {
        ms: r.durationUs / 1000,
        rps: r.requests / (r.durationUs / 1e6),
        p50Ms: r.p50Us / 1000,
        p99Ms: r.p99Us / 1000,
      } satisfies ThroughputSample;
    };
    const max = (await interleave(
      { cairn: throughput(cairn.url, auth), peer: throughput(peer.url, '') },
      REPS
    )) as Record<'cairn' | 'peer', ThroughputSample[]>;

    const rps = (xs: ThroughputSample[]) => stats(xs.map((x) => x.rps));
    const halfRate = { cairn: Math.round(rps(max.cairn).median / 2), peer: Math.round(rps(max.peer).median / 2) };
    /** An open-loop run; `onTimed` is called when its timed phase starts (after the warm-up). */
    const openLoopAt =
      (target: string, headers: Record<string, string>, rate: number, onTimed?: () => Promise<unknown>) => async () => {
        const child = children.spawn(process.execPath, tsxArgs(SELF, 'load'), {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        const timed = firstMessage<{ timed: true }>(child, 'the load generator', 60_000);
        const result = timed.then(() =>
          firstMessage<LatencySample>(child, 'the load generator', (SECONDS + 40) * 1000)
        );
        const spec: LoadSpec = {
          url: target,
          headers,
          bodies,
          rate,
          seconds: SECONDS,
          warmupSeconds: SMOKE ? 0 : 2,
          connections: CONNECTIONS,
        };
        child.send(spec);
        await timed;
        await onTimed?.();
        const sample = await result;
        if (sample.failed) throw new Error(`open loop against ${target}: ${sample.failed} requests failed`);
        return sample;
      };
    const half = (await interleave(
      {
        cairn: openLoopAt(cairn.url, { authorization: auth }, halfRate.cairn),
        peer: openLoopAt(peer.url, {}, halfRate.peer),
      },
      REPS
    )) as Record<'cairn' | 'peer', LatencySample[]>;

    const of = <T extends Sample>(xs: T[], key: keyof T) => stats(xs.map((x) => x[key] as number));
    const ratio = rps(max.cairn).median / rps(max.peer).median;
    const p99 = of(half.cairn, 'p99Ms');
    const p50 = of(half.cairn, 'p50Ms');
    const peerName = 'bare node:http, one MGET, same scorer';
    const rates = `half of each side's max (ours ${halfRate.cairn}, peer ${halfRate.peer} req/s), open loop`;
    const rows: Row[] = [
      {
        metric: `lookup + predict by entity key, 1 row 2 views, wrk ${THREADS} threads ${CONNECTIONS} connections`,
        ours: rps(max.cairn),
        peer: rps(max.peer),
        peerName,
        unit: 'req/s',
        ratio,
        ratioMeaning: 'throughput ours/peer, higher is better',
      },
      {
        metric: `p99 latency at ${rates}`,
        ours: p99,
        peer: of(half.peer, 'p99Ms'),
        peerName,
        unit: 'ms',
        ratio: p99.median / of(half.peer, 'p99Ms').median,
        ratioMeaning: `latency ours/peer; target ours < ${TARGET_P99_MS} ms`,
      },
      {
        metric: `p50 latency at ${rates}`,
        ours: p50,
        peer: of(half.peer, 'p50Ms'),
        peerName,
        unit: 'ms',
        ratio: p50.median / of(half.peer, 'p50Ms').median,
        ratioMeaning: 'latency ours/peer, lower is better',
      },
    ];
    const targets = { p99AtHalfRate: p99.median < TARGET_P99_MS };
    report('feature-serving', rows, {
      model: { name: MODEL, version, digest, trainedThisRun: prepared.trained },
      views: prepared.materialized,
      asOf: new Date(AS_OF).toISOString(),
      bodies: bodies.length,
      statuses,
      threads: THREADS,
      connections: CONNECTIONS,
      seconds: SECONDS,
      reps: REPS,
      halfRate,
      targets,
      redisFloor: floor,
      fullLoad: {
        cairn: { p50Ms: of(max.cairn, 'p50Ms'), p99Ms: of(max.cairn, 'p99Ms') },
        peer: { p50Ms: of(max.peer, 'p50Ms'), p99Ms: of(max.peer, 'p99Ms') },
      },
      halfRateDetail: half,
      pinning: pinning.description,
      loadAverage: { before: loadBefore, after: loadavg()[0] },
    });
    const ms = (s: { median: number }) => `${s.median.toFixed(2)} ms`;
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const counts = (v: string) =>
      Object.entries(statuses[v]!)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ');
    process.stdout.write(
      `target: p99 of lookup + scoring at half of the maximum rate (${halfRate.cairn} req/s) ${ms(p99)} < ` +
        `${TARGET_P99_MS} ms ${met(targets.p99AtHalfRate)}\n` +
        `at full load (wrk, closed loop, median of runs): ours p50 ${ms(of(max.cairn, 'p50Ms'))} p99 ${ms(of(max.cairn, 'p99Ms'))}; ` +
        `peer p50 ${ms(of(max.peer, 'p50Ms'))} p99 ${ms(of(max.peer, 'p99Ms'))}\n` +
        `at half rate: ours p90 ${ms(of(half.cairn, 'p90Ms'))} p99.9 ${ms(of(half.cairn, 'p999Ms'))} max ${ms(of(half.cairn, 'maxMs'))}; ` +
        `peer p90 ${ms(of(half.peer, 'p90Ms'))} p99.9 ${ms(of(half.peer, 'p999Ms'))} max ${ms(of(half.peer, 'maxMs'))}; ` +
        `latencies timed from each request's scheduled send, so they include the generator's own lateness ` +
        `(its p99: ${ms(of(half.cairn, 'lagP99Ms'))} in our runs, ${ms(of(half.peer, 'lagP99Ms'))} in the peer's)\n` +
        `redis alone (one MGET of a request's two keys, one at a time, no load, from the benchmark process): ` +
        `p50 ${floor.p50Ms.toFixed(3)} ms p99 ${floor.p99Ms.toFixed(3)} ms over ${floor.calls} calls\n` +
        `model ${MODEL} v${version}${prepared.trained ? ` (trained this run, ${JSON.stringify(TRAIN_CONFIG)})` : ''}; ` +
        `${bodies.length} bodies at ${new Date(AS_OF).toISOString()}: origin_delays ${counts('origin_delays')}; ` +
        `route_delays ${counts('route_delays')}; online values written under ${prefix} ` +
        `(${VIEWS.map((v) => `${v} ${prepared.materialized[v]!.entities} entities`).join(', ')}); ` +
        `setup ${setupSeconds.toFixed(0)} s\n` +
        `this machine has ${cpus().length} cores: the load generator shares it with both servers and Redis ` +
        `(${pinning.description}; Redis and the rest of the stack unpinned), so absolute figures are low; the ratios ` +
        `against the peer, measured in the same run, say what Cairn adds; 1-minute load average ` +
        `${loadBefore.toFixed(2)} before the run, ${loadavg()[0]!.toFixed(2)} after\n`
    );

    const profile = process.env.BENCH_PROFILE;
    if (profile === '1' || (profile !== '0' && !SMOKE && !targets.p99AtHalfRate)) {
      // Where the tail comes from: each side once more at its half rate, its process recorded during the timed phase.
      const recorded = async (
        side: { child: ChildProcess; url: string },
        headers: Record<string, string>,
        rate: number
      ) => {
        const ask = (loop: 'start' | 'stop') => {
          const answered = firstMessage<{ loop: true | LoopRecord }>(side.child, 'a server (loop record)', 60_000);
          side.child.send({ loop });
          return answered;
        };
        const sample = await openLoopAt(side.url, headers, rate, () => ask('start'))();
        const { loop } = await ask('stop');
        return { sample, loop: loop as LoopRecord };
      };
      const loops = {
        ours: await recorded(cairn, { authorization: auth }, halfRate.cairn),
        peer: await recorded(peer, {}, halfRate.peer),
      };
      const share = (part: number, whole: number) => `${((100 * part) / Math.max(whole, 1e-9)).toFixed(0)}%`;
      const describe = (side: 'ours' | 'peer', rate: number, maxRps: number) => {
        const { sample, loop } = loops[side];
        return (
          `  ${side} at ${rate} req/s: p50 ${sample.p50Ms.toFixed(2)} p99 ${sample.p99Ms.toFixed(2)} ms; the process ` +
          `used ${share(loop.cpuMs, loop.wallMs)} of a core, ${((1000 * loop.cpuMs) / Math.max(sample.completed, 1)).toFixed(0)} µs ` +
          `of CPU a request (at full load about ${(1e6 / maxRps).toFixed(0)} µs: 1 s / its maximum rate); ` +
          `${loop.stalls} event-loop stalls over 8 ms (${((1000 * loop.stalls) / loop.wallMs).toFixed(1)}/s), ` +
          `${loop.stallMs.toFixed(0)} ms in all, the longest ${loop.maxStallMs.toFixed(0)} ms: the process on the CPU for ` +
          `${share(loop.stallCpuMs, loop.stallMs)} of that time (GC ${share(loop.stallGcMs, loop.stallMs)}), off it (runnable, ` +
          `its core busy with other processes) the rest\n`
        );
      };
      process.stdout.write(
        `where the tail comes from: each side once more at its half rate (${SECONDS} s${SMOKE ? '' : ' after a warm-up'}), its event ` +
          `loop watched by a 1 ms timer:\n` +
          describe('ours', halfRate.cairn, rps(max.cairn).median) +
          describe('peer', halfRate.peer, rps(max.peer).median)
      );
      const profDir = mkdtempSync(join(tmpdir(), 'cairn-prof-'));
      try {
        const path = join(profDir, 'cairn-server.cpuprofile');
        const ask = (message: ProfileMessage) => {
          const answered = firstMessage(cairn.child, 'the Cairn server profiler', 60_000);
          cairn.child.send(message);
          return answered;
        };
        await ask({ profile: 'start' });
        await openLoopAt(cairn.url, { authorization: auth }, halfRate.cairn)();
        await ask({ profile: 'stop', path });
        process.stdout.write(
          `${targets.p99AtHalfRate ? 'profile asked for' : 'the target is missed'}; self time of the Cairn server ` +
            `under the open loop at ${halfRate.cairn} req/s (${SECONDS} s, warm):\n` +
            `${formatSelfTimes(selfTimes([path]), 20)}\n`
        );
      } finally {
        rmSync(profDir, { recursive: true, force: true });
      }
    }
    pinning.restore();
  } finally {
    await children.stopAll();
    if (tokenId) await revokeToken(db, tokenId).catch(() => undefined);
    // The run's online values: every key under its prefix.
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 10_000 }))
      if (keys.length) await redis.del(keys);
    redis.destroy();
    await db.end();
  }
}

if (process.argv[2] === 'server') runMain('bench-feature-serving', cairnServer);
else if (process.argv[2] === 'load') loadChild();
// The feature activities keep a Redis connection until it is closed, as a worker does at shutdown.
else runMain('bench', () => main().then(closeRedisConnections));
