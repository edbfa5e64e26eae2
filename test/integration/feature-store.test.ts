import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readParquet } from '../../lib/data/read-parquet.js';
import { writeParquet } from '../../lib/data/write-parquet.js';
import { readSnapshot } from '../../lib/features/store/offline.js';
import type { FeatureSnapshot } from '../../lib/features/store/offline.js';
import { connectRedis, encodeOnline, onlineKey } from '../../lib/features/store/online.js';
import type { Redis } from '../../lib/features/store/online.js';
import { listMaterializations, listSnapshots } from '../../lib/features/store/registry.js';
import { computeFeatures, entityKeys } from '../../lib/features/store/view.js';
import type { FeatureRows, FeatureView } from '../../lib/features/store/view.js';
import { materializeFeatures } from '../../workflows/materialize-features.js';
import project, { EVENTS, recentUsers, userActivity } from '../fixtures/features/cairn.config.js';
import { crash, pendingHeartbeat, trainWorkerProcesses } from '../helpers/processes.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices({ project });
const { deps } = ctx;
const startTrainWorker = trainWorkerProcesses();

const USERS = 300_000;
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

/** 600,000 events of 300,000 users over 90 days (two each, most in different months), from a fixed seed. */
async function writeEvents(): Promise<void> {
  if (existsSync(EVENTS)) return;
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const n = USERS * 2;
  const user: string[] = new Array(n);
  const at = new Float64Array(n);
  const amount = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    user[i] = `u${i % USERS}`;
    at[i] = START + Math.floor(random() * 90 * DAY);
    amount[i] = Math.round(random() * 10_000) / 100;
  }
  await mkdir(dirname(EVENTS), { recursive: true });
  await writeFile(
    EVENTS,
    writeParquet([
      { name: 'user', type: 'string', data: user },
      { name: 'at', type: 'timestamp', data: at },
      { name: 'amount', type: 'double', data: amount },
    ])
  );
}

let redis: Redis;
beforeAll(async () => {
  await writeEvents();
  redis = await connectRedis(deps.onlineStore.url, deps.logger);
});
afterAll(async () => {
  for await (const keys of redis.scanIterator({ MATCH: `${deps.onlineStore.prefix}*`, COUNT: 10_000 }))
    if (keys.length) await redis.del(keys);
  redis.destroy();
});

/** What Redis must hold for a view as of `asOf`: each entity's last event then, computed here from the events. */
async function expectedContents(view: FeatureView, asOf: number): Promise<Map<string, string>> {
  const events = await readParquet(EVENTS, view.source.limit ? { limit: view.source.limit } : {});
  const ids = new Map<string, number>();
  const rows = computeFeatures(view, events, ids);
  const keys = entityKeys(ids);
  const out = new Map<string, string>();
  for (let i = 0; i < rows.time.length; i++) {
    if (rows.time[i]! > asOf) continue;
    const values = view.features.map((f) => rows.values[f.name]![i]!);
    out.set(onlineKey(deps.onlineStore.prefix, view, keys[rows.entity[i]!]!), encodeOnline(rows.time[i]!, values));
  }
  return out;
}

/** Everything Redis holds for the view, by key. */
async function contents(view: FeatureView): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const match = `${onlineKey(deps.onlineStore.prefix, view, []).slice(0, -2)}*`;
  for await (const keys of redis.scanIterator({ MATCH: match, COUNT: 10_000 })) {
    if (!keys.length) continue;
    const values = await redis.mGet(keys);
    keys.forEach((k, i) => out.set(String(k), String(values[i])));
  }
  return out;
}

/** Feature rows as `entity@time` → values, whatever order or entity ids they came in. */
function byEvent(rows: FeatureRows, ids: Map<string, number>): Map<string, number[]> {
  const keys = entityKeys(ids);
  const out = new Map<string, number[]>();
  for (let i = 0; i < rows.time.length; i++)
    out.set(
      `${keys[rows.entity[i]!]!.join()}@${rows.time[i]}`,
      Object.values(rows.values).map((v) => v[i]!)
    );
  return out;
}

