import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../lib/auth/tokens.js';
import { readTable } from '../../lib/data/read-table.js';
import type { Table } from '../../lib/data/table.js';
import { packagedView, lookupFeatures, FeatureLookupError } from '../../lib/features/store/lookup.js';
import { joinSnapshots } from '../../lib/features/store/offline.js';
import type { FeatureSnapshot } from '../../lib/features/store/offline.js';
import { connectRedis, decodeOnline, encodeOnline, onlineKey } from '../../lib/features/store/online.js';
import { checkViewSkew } from '../../lib/features/store/skew.js';
import type { MonitoringReport } from '../../lib/monitoring/report.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import type { ReportSummary } from '../../activities/monitor.js';
import type { Redis } from '../../lib/features/store/online.js';
import { loadProject } from '../../lib/pipeline/project.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { scorerFor } from '../../lib/scoring/scorer.js';
import type { ServablePackage } from '../../lib/scoring/scorer.js';
import type { Server } from '../../serving/server.js';
import { materializeFeatures } from '../../workflows/materialize-features.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const project = await loadProject('examples');
const ctx = useServices({ project });
const { deps } = ctx;
const ENV = 'production';
const MODEL = 'flight-delays-features';
/** The online values are as of this time, and the online requests ask for it: mid-March 2001. */
const AS_OF = Date.UTC(2001, 2, 15, 18, 0);

let server: Server;
let base: string;
let token: string;
let redis: Redis;
let version: number;
let pkg: ServablePackage;
let snapshots: Record<string, string>;

beforeAll(async () => {
  redis = await connectRedis(deps.onlineStore.url, deps.logger);
  await withWorker(deps, async (taskQueue) => {
    snapshots = {};
    for (const view of ['origin_delays', 'route_delays']) {
      const done = await ctx.client.workflow.execute(materializeFeatures, {
        taskQueue,
        workflowId: `materialize-${view}-${randomUUID()}`,
        args: [{ view, asOf: AS_OF }],
      });
      snapshots[view] = done.offline.snapshot;
    }
    const trained = await ctx.client.workflow.execute(runPipeline, {
      taskQueue,
      workflowId: `run-${MODEL}-${randomUUID()}`,
      args: [{ pipeline: MODEL, config: { rows: 200_000, rounds: 20 } }],
    });
    version = trained.outputs.version as number;
    pkg = await deps.store.getJson<ServablePackage>((trained.outputs.package as { digest: string }).digest);
  });
  await changeDeployment(deps.db, MODEL, ENV, moves.promote(version, null), {
    action: 'promote',
    by: 'feature-store-test',
    reason: 'online lookups',
  });
  token = (await createToken(deps.db, 'feature-store-test', [`predict:${MODEL}`])).token;
  ({ server, base } = await startTestServer(deps, { environment: ENV, flushInterval: '1h' }));
}, 600_000);

afterAll(async () => {
  await server?.close();
  for await (const keys of redis.scanIterator({ MATCH: `${deps.onlineStore.prefix}*`, COUNT: 10_000 }))
    if (keys.length) await redis.del(keys);
  redis?.destroy();
});

type Predicted = { version: number; value: number; features: Record<string, { status: string; asOf?: string }> };

