// Online serving: requests per second of POST /v1/models/<model>/predict with one penguin row, and latency at half
import { onlineStoreOf } from '../lib/features/store/online.js';
// that rate, against a bare node:http server doing the same scoring with the same model (bench/serving-peer.ts).
//
// Cairn: `startServer` (serving/server.ts) as `cairn serve` runs it, in a child process: fastify, bearer token
// (cached), zod body schema, route lookup, contract-checked rows (`parseRows`), `score`, finite-output check, a
// prediction id (UUID) per row, Prometheus metrics, the monitoring feed (histograms of every input column, output
// and latency, written to PostgreSQL every flushInterval) and the prediction log sampling serving.sampleRate 0.01 of
// the rows. Peer: node:http, JSON.parse, `parseRows`, `score`, `prediction`, JSON answer; nothing else.
//
// The model: a version of `bench-penguins` trained by trainingPipeline (in-process workers on a fresh task queue of the
// stack's Temporal server) into the database `cairn_bench_serving` (created and migrated here, kept between runs: an
// existing version is reused), promoted to production; a `predict` token is issued for the run and revoked after.
// Load: wrk (Debian package `wrk`), 2 threads, BENCH_CONNECTIONS (32) connections, BENCH_SECONDS (10) per run,
// the same body to both sides, Cairn and peer interleaved after a warm-up run of each; medians of BENCH_REPS (3).
// Both server processes record their garbage-collection pauses (PerformanceObserver 'gc' entries); each run takes
// its own, and the report gives their distribution (count, p50/p99/max, total) per side at full load and at half
// rate. --smoke: 2 s runs, one repetition, no warm-ups, nothing recorded; it still prints the ratios.
// Then an open-loop generator of our own (wrk cannot hold a rate) at half of Cairn's median rate, to both sides,
// latency timed from each request's scheduled send. Servers run on core 0, wrk and the generator on core 1
// (bench/cores.ts); the stack's services are not pinned. A missed target profiles the Cairn server under wrk.
// Needs the stack (npm run stack:up) and wrk. BENCH_PROFILE=1 profiles always, 0 never.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { defineProject } from '../lib/pipeline/project.js';
import { createActivities } from '../activities/index.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { createToken, revokeToken } from '../lib/auth/tokens.js';
import { loadConfig } from '../lib/config/index.js';
import { signingOf } from '../lib/signing/packages.js';
import type { CairnConfig } from '../lib/config/index.js';
import { ensureDatabase, migrate } from '../lib/db/migrate.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { readCodeVersion } from '../lib/lineage/code-version.js';
import { createLogger } from '../lib/logging/logger.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { listVersions } from '../lib/registry/models.js';
import { changeDeployment, moves } from '../lib/release/deployments.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import { recordGcPauses, summarizeGcPauses } from '../serving/gc-pauses.js';
import type { GcPause, GcPauseSummary } from '../serving/gc-pauses.js';
import { startServer } from '../serving/server.js';
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { trainingPipeline } from '../workflows/training-pipeline.js';
import { pinApart } from './cores.js';
import { formatSelfTimes, selfTimes } from './cpu-profile.js';
import { interleave, needStack, report, sized, SMOKE, stats } from './harness.js';
import type { Row, Sample } from './harness.js';
import { quietTemporalRuntime } from './temporal-server.js';
import { sourcesOf } from '../lib/pipeline/run-config.js';

