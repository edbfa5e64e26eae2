// Online serving: requests per second of POST /v1/models/<model>/predict with one penguin row, and latency at half
// that rate, against a bare node:http server doing the same scoring with the same model (bench/serving-peer.ts).
//
// Cairn: `startServer` (serving/server.ts) as `cairn serve` runs it, in a process of its own (bench/cairn-server.ts):
// fastify, bearer token (cached), zod body schema, route lookup, contract-checked rows (`parseRows`), `score`,
// finite-output check, a prediction id (UUID) per row, Prometheus metrics, the monitoring feed (histograms of every input column, output
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
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { onlineStoreOf } from '../lib/features/store/online.js';
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
import { summarizeGcPauses } from '../serving/gc-pauses.js';
import type { GcPause, GcPauseSummary } from '../serving/gc-pauses.js';
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { trainingPipeline } from '../workflows/training-pipeline.js';
import { pinApart } from './cores.js';
import { ask, Children, openLoopRun, profiled, requireWrk, serveChild, wrkRunner } from './load.js';
import type { LatencySample, ThroughputSample } from './load.js';
import { interleave, needStack, report, servableVersion, sized, SMOKE, stats } from './harness.js';
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
const PEER = fileURLToPath(new URL('./serving-peer.ts', import.meta.url));
const SERVER = fileURLToPath(new URL('./cairn-server.ts', import.meta.url));
const PATH = `/v1/models/${MODEL}/predict`;

interface GcLatencySample extends LatencySample {
  /** The server's garbage-collection pauses during the timed phase (set by the benchmark, not the generator). */
  gc?: GcPause[];
}

interface GcThroughputSample extends ThroughputSample {
  /** The server's garbage-collection pauses during the run. */
  gc: GcPause[];
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
      pythonEnvs: config.pythonEnvs!,
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
  requireWrk();
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
    const digest = (await servableVersion(config, db, MODEL, version)).packageDigest;
    await changeDeployment(db, MODEL, ENVIRONMENT, moves.promote(version, null), {
      action: 'promote',
      by: 'bench',
      reason: 'serving benchmark',
    });
    const issued = await createToken(db, 'bench-serving', ['predict:*']);
    tokenId = issued.id;
    const auth = `Bearer ${issued.token}`;
    const packagePath = join(dir, 'package.json');
    writeFileSync(packagePath, JSON.stringify(await store.getJson(digest)));

    const penguins = JSON.parse(
      readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')
    ) as Record<string, unknown>[];
    const { Species: _species, ...row } = penguins[0]!;
    const body = JSON.stringify({ row });

    const cairn = await serveChild(
      children,
      'the Cairn server',
      [SERVER, 'bench-serving', MODEL],
      {
        ...process.env,
        DATABASE_URL: url.href,
        CAIRN_ENVIRONMENT: ENVIRONMENT,
        CAIRN_SAMPLE_RATE: String(SAMPLE_RATE),
      },
      PATH
    );
    const peer = await serveChild(children, 'the peer server', [PEER, packagePath, MODEL], process.env, PATH);
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

    const wrk = wrkRunner(children, dir, [body], { threads: THREADS, connections: CONNECTIONS });
    /** The GC pauses of a server process since the last call. */
    const gcPauses = async (child: ChildProcess, what: string): Promise<GcPause[]> =>
      (await ask<{ gcPauses: GcPause[] }>(child, { gc: 'take' }, `${what} (GC pauses)`)).gcPauses;
    const throughput = (server: ChildProcess, target: string, authorization: string) => async () => {
      await gcPauses(server, target);
      const r = await wrk(target, authorization, SECONDS);
      return { ...r, gc: await gcPauses(server, target) } satisfies GcThroughputSample;
    };
    const max = (await interleave(
      { cairn: throughput(cairn.child, cairn.url, auth), peer: throughput(peer.child, peer.url, '') },
      REPS
    )) as Record<'cairn' | 'peer', GcThroughputSample[]>;

    const rps = (xs: GcThroughputSample[]) => stats(xs.map((x) => x.rps));
    const halfRate = Math.round(rps(max.cairn).median / 2);
    const fixedRate =
      (server: ChildProcess, target: string, headers: Record<string, string>) => async (): Promise<GcLatencySample> => {
        // The pauses of the timed phase only: the generator says when its warm-up is over.
        const sample: GcLatencySample = await openLoopRun(
          children,
          {
            url: target,
            headers,
            bodies: [body],
            rate: halfRate,
            seconds: SECONDS,
            warmupSeconds: SMOKE ? 0 : 2,
            connections: CONNECTIONS,
          },
          () => gcPauses(server, target)
        );
        sample.gc = await gcPauses(server, target);
        return sample;
      };
    const half = (await interleave(
      {
        cairn: fixedRate(cairn.child, cairn.url, { authorization: auth }),
        peer: fixedRate(peer.child, peer.url, {}),
      },
      REPS
    )) as Record<'cairn' | 'peer', GcLatencySample[]>;

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
    const served = (xs: GcThroughputSample[]) => Math.round(xs.reduce((a, x) => a + (x.rps * x.ms) / 1000, 0));
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
        // Both sides, for what the peer does not do: self times with the requests each answered meanwhile.
        const side = async (child: ChildProcess, target: string, authorization: string, file: string) => {
          let requests = 0;
          const times = await profiled(child, join(profDir, file), async () => {
            requests = Math.round((await wrk(target, authorization, SECONDS)).rps * SECONDS);
          });
          return `${requests} requests:\n${times}`;
        };
        const ours = await side(cairn.child, cairn.url, auth, 'cairn-server.cpuprofile');
        const theirs = await side(peer.child, peer.url, '', 'peer-server.cpuprofile');
        process.stdout.write(
          `${targets.throughputRatio && targets.p99AtHalfRate ? 'profile asked for' : 'a target is missed'}; ` +
            `self time of each server under wrk (${SECONDS} s, warm): the Cairn server, ${ours}\nthe peer, ${theirs}\n`
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

runMain('bench', main);