async function predict(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/v1/models/${MODEL}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** 1,000 routes flown before AS_OF, each with one of its flights' distance, asked about at AS_OF. */
async function sampledRoutes(): Promise<{ origin: string; destination: string; distance: number }[]> {
  const flights = await readTable(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'), { limit: 1_200_000 });
  const { origin, destination, distance } = flights.columns as Record<string, Table['columns'][string]>;
  if (origin?.type !== 'string' || destination?.type !== 'string' || distance?.type !== 'number') throw new Error();
  const seen = new Set<string>();
  const out = [];
  // Every 997th flight: routes busy and quiet, some unknown to the online store by AS_OF (their values are filled).
  for (let i = 0; out.length < 1000 && i < flights.rowCount; i += 997) {
    const o = origin.dictionary[origin.codes[i]!]!;
    const d = destination.dictionary[destination.codes[i]!]!;
    if (seen.has(`${o}-${d}`)) continue;
    seen.add(`${o}-${d}`);
    out.push({ origin: o, destination: d, distance: distance.values[i]! });
  }
  return out;
}

describe('flight-delays with feature views (point-in-time join offline, Redis online)', () => {
  it('packages the views it was trained with, and records the snapshots it joined', async () => {
    expect(pkg.featureViews?.map((v) => [v.name, v.at])).toEqual([
      ['origin_delays', 'date'],
      ['route_delays', 'date'],
    ]);
    const { rows } = await deps.db.query<{ manifest_digest: string }>(
      `SELECT manifest_digest FROM cairn.dataset_versions WHERE pipeline = $1 ORDER BY accepted_at DESC LIMIT 1`,
      [MODEL]
    );
    const manifest = await deps.store.getJson<{ source: { features: { view: string; snapshot: string }[] } }>(
      rows[0]!.manifest_digest
    );
    expect(manifest.source.features).toEqual([
      { view: 'origin_delays', snapshot: snapshots.origin_delays },
      { view: 'route_delays', snapshot: snapshots.route_delays },
    ]);
  });

  it('scores 1,000 entities by key online exactly as batch scoring scores their offline rows at the same time', async () => {
    const routes = await sampledRoutes();
    const at = new Date(AS_OF).toISOString();
    // Online: the server looks each route's values up in Redis.
    const online: Predicted[] = [];
    for (let i = 0; i < routes.length; i += 50) {
      const batch = routes.slice(i, i + 50);
      const answers = await Promise.all(
        batch.map(({ origin, destination, distance }) =>
          predict({ entities: { origin, destination }, row: { date: at, distance } })
        )
      );
      for (const a of answers) {
        expect(a.status, JSON.stringify(a.body)).toBe(200);
        online.push((a.body.predictions as Predicted[])[0]!);
      }
    }
    // Batch: the same rows joined point in time with the offline snapshots, scored by the package's scorer.
    const labels: Table = {
      rowCount: routes.length,
      names: ['date', 'distance', 'origin', 'destination'],
      columns: {
        date: {
          type: 'timestamp',
          values: new Float64Array(routes.length).fill(AS_OF),
          missing: new Uint8Array(routes.length),
        },
        distance: {
          type: 'number',
          values: Float64Array.from(routes, (r) => r.distance),
          missing: new Uint8Array(routes.length),
        },
        origin: {
          type: 'string',
          codes: Int32Array.from(routes, (_, i) => i),
          dictionary: routes.map((r) => r.origin),
        },
        destination: {
          type: 'string',
          codes: Int32Array.from(routes, (_, i) => i),
          dictionary: routes.map((r) => r.destination),
        },
      },
    };
    const joins = await Promise.all(
      ['origin_delays', 'route_delays'].map(async (name) => ({
        view: project.featureView(name),
        at: 'date',
        snapshot: await deps.store.getJson<FeatureSnapshot>(snapshots[name]!),
      }))
    );
    const joined = await joinSnapshots(deps.store, labels, joins);
    const scorer = await scorerFor(pkg);
    const rows = routes.map((r, i) => ({
      date: at,
      distance: r.distance,
      origin: r.origin,
      destination: r.destination,
      ...Object.fromEntries(
        pkg
          .featureViews!.flatMap((v) => v.features)
          .map((f) => [f, (joined.columns[f] as { values: Float64Array }).values[i]!])
      ),
    }));
    const raw = await scorer.score(scorer.parseRows(rows));
    expect(online.map((p) => p.value)).toEqual(Array.from(raw));
    expect(online.every((p) => p.version === version)).toBe(true);

    // Most routes have fresh values; the others were filled by the view's defaults, and the answer says so.
    const statuses = online.map((p) => p.features.route_delays!.status);
    expect(statuses.filter((s) => s === 'fresh').length).toBeGreaterThan(500);
    expect(statuses.filter((s) => s !== 'fresh').length).toBeGreaterThan(0);
    expect(online[0]!.features.origin_delays).toMatchObject({ status: 'fresh', asOf: expect.any(String) });
  }, 120_000);

  it('states a missing entity, and refuses one where the view says so', async () => {
    const unknown = await predict({
      entities: { origin: 'NOWHERE', destination: 'LAX' },
      row: { date: new Date(AS_OF).toISOString(), distance: 300 },
    });
    expect(unknown.status).toBe(200);
    expect((unknown.body.predictions as Predicted[])[0]!.features).toEqual({
      origin_delays: { status: 'missing', filled: true },
      route_delays: { status: 'missing', filled: true },
    });

    // A view whose policy is `missing: 'error'`: the lookup refuses the row, naming the view and the entity.
    const strict = { ...packagedView(project.featureView('origin_delays'), 'date'), missing: 'error' as const };
    const rows = [{ origin: 'NOWHERE', date: AS_OF }];
    const refused = await lookupFeatures(redis, deps.onlineStore.prefix, [strict], rows, AS_OF).catch((e) => e);
    expect(refused).toBeInstanceOf(FeatureLookupError);
    expect(refused).toMatchObject({ status: 422, problems: [{ field: 'origin', row: 0 }] });
    expect((refused as Error).message).toMatch(/feature view origin_delays has no value for \["NOWHERE"\]/);

    // A bad entity key or time is a 400 naming the field.
    const bad = await predict({ entities: { origin: null, destination: 'LAX' }, row: { date: 'x', distance: 1 } });
    expect(bad.status).toBe(400);
    expect((bad.body.problems as { field: string }[]).map((p) => p.field).sort()).toEqual([
      'date',
      'date',
      'origin',
      'origin',
    ]);
  });
});

describe('online/offline consistency', () => {
  it('finds no skew in what materialisation wrote, and finds a corrupted online value, in the monitoring report', async () => {
    const services = { db: deps.db, store: deps.store, redis, online: deps.onlineStore };
    const origin = packagedView(project.featureView('origin_delays'), 'date');
    const clean = await checkViewSkew(services, origin);
    expect(clean).toMatchObject({
      view: 'origin_delays',
      snapshot: snapshots.origin_delays,
      skewed: 0,
      missingOnline: 0,
    });
    expect(clean!.compared).toBeGreaterThan(200);

    // Corrupt one airport's online value, as a broken writer or a stale cache would.
    const key = onlineKey(deps.onlineStore.prefix, origin, ['LAX']);
    const stored = decodeOnline((await redis.get(key))!);
    await redis.set(
      key,
      encodeOnline(
        stored.time,
        stored.values.map((v, i) => (i === 0 ? v + 5 : v))
      )
    );
    // The monitor's check of the deployment finds it, names it, and reports it as a breach.
    const monitorId = `skew-${randomUUID()}`;
    const summary: ReportSummary = await new MockActivityEnvironment().run(createActivities(deps).monitorCheck, {
      monitorId,
      seq: 1,
      model: MODEL,
      environment: ENV,
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date().toISOString(),
    });
    expect(summary.status).toBe('alert');
    expect(summary.reason).toMatch(/feature skew in origin_delays: 1 of \d+ sampled entities/);
    const { rows } = await deps.db.query<{ report: MonitoringReport }>(
      'SELECT report FROM cairn.monitoring_reports WHERE monitor_id = $1',
      [monitorId]
    );
    const [originSkew, routeSkew] = rows[0]!.report.featureSkew!;
    expect(originSkew).toMatchObject({ view: 'origin_delays', skewed: 1 });
    expect(originSkew!.examples).toEqual([
      {
        entity: ['LAX'],
        time: new Date(stored.time).toISOString(),
        feature: 'origin_delay_1h',
        online: stored.values[0]! + 5,
        offline: stored.values[0],
      },
    ]);
    expect(originSkew!.maxAbsDiff).toBeCloseTo(5, 9);
    expect(routeSkew).toMatchObject({ view: 'route_delays', skewed: 0 });
    await redis.set(key, encodeOnline(stored.time, stored.values));
  }, 120_000);
});