const REPS = sized('BENCH_REPS', 3, 1);
const SECONDS = sized('BENCH_SECONDS', 10, 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const THREADS = 2;
const MODEL = 'bench-penguins';
const ENVIRONMENT = 'production';
const DATABASE = 'cairn_bench_serving';
const SAMPLE_RATE = 0.01;
const TARGET_RATIO = 0.9;
const TARGET_P99_MS = 5;
const SELF = fileURLToPath(import.meta.url);
const PEER = fileURLToPath(new URL('./serving-peer.ts', import.meta.url));
const PATH = `/v1/models/${MODEL}/predict`;

/** Prints one JSON line at the end of a wrk run: what `done` sees (times in microseconds). */
const WRK_SCRIPT = `
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end

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
  /** The server's garbage-collection pauses during the run. */
  gc: GcPause[];
}

/** What the open-loop generator is asked to do (sent over IPC: the token stays out of argv). */
interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
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
  /** The server's garbage-collection pauses during the timed phase (set by the benchmark, not the generator). */
  gc?: GcPause[];
}

type ProfileMessage = { profile: 'start' } | { profile: 'stop'; path: string };
/** Asks a server process for its GC pauses since the last ask; it answers `{ gcPauses }`. */
type GcMessage = { gc: 'take' };

/** Answers GC-pause asks from the benchmark over IPC (the peer does the same in bench/serving-peer.ts). */
function answerGcAsks(): void {
  const gc = recordGcPauses();
  process.on('message', (m: GcMessage) => {
    if (m.gc === 'take') process.send?.({ gcPauses: gc.take() });
  });
}

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

/** `server`: Cairn's online server on a free port of 127.0.0.1, as `cairn serve` starts it; `{ port }` over IPC. */
async function cairnServer(): Promise<void> {
  // DATABASE_URL comes from the benchmark: the bench database.
  const loaded = loadConfig({ overrides: { logLevel: 'warn' } });
  const config: CairnConfig = {
    ...loaded,
    serving: { ...loaded.serving, host: '127.0.0.1', port: 0, environment: ENVIRONMENT, sampleRate: SAMPLE_RATE },
  };
  const db = createPool(config);
  const server = await startServer({
    db,
    store: createArtifactStore(config),
    logger: createLogger(config),
    config,
    server: 'bench-serving',
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
  answerGcAsks();
  process.on('message', (m: ProfileMessage | GcMessage) => {
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
    // The benchmark is told when the timed phase starts (the server's GC pauses are counted from there).
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
 * Sends requests at a fixed rate whatever the answers do (open loop, as wrk2 does): request i is due at
 * start + i / rate and its latency is timed from then, so a slow answer cannot hide the requests queued behind it.
 * At most `connections` keep-alive sockets; a request waiting for one is waiting on the server.
 */
async function openLoop(spec: LoadSpec, onTimed: () => void): Promise<LatencySample> {
  const target = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const body = Buffer.from(spec.body);
  const headers = { ...spec.headers, 'content-type': 'application/json', 'content-length': String(body.length) };

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
        const req = request(
          { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
          (res) => {
            const ok = res.statusCode === 200;
            res.on('data', () => undefined);
            res.on('end', () => once(ok));
            res.on('error', () => once(false));
          }
        );
        req.on('error', () => once(false));
        req.end(body);
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

/** The latest version of MODEL whose package this code can still score, else a new one trained through Temporal. */
async function ensureModel(config: CairnConfig, db: Pool, store: ArtifactStore): Promise<number> {
  const versions = await listVersions(db, MODEL).catch(() => []);
  for (const v of [...versions].sort((a, b) => b.version - a.version)) {
    try {
      await scorerFor(await store.getJson<ServablePackage>(v.packageDigest));
      return v.version;
    } catch {
      // Made by another version of the pipeline, or its package is gone: try an older one, else train.
    }
  }
  process.stdout.write(`training ${MODEL} (penguins) through Temporal at ${config.temporal.address}\n`);
  quietTemporalRuntime();
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const activities = createActivities({
      db,
      store,
      sources: sourcesOf(config, store),
      logger: createLogger(config),
      code: readCodeVersion(),
      home: config.home,
      cpuSecondPrice: config.tracking.cpuSecondPrice,
      onlineStore: onlineStoreOf(config),
      ...signingOf(config),
      project: defineProject({ pipelines: [] }),
    });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-serving-${randomUUID()}`;
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
    const result = await trainWorker.runUntil(() =>
      worker.runUntil(
        client.workflow.execute(trainingPipeline, {
          taskQueue,
          workflowId: `bench-serving-${randomUUID()}`,
          args: [{ pipeline: 'penguins', model: MODEL, requestedBy: 'bench' }],
        })
      )
    );
    if (result.model.version === null || result.model.version === undefined) {
      throw new Error(`trainingPipeline registered no version of ${MODEL}: ${JSON.stringify(result.gate)}`);
    }
    return result.model.version;
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['-v']).error) {
    throw Object.assign(new Error('wrk is not installed: apt-get install -y wrk'), { userFacing: true });
  }
  const loadBefore = loadavg()[0]!;
  const base = loadConfig();
  await needStack(base, ['temporal', 'postgres', 'object-store']);
  const url = new URL(base.database.url);
  url.pathname = `/${DATABASE}`;
  await ensureDatabase(url.href);
  await migrate(url.href);
  const config: CairnConfig = { ...base, logLevel: 'warn', database: { ...base.database, url: url.href } };
  const db = createPool(config);
  const store = createArtifactStore(config);
  const children = new Children();
  const dir = join(config.home, 'bench', 'serving');
  mkdirSync(dir, { recursive: true });
  let tokenId: string | undefined;
  try {
    const version = await ensureModel(config, db, store);
    await changeDeployment(db, MODEL, ENVIRONMENT, moves.promote(version, null), {
      action: 'promote',
      by: 'bench',
      reason: 'serving benchmark',
    });
    const issued = await createToken(db, 'bench-serving', ['predict:*']);
    tokenId = issued.id;
    const auth = `Bearer ${issued.token}`;
    const digest = (await listVersions(db, MODEL)).find((v) => v.version === version)!.packageDigest;
    const packagePath = join(dir, 'package.json');
    writeFileSync(packagePath, JSON.stringify(await store.getJson(digest)));
    const scriptPath = join(dir, 'predict.lua');
    writeFileSync(scriptPath, WRK_SCRIPT);

    const penguins = JSON.parse(
      readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')
    ) as Record<string, unknown>[];
    const { Species: _species, ...row } = penguins[0]!;
    const body = JSON.stringify({ row });

    const serve = async (what: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
      const child = children.spawn(process.execPath, tsxArgs(...args), {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env,
      });
      const { port } = await firstMessage<{ port: number }>(child, what, 120_000);
      return { child, url: `http://127.0.0.1:${port}${PATH}` };
    };
    const cairn = await serve('the Cairn server', [SELF, 'server'], { ...process.env, DATABASE_URL: url.href });
    const peer = await serve('the peer server', [PEER, packagePath, MODEL]);
    const pinning = pinApart([
      { name: 'Cairn server', pid: cairn.child.pid! },
      { name: 'peer server', pid: peer.child.pid! },
    ]);

    // Both answer the row, and agree.
    const answer = async (target: string, headers: Record<string, string>) => {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${target} answered ${res.status}: ${text}`);
      return text;
    };
    const ours = await answer(cairn.url, { authorization: auth });
    const theirs = await answer(peer.url, {});
    const label = (text: string) => (JSON.parse(text) as { predictions: { label: string }[] }).predictions[0]!.label;
    if (label(ours) !== label(theirs)) throw new Error(`the sides disagree: ${ours} vs ${theirs}`);

    const wrk = async (target: string, authorization: string, seconds: number): Promise<WrkResult> => {
      const child = children.spawn(
        'wrk',
        ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '-s', scriptPath, target],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_BODY: body, BENCH_AUTH: authorization } }
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
    /** The GC pauses of a server process since the last call. */
    const gcPauses = async (child: ChildProcess, what: string): Promise<GcPause[]> => {
      const answered = firstMessage<{ gcPauses: GcPause[] }>(child, `${what} (GC pauses)`, 30_000);
      child.send({ gc: 'take' } satisfies GcMessage);
      return (await answered).gcPauses;
    };
    const throughput = (server: ChildProcess, target: string, authorization: string) => async () => {
      await gcPauses(server, target);
      const r = await wrk(target, authorization, SECONDS);
      return {
        ms: r.durationUs / 1000,
        rps: r.requests / (r.durationUs / 1e6),
        p50Ms: r.p50Us / 1000,
        p99Ms: r.p99Us / 1000,
        gc: await gcPauses(server, target),
      } satisfies ThroughputSample;
    };
    const max = (await interleave(
      { cairn: throughput(cairn.child, cairn.url, auth), peer: throughput(peer.child, peer.url, '') },
      REPS
    )) as Record<'cairn' | 'peer', ThroughputSample[]>;

    const rps = (xs: ThroughputSample[]) => stats(xs.map((x) => x.rps));
    const halfRate = Math.round(rps(max.cairn).median / 2);
    const fixedRate =
      (server: ChildProcess, target: string, headers: Record<string, string>) => async (): Promise<LatencySample> => {
        const child = children.spawn(process.execPath, tsxArgs(SELF, 'load'), {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        const started = firstMessage<{ timed: true }>(child, 'the load generator', 60_000);
        const result = started.then(() =>
          firstMessage<LatencySample>(child, 'the load generator', (SECONDS + 40) * 1000)
        );
        const spec: LoadSpec = {
          url: target,
          headers,
          body,
          rate: halfRate,
          seconds: SECONDS,
          warmupSeconds: SMOKE ? 0 : 2,
          connections: CONNECTIONS,
        };
        child.send(spec);
        // The pauses of the timed phase only: the generator says when its warm-up is over.
        await started;
        await gcPauses(server, target);
        const sample = await result;
        sample.gc = await gcPauses(server, target);
        if (sample.failed) throw new Error(`open loop against ${target}: ${sample.failed} requests failed`);
        return sample;
      };
    const half = (await interleave(
      {
        cairn: fixedRate(cairn.child, cairn.url, { authorization: auth }),
        peer: fixedRate(peer.child, peer.url, {}),
      },
      REPS
    )) as Record<'cairn' | 'peer', LatencySample[]>;

    const of = <T extends Sample>(xs: T[], key: keyof T) => stats(xs.map((x) => x[key] as number));
    const ratio = rps(max.cairn).median / rps(max.peer).median;
    const p99 = of(half.cairn, 'p99Ms');
    const rows: Row[] = [
      {
        metric: `predict, 1 row, wrk ${THREADS} threads ${CONNECTIONS} connections`,
        ours: rps(max.cairn),
        peer: rps(max.peer),
        peerName: 'bare node:http, same scorer',
        unit: 'req/s',
        ratio,
        ratioMeaning: `throughput ours/peer, target >= ${TARGET_RATIO}`,
      },
      {
        metric: `p99 latency at ${halfRate} req/s (half ours), open loop`,
        ours: p99,
        peer: of(half.peer, 'p99Ms'),
        peerName: 'bare node:http, same scorer',
        unit: 'ms',
        ratio: p99.median / of(half.peer, 'p99Ms').median,
        ratioMeaning: `latency ours/peer; target ours < ${TARGET_P99_MS} ms`,
      },
      {
        metric: `p50 latency at ${halfRate} req/s (half ours), open loop`,
        ours: of(half.cairn, 'p50Ms'),
        peer: of(half.peer, 'p50Ms'),
        peerName: 'bare node:http, same scorer',
        unit: 'ms',
        ratio: of(half.cairn, 'p50Ms').median / of(half.peer, 'p50Ms').median,
        ratioMeaning: 'latency ours/peer, lower is better',
      },
    ];
    const targets = { throughputRatio: ratio >= TARGET_RATIO, p99AtHalfRate: p99.median < TARGET_P99_MS };
    // GC pauses of each server over all its runs of a kind, and how many requests they served meanwhile.
    const gcOf = (xs: { gc?: GcPause[]; ms: number }[], requests: number) => ({
      ...summarizeGcPauses(xs.flatMap((x) => x.gc ?? [])),
      seconds: xs.reduce((a, x) => a + x.ms / 1000, 0),
      requests,
    });
    const served = (xs: ThroughputSample[]) => Math.round(xs.reduce((a, x) => a + (x.rps * x.ms) / 1000, 0));
    const gc = {
      fullLoad: { cairn: gcOf(max.cairn, served(max.cairn)), peer: gcOf(max.peer, served(max.peer)) },
      halfRate: {
        cairn: gcOf(
          half.cairn,
          half.cairn.reduce((a, x) => a + x.completed, 0)
        ),
        peer: gcOf(
          half.peer,
          half.peer.reduce((a, x) => a + x.completed, 0)
        ),
      },
    };
    const withoutGc = <T extends { gc?: GcPause[] }>(xs: T[]) => xs.map(({ gc: _gc, ...x }) => x);
    report('serving', rows, {
      model: { name: MODEL, version, digest },
      threads: THREADS,
      connections: CONNECTIONS,
      seconds: SECONDS,
      reps: REPS,
      sampleRate: SAMPLE_RATE,
      halfRate,
      targets,
      fullLoad: {
        cairn: { p50Ms: of(max.cairn, 'p50Ms'), p99Ms: of(max.cairn, 'p99Ms') },
        peer: { p50Ms: of(max.peer, 'p50Ms'), p99Ms: of(max.peer, 'p99Ms') },
      },
      halfRateDetail: { cairn: withoutGc(half.cairn), peer: withoutGc(half.peer) },
      gc,
      pinning: pinning.description,
      loadAverage: { before: loadBefore, after: loadavg()[0] },
    });
    const ms = (s: { median: number }) => `${s.median.toFixed(2)} ms`;
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    const pauses = (g: GcPauseSummary & { seconds: number; requests: number }) => {
      const f = (v: number | null) => (v === null ? '-' : v.toFixed(2));
      const kinds = Object.entries(g.byKind)
        .map(([kind, k]) => `${k.count} ${kind} ${k.totalMs.toFixed(0)} ms`)
        .join(', ');
      return (
        `${g.count} pauses (${(g.count / g.seconds).toFixed(1)}/s, ${((1000 * g.count) / Math.max(g.requests, 1)).toFixed(2)} per 1000 requests), ` +
        `p50 ${f(g.p50Ms)} p99 ${f(g.p99Ms)} max ${f(g.maxMs)} ms, ${g.totalMs.toFixed(0)} ms in all ` +
        `(${((100 * g.totalMs) / (1000 * g.seconds)).toFixed(1)}% of the time; ${kinds || 'none'})`
      );
    };
    process.stdout.write(
      `targets: throughput ours/peer ${ratio.toFixed(3)} >= ${TARGET_RATIO} ${met(targets.throughputRatio)}; ` +
        `p99 at half rate ${ms(p99)} < ${TARGET_P99_MS} ms ${met(targets.p99AtHalfRate)}\n` +
        `at full load (wrk, closed loop, median of runs): ours p50 ${ms(of(max.cairn, 'p50Ms'))} p99 ${ms(of(max.cairn, 'p99Ms'))}; ` +
        `peer p50 ${ms(of(max.peer, 'p50Ms'))} p99 ${ms(of(max.peer, 'p99Ms'))}\n` +
        `at half rate: ours p90 ${ms(of(half.cairn, 'p90Ms'))} p99.9 ${ms(of(half.cairn, 'p999Ms'))} max ${ms(of(half.cairn, 'maxMs'))}; ` +
        `peer p90 ${ms(of(half.peer, 'p90Ms'))} p99.9 ${ms(of(half.peer, 'p999Ms'))} max ${ms(of(half.peer, 'maxMs'))}; ` +
        `latencies timed from each request's scheduled send, so they include the generator's own lateness ` +
        `(its p99: ${ms(of(half.cairn, 'lagP99Ms'))} in our runs, ${ms(of(half.peer, 'lagP99Ms'))} in the peer's)\n` +
        `model ${MODEL} v${version}; one row ${body}; Cairn with the monitoring feed and sampleRate ${SAMPLE_RATE}\n` +
        `this machine has ${cpus().length} cores: the load generator shares it with both servers (${pinning.description}; ` +
        `PostgreSQL and the rest of the stack unpinned), so absolute figures are low; the ratios against the peer, ` +
        `measured in the same run, are what count; 1-minute load average ${loadBefore.toFixed(2)} before the run, ` +
        `${loadavg()[0]!.toFixed(2)} after (other work on the machine shows here)\n` +
        `Cairn: fastify, bearer token (cached), body schema, contract-checked rows, score, prediction ids, Prometheus ` +
        `metrics, monitoring feed, prediction log; peer: node:http, JSON.parse, the same parseRows/score/prediction, ` +
        `JSON answer\n` +
        `GC pauses of each server process (PerformanceObserver 'gc'), all runs of a kind together:\n` +
        `  at half rate: ours ${pauses(gc.halfRate.cairn)}\n` +
        `                peer ${pauses(gc.halfRate.peer)}\n` +
        `  at full load: ours ${pauses(gc.fullLoad.cairn)}\n` +
        `                peer ${pauses(gc.fullLoad.peer)}\n`
    );

    const profile = process.env.BENCH_PROFILE;
    if (profile === '1' || (profile !== '0' && !SMOKE && !(targets.throughputRatio && targets.p99AtHalfRate))) {
      const profDir = mkdtempSync(join(tmpdir(), 'cairn-prof-'));
      try {
        const path = join(profDir, 'cairn-server.cpuprofile');
        const ask = (message: ProfileMessage) => {
          const answered = firstMessage(cairn.child, 'the Cairn server profiler', 60_000);
          cairn.child.send(message);
          return answered;
        };
        await ask({ profile: 'start' });
        await wrk(cairn.url, auth, SECONDS);
        await ask({ profile: 'stop', path });
        process.stdout.write(
          `${met(targets.throughputRatio && targets.p99AtHalfRate) === 'met' ? 'profile asked for' : 'a target is missed'}; ` +
            `self time of the Cairn server under wrk (${SECONDS} s, warm):\n${formatSelfTimes(selfTimes([path]), 20)}\n`
        );
      } finally {
        rmSync(profDir, { recursive: true, force: true });
      }
    }
    pinning.restore();
  } finally {
    await children.stopAll();
    if (tokenId) await revokeToken(db, tokenId).catch(() => undefined);
    await db.end();
  }
}

if (process.argv[2] === 'server') runMain('bench-serving', cairnServer);
else if (process.argv[2] === 'load') loadChild();
else runMain('bench', main);