describe('feature view materialisation (offline Parquet snapshot, online Redis)', () => {
  it('writes the latest values per entity; a rerun changes nothing; an incremental write equals a full one', async () => {
    const asOf1 = START + 30 * DAY;
    const asOf2 = START + 60 * DAY;
    await withWorker(deps, async (taskQueue) => {
      const run = (args: Parameters<typeof materializeFeatures>[0]) =>
        ctx.client.workflow.execute(materializeFeatures, {
          taskQueue,
          workflowId: `materialize-${randomUUID()}`,
          args: [args],
        });
      const first = await run({ view: 'recent_users', asOf: new Date(asOf1).toISOString() });
      expect(first.offline).toMatchObject({ view: 'recent_users', rows: 40_000, reused: false });
      expect(first.online).toMatchObject({ asOf: asOf1 });
      expect(first.online!.after).toBeUndefined();

      // The snapshot: Parquet parts by month, read back to the same rows; recorded as a version of the view.
      const snapshot = await deps.store.getJson<FeatureSnapshot>(first.offline.snapshot);
      expect(snapshot.parts.map((p) => p.partition)).toEqual(['2026-01', '2026-02', '2026-03']);
      expect(snapshot.parts.reduce((n, p) => n + p.rows, 0)).toBe(40_000);
      const ids = new Map<string, number>();
      const back = await readSnapshot(deps.store, recentUsers, snapshot, ids);
      const direct = new Map<string, number>();
      expect(byEvent(back, ids)).toEqual(
        byEvent(computeFeatures(recentUsers, await readParquet(EVENTS, { limit: 40_000 }), direct), direct)
      );
      const versions = await listSnapshots(deps.db, 'recent_users');
      expect(versions.map((v) => v.snapshot)).toContain(first.offline.snapshot);

      const expected1 = await expectedContents(recentUsers, asOf1);
      expect(first.online!.entities).toBe(expected1.size);
      expect(await contents(recentUsers)).toEqual(expected1);

      // The same again: the snapshot is reused, and nothing in Redis changes.
      const again = await run({ view: 'recent_users', asOf: asOf1, full: true });
      expect(again.offline).toMatchObject({ snapshot: first.offline.snapshot, reused: true });
      expect(await contents(recentUsers)).toEqual(expected1);

      // Later: only the entities with events since the last write are written, and the result is the full state.
      const later = await run({ view: 'recent_users', asOf: asOf2 });
      expect(later.online!.after).toBe(asOf1);
      const expected2 = await expectedContents(recentUsers, asOf2);
      expect(later.online!.entities).toBeLessThan(expected2.size);
      expect(await contents(recentUsers)).toEqual(expected2);

      const writes = await listMaterializations(deps.db, 'recent_users');
      expect(writes.filter((w) => w.store.endsWith(deps.onlineStore.prefix))).toHaveLength(3);
    });
  }, 120_000);

  it('kill -9 of the worker in the middle of an online write: the retry leaves exactly what one clean run writes', async () => {
    const asOf = START + 90 * DAY;
    await withWorker(
      deps,
      async (taskQueue) => {
        const env = { CAIRN_PROJECT: fileURLToPath(new URL('../fixtures/features', import.meta.url)) };
        const queue = `${taskQueue}-train`;
        const first = await startTrainWorker(queue, { ...env, CAIRN_FEATURES_PREFIX: deps.onlineStore.prefix });
        const handle = await ctx.client.workflow.start(materializeFeatures, {
          taskQueue,
          workflowId: `materialize-crash-${randomUUID()}`,
          args: [{ view: 'user_activity', asOf }],
        });
        // Wait for the write to be under way (some chunks done, not all), then kill the worker.
        const deadline = Date.now() + 120_000;
        let beat: { done: number; total: number } | undefined;
        while (!(beat && beat.done > 0 && beat.done < beat.total)) {
          expect(Date.now(), 'the online write did not start in time').toBeLessThan(deadline);
          await new Promise((r) => setTimeout(r, 50));
          beat = await pendingHeartbeat(handle, 'materializeOnline');
        }
        await crash(first);
        const partial = (await contents(userActivity)).size;
        expect(partial).toBeGreaterThan(0);

        await startTrainWorker(queue, { ...env, CAIRN_FEATURES_PREFIX: deps.onlineStore.prefix });
        const result = await handle.result();
        const expected = await expectedContents(userActivity, asOf);
        expect(partial).toBeLessThan(expected.size);
        expect(result.online!.entities).toBe(USERS);
        expect(await contents(userActivity)).toEqual(expected);
      },
      { trainWorker: false }
    );
  }, 240_000);
});
