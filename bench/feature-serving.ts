// Online feature serving: requests per second of POST /v1/models/<model>/predict by entity key (`{"entities":
// {"origin", "destination"}, "row": {"date", "distance"}}`: the server looks the model's two feature views up in
// Redis, adds their values to the row and scores it), and latency at half of that rate, against a bare node:http
// server doing one Redis MGET of the same keys plus the same scoring with the same model
// (bench/feature-serving-peer.ts). The issue's acceptance: lookup plus scoring p99 under 10 ms at half of the maximum
// rate.
//
// Cairn: `startServer` (serving/server.ts) as `cairn serve` runs it, in a process of its own (bench/cairn-server.ts),
// with its default settings (sampleRate, flush and reload intervals): the predict fast path (bearer token, cached), the body checks, the
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
// send. Servers run on core 0; wrk, the generator and a local Redis on core 1 (bench/cores.ts: Redis works for both
// sides on every request, and would otherwise take the servers' core from them); the rest of the stack unpinned. The floor: the latency of one MGET of two keys from this process, one at a time, without load.
// A missed target is diagnosed (BENCH_PROFILE=1 always, 0 never): each side runs once more at its half rate with its
// process watched (CPU time, and event-loop stalls over 8 ms: how much of them the process spent on the CPU, in GC,
// or off the CPU; bench/feature-serving-peer.ts `recordLoop`), then the Cairn server is CPU-profiled at half rate.
// --smoke: 2 s runs, one repetition, no warm-ups, nothing recorded; it still prints the ratios.
// Needs the stack (npm run stack:up), Redis at features.redisUrl, and wrk.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { materializeFeatures } from '../workflows/materialize-features.js';
import { runPipeline } from '../workflows/run-pipeline.js';
import { pinApart } from './cores.js';
import { ask, Children, openLoopRun, percentile, profiled, requireWrk, serveChild, wrkRunner } from './load.js';
import type { LatencySample, LoopRecord, ThroughputSample } from './load.js';
import { interleave, needStack, report, servableVersion, sized, SMOKE, stats } from './harness.js';
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
const SERVER = fileURLToPath(new URL('./cairn-server.ts', import.meta.url));
const PEER = fileURLToPath(new URL('./feature-serving-peer.ts', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../examples', import.meta.url));
const PATH = `/v1/models/${MODEL}/predict`;

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
      pythonEnvs: config.pythonEnvs!,
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

/**
 * The Redis server's process when it runs on this machine (its pid, from INFO): both servers call it on every
 * request, so it is kept off their core.
 */
async function localRedis(redis: Redis, url: string): Promise<{ name: string; pid: number }[]> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return [];
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  return pid > 0 ? [{ name: 'Redis', pid }] : [];
}

type Answer = {
  predictions: { value: number; features: Record<string, { status: string; asOf?: string }> }[];
};

async function main(): Promise<void> {
  requireWrk();
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
    const digest = (await servableVersion(config, db, MODEL, version)).packageDigest;
    await changeDeployment(db, MODEL, ENVIRONMENT, moves.promote(version, null), {
      action: 'promote',
      by: 'bench',
      reason: 'feature-serving benchmark',
    });
    const issued = await createToken(db, 'bench-feature-serving', [`predict:${MODEL}`]);
    tokenId = issued.id;
    const auth = `Bearer ${issued.token}`;
    const pkg = await store.getJson<ServablePackage>(digest);
    const packagePath = join(dir, 'package.json');
    writeFileSync(packagePath, JSON.stringify(pkg));
    const bodies = await requestBodies(BODIES);
    const setupSeconds = (performance.now() - startedAt) / 1000;

    const cairn = await serveChild(
      children,
      'the Cairn server',
      [SERVER, 'bench-feature-serving', MODEL],
      {
        ...process.env,
        DATABASE_URL: url.href,
        CAIRN_ENVIRONMENT: ENVIRONMENT,
        CAIRN_REDIS_URL: config.features.redisUrl,
        CAIRN_FEATURES_PREFIX: prefix,
      },
      PATH
    );
    const peer = await serveChild(
      children,
      'the peer server',
      [PEER, packagePath, MODEL],
      { ...process.env, BENCH_REDIS_URL: config.features.redisUrl, BENCH_PREFIX: prefix },
      PATH
    );
    const pinning = pinApart(
      [
        { name: 'Cairn server', pid: cairn.child.pid! },
        { name: 'peer server', pid: peer.child.pid! },
      ],
      { besideBenchmark: await localRedis(redis, config.features.redisUrl) }
    );

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

    const wrk = wrkRunner(children, dir, bodies, { threads: THREADS, connections: CONNECTIONS });
    const throughput = (target: string, authorization: string) => () => wrk(target, authorization, SECONDS);
    const max = (await interleave(
      { cairn: throughput(cairn.url, auth), peer: throughput(peer.url, '') },
      REPS
    )) as Record<'cairn' | 'peer', ThroughputSample[]>;

    const rps = (xs: ThroughputSample[]) => stats(xs.map((x) => x.rps));
    const halfRate = { cairn: Math.round(rps(max.cairn).median / 2), peer: Math.round(rps(max.peer).median / 2) };
    /** An open-loop run; `onTimed` is called when its timed phase starts (after the warm-up). */
    const openLoopAt =
      (url: string, headers: Record<string, string>, rate: number, onTimed?: () => Promise<unknown>) => () =>
        openLoopRun(
          children,
          { url, headers, bodies, rate, seconds: SECONDS, warmupSeconds: SMOKE ? 0 : 2, connections: CONNECTIONS },
          onTimed
        );
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
        `(${pinning.description}; the rest of the stack unpinned), so absolute figures are low; the ratios ` +
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
        const what = 'a server (loop record)';
        const sample = await openLoopAt(side.url, headers, rate, () => ask(side.child, { loop: 'start' }, what))();
        const { loop } = await ask<{ loop: LoopRecord }>(side.child, { loop: 'stop' }, what);
        return { sample, loop };
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
        const times = await profiled(
          cairn.child,
          join(profDir, 'cairn-server.cpuprofile'),
          openLoopAt(cairn.url, { authorization: auth }, halfRate.cairn)
        );
        process.stdout.write(
          `${targets.p99AtHalfRate ? 'profile asked for' : 'the target is missed'}; self time of the Cairn server ` +
            `under the open loop at ${halfRate.cairn} req/s (${SECONDS} s, warm):\n${times}\n`
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

// The feature activities keep a Redis connection until it is closed, as a worker does at shutdown.
runMain('bench', () => main().then(closeRedisConnections));
