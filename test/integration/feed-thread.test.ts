import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool } from '../../lib/db/pool.js';
import { tableFromRows } from '../../lib/data/read-json.js';
import { tableStatistics } from '../../lib/data/statistics.js';
import { FeedRecorder, readFeed } from '../../lib/monitoring/feed.js';
import { FeedThread } from '../../lib/monitoring/feed-thread.js';
import type { FeedThreadModel } from '../../lib/monitoring/feed-thread.js';
import type { ServablePackage } from '../../lib/scoring/scorer.js';
import { testConfig } from '../helpers/services.js';

// The monitoring feed on its own thread, against the test database: what the serving thread records is what the
// thread writes to serving_stats and prediction_log, the same as a recorder on the serving thread would write.

const config = testConfig();
const db = createPool(config);
afterAll(() => db.end());

const CLASSES = ['a', 'b', 'c'];
const reference = tableFromRows(
  Array.from({ length: 101 }, (_, i) => ({ x: i, colour: i % 2 ? 'red' : 'blue', y: CLASSES[i % 3] })),
  'reference'
);

function model(name: string, version = 1): FeedThreadModel {
  const pkg = {
    task: 'multiclass',
    target: 'y',
    classes: CLASSES,
    referenceStatistics: tableStatistics(reference),
    predictionLog: { hash: ['colour'] },
  } as unknown as ServablePackage;
  return {
    model: name,
    version,
    scorer: {
      pkg,
      inputs: [
        { column: 'x', type: 'number', nullable: true },
        { column: 'colour', type: 'string', nullable: true },
      ],
      prediction: (raw, i) => ({ label: CLASSES[i % 3]!, probabilities: { a: raw[i * 3]!, b: 0, c: 0 } }),
    },
  };
}

/** `n` requests of 1 to 3 rows, each row with its prediction id. */
function requests(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const rows = Array.from({ length: 1 + (i % 3) }, (_, j) => ({
      x: (i * 11 + j) % 120,
      colour: j % 2 ? 'red' : i % 5 ? 'blue' : null,
    }));
    return {
      rows,
      table: tableFromRows(rows, 'request'),
      raw: Float64Array.from({ length: rows.length * 3 }, (_, v) => ((i + v) % 7) / 7),
      ids: rows.map(() => randomUUID()),
      latencyMs: 0.3 + (i % 40),
      failed: i % 13 === 12,
    };
  });
}

const logged = async (ids: string[]) =>
  (
    await db.query<{ id: string; input: Record<string, unknown> }>(
      'SELECT id, input FROM cairn.prediction_log WHERE id = ANY ($1)',
      [ids]
    )
  ).rows;

describe('the monitoring feed thread', () => {
  it('writes the windows and sampled rows a recorder on the serving thread writes, on flush and on close', async () => {
    const name = `feed-thread-${randomUUID().slice(0, 8)}`;
    const m = model(name);
    const served = requests(200);
    let draws = 0;
    const random = () => (draws++ % 4 === 0 ? 0 : 0.99);
    const feed = new FeedThread({
      database: config.database,
      environment: 'thread',
      server: 'feed-thread-test',
      sampleRate: 0.25,
      random,
    });
    // The same requests through a recorder on this thread, into another environment.
    const direct = new FeedRecorder({ db, environment: 'direct', server: 'feed-thread-test' });
    const from = new Date(Date.now() - 1000);
    let sampledIds: string[] = [];
    let check = 0;
    for (const r of served.slice(0, 150)) {
      if (r.failed) {
        feed.record(m, r.latencyMs, r.table);
        direct.record({ model: m, latencyMs: r.latencyMs, table: r.table });
        continue;
      }
      feed.record(m, r.latencyMs, r.table, r.raw, r.ids, r.rows);
      direct.record({ model: m, latencyMs: r.latencyMs, table: r.table, raw: r.raw });
      // The thread's sampling is the serving thread's: one draw per row.
      for (const id of r.ids) if (check++ % 4 === 0) sampledIds.push(id);
    }
    expect(await feed.flush()).toMatchObject({ windows: 1 });
    await direct.flush();
    const to = new Date(Date.now() + 1000);
    const summary = (environment: string) => readFeed(db, { model: name, environment, version: 1, from, to });
    const [viaThread, onThread] = await Promise.all([summary('thread'), summary('direct')]);
    expect({ ...viaThread, environment: 'x' }).toEqual({ ...onThread, environment: 'x' });
    expect(viaThread).toMatchObject({ requests: 150, windows: 1 });
    expect(viaThread.errors).toBeGreaterThan(0);

    const rows = await logged(sampledIds);
    expect(rows.map((r) => r.id).sort()).toEqual([...sampledIds].sort());
    // The model's log policy applied on the thread: colour is hashed.
    const withColour = rows.find((r) => typeof r.input.colour === 'string')!;
    expect(withColour.input.colour).toMatch(/^sha256:[0-9a-f]{16,}/);

    // The rest is written on close.
    sampledIds = [];
    for (const r of served.slice(150)) {
      feed.record(m, r.latencyMs, r.table, r.raw, r.ids, r.rows);
      for (const id of r.ids) if (check++ % 4 === 0) sampledIds.push(id);
    }
    await feed.close();
    expect((await summary('thread')).requests).toBe(200);
    expect((await logged(sampledIds)).length).toBe(sampledIds.length);
  });

  it('writes sampled rows at once when feedback asks for one of them', async () => {
    const name = `feed-thread-${randomUUID().slice(0, 8)}`;
    const feed = new FeedThread({ database: config.database, environment: 'thread', sampleRate: 1 });
    try {
      const [r] = requests(1);
      feed.record(model(name), 1, r!.table, r!.raw, r!.ids, r!.rows);
      expect(await feed.flushSamplesFor(['not-sampled'])).toBe(0);
      expect(await logged(r!.ids)).toEqual([]);
      expect(await feed.flushSamplesFor([r!.ids[0]!])).toBe(1);
      expect((await logged(r!.ids)).map((x) => x.id)).toEqual(r!.ids);
    } finally {
      await feed.close();
    }
  });

  it('starts a thread that died again and keeps recording; a flush says why it failed', async () => {
    const name = `feed-thread-${randomUUID().slice(0, 8)}`;
    const m = model(name);
    const errors: Error[] = [];
    const feed = new FeedThread({
      database: config.database,
      environment: 'thread',
      onThreadError: (err) => errors.push(err),
    });
    const from = new Date(Date.now() - 1000);
    const [before, after] = requests(2);
    feed.record(m, 1, before!.table, before!.raw);
    await feed.flush();
    // What it held when it died is lost; it is started again and knows the version it was told of.
    await (feed as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect.poll(() => feed.restarts, { timeout: 10_000 }).toBe(1);
    expect(errors[0]?.message).toMatch(/monitoring feed thread stopped/);
    feed.record(m, 2, after!.table, after!.raw);
    expect(await feed.flush()).toMatchObject({ windows: 1 });
    await feed.close();
    const summary = await readFeed(db, { model: name, environment: 'thread', version: 1, from, to: new Date() });
    expect(summary.requests).toBe(2);

    // A database that refuses: the flush rejects with PostgreSQL's error, and close says so too.
    const url = new URL(config.database.url);
    url.pathname = `/no-such-database-${randomUUID().slice(0, 8)}`;
    const away = new FeedThread({ database: { ...config.database, url: url.href }, environment: 'thread' });
    away.record(m, 1, before!.table, before!.raw);
    await expect(away.flush()).rejects.toMatchObject({ code: '3D000' });
    await expect(away.close()).rejects.toMatchObject({ code: '3D000' });
  });
});
