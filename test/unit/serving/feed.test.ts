import { describe, expect, it } from 'vitest';
import { tableFromRows } from '../../../lib/data/read-json.js';
import { tableStatistics } from '../../../lib/data/statistics.js';
import type { Queryable } from '../../../lib/db/pool.js';
import { FeedRecorder, MAX_CATEGORIES, OTHER_CATEGORY, sumWindows } from '../../../lib/monitoring/feed.js';
import type { FeedModel, FeedWindow, NumericBins } from '../../../lib/monitoring/feed.js';
import { addCounts, binOf, histogramQuantile, LATENCY_EDGES } from '../../../lib/monitoring/histograms.js';
import type { ServablePackage } from '../../../lib/scoring/scorer.js';
import type { Task } from '../../../lib/ml/types.js';

/** Reference rows: x spans 0..100 (20 bins of 5), y 0..10, colour and flag categorical. */
const reference = tableFromRows(
  Array.from({ length: 101 }, (_, i) => ({ x: i, colour: i % 2 ? 'red' : 'blue', flag: i % 3 === 0, y: i / 10 })),
  'reference'
);

function fakeModel(task: Task, version = 1): FeedModel {
  const classes = task === 'regression' ? undefined : task === 'binary' ? ['no', 'yes'] : ['a', 'b', 'c'];
  const pkg = {
    task,
    target: 'y',
    ...(classes ? { classes } : {}),
    referenceStatistics: tableStatistics(reference),
  } as unknown as ServablePackage;
  return {
    model: 'm',
    version,
    scorer: {
      pkg,
      inputs: [
        { column: 'x', type: 'number', nullable: true },
        { column: 'colour', type: 'string', nullable: true },
        { column: 'flag', type: 'boolean', nullable: true },
      ],
    },
  };
}

const request = (rows: Record<string, unknown>[]) => tableFromRows(rows, 'request');

/** A database that records statements and fails the first `failures` of them. */
function fakeDb(failures = 0) {
  const calls: { text: string; params: unknown[] }[] = [];
  let left = failures;
  const db = {
    async query(text: string, params: unknown[] = []) {
      if (left-- > 0) throw new Error('connection refused');
      calls.push({ text, params });
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  const inserted = (table: string) =>
    calls
      .filter((c) => c.text.includes(`cairn.${table}`))
      .flatMap((c) => JSON.parse(c.params.at(-1) as string) as Record<string, unknown>[]);
  return { db, calls, inserted };
}

const q = { model: 'm', environment: 'production', version: 1, from: new Date(0), to: new Date() };

describe('latency histogram', () => {
  it('has log-spaced edges from 0.05 ms to beyond 30 s', () => {
    expect(LATENCY_EDGES).toHaveLength(61);
    expect(LATENCY_EDGES[0]).toBe(0.05);
    expect(LATENCY_EDGES.at(-1)).toBeGreaterThan(30_000);
    for (let i = 1; i < LATENCY_EDGES.length; i++) {
      expect(LATENCY_EDGES[i]! / LATENCY_EDGES[i - 1]!).toBeCloseTo(1.25, 4);
    }
  });

  it('puts values in their bin, clamping those outside the range', () => {
    expect(binOf(LATENCY_EDGES, 0.001)).toBe(0);
    expect(binOf(LATENCY_EDGES, 0.05)).toBe(0);
    expect(binOf(LATENCY_EDGES, 0.0625)).toBe(1);
    expect(binOf(LATENCY_EDGES, 1e9)).toBe(59);
    expect(binOf(LATENCY_EDGES, LATENCY_EDGES.at(-1)!)).toBe(59);
    expect(binOf([0, 1, 2], 1.5)).toBe(1);
  });

  it('reads p50 and p99 back within 12% of the exact quantiles', () => {
    // Log-normal latencies around 3 ms, from a fixed sequence.
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
    const values = Array.from({ length: 20_000 }, () => {
      const normal = Math.sqrt(-2 * Math.log(random())) * Math.cos(2 * Math.PI * random());
      return Math.exp(Math.log(3) + 0.8 * normal);
    }).sort((a, b) => a - b);
    const counts = new Array<number>(60).fill(0);
    for (const v of values) counts[binOf(LATENCY_EDGES, v)]!++;
    const exact = (p: number) => values[Math.floor(p * (values.length - 1))]!;
    for (const p of [0.5, 0.9, 0.99]) {
      const estimate = histogramQuantile(LATENCY_EDGES, counts, p, true)!;
      expect(Math.abs(estimate / exact(p) - 1)).toBeLessThan(0.12);
    }
  });

  it('gives null for an empty histogram and the bin for one value', () => {
    expect(histogramQuantile(LATENCY_EDGES, new Array(60).fill(0), 0.5, true)).toBeNull();
    const counts = new Array<number>(60).fill(0);
    counts[binOf(LATENCY_EDGES, 2)]!++;
    const p50 = histogramQuantile(LATENCY_EDGES, counts, 0.5, true)!;
    expect(Math.abs(p50 / 2 - 1)).toBeLessThan(0.12);
  });

  it('adds counts on other edges where each bin’s midpoint falls', () => {
    const counts = [0, 0, 0, 0];
    addCounts([0, 1, 2, 3, 4], counts, [0, 2, 4], [5, 7]);
    expect(counts).toEqual([0, 5, 0, 7]);
    addCounts([0, 1, 2, 3, 4], counts, [0, 1, 2, 3, 4], [1, 1, 1, 1]);
    expect(counts).toEqual([1, 6, 1, 8]);
  });
});

describe('FeedRecorder', () => {
  it('counts requests, rows, features on the reference edges and predicted classes per version', () => {
    const { db } = fakeDb();
    const feed = new FeedRecorder({ db, environment: 'production' });
    const v1 = fakeModel('multiclass');
    const table = request([
      { x: -50, colour: 'red', flag: true },
      { x: 7, colour: 'green', flag: false },
      { x: 1000, colour: null, flag: null },
    ]);
    // Row 0 → class b, row 1 → class c, row 2 → class b.
    const raw = Float64Array.from([0.1, 0.8, 0.1, 0.2, 0.2, 0.6, 0.3, 0.4, 0.3]);
    feed.record({ model: v1, latencyMs: 2, table, raw });
    feed.record({ model: v1, latencyMs: 40, table: request([{ x: 50, colour: 'red', flag: true }]) });
    feed.record({ model: fakeModel('multiclass', 2), latencyMs: 1, table, raw });

    const windows = feed.take();
    expect(windows.map((w) => [w.version, w.requests, w.predictions, w.errors])).toEqual([
      [1, 2, 3, 1],
      [2, 1, 3, 0],
    ]);
    const w = windows[0]!;
    const x = w.features.x as NumericBins;
    expect(x.edges).toHaveLength(21);
    expect(x.edges[0]).toBe(0);
    expect(x.edges[20]).toBe(100);
    // -50 clamps into the first bin, 7 in [5, 10), 50 in [50, 55), 1000 clamps into the last.
    expect(x.counts[0]).toBe(1);
    expect(x.counts[1]).toBe(1);
    expect(x.counts[10]).toBe(1);
    expect(x.counts[19]).toBe(1);
    expect(x.counts.reduce((a, b) => a + b)).toBe(4);
    expect(w.features.colour).toEqual({ kind: 'categorical', counts: { red: 2, green: 1 }, missing: 1 });
    expect(w.features.flag).toEqual({ kind: 'categorical', counts: { true: 2, false: 1 }, missing: 1 });
    expect(w.outputs).toEqual({ kind: 'categorical', counts: { b: 2, c: 1 }, missing: 0 });
    expect(w.latency.counts[binOf(LATENCY_EDGES, 2)]).toBe(1);
    expect(w.latency.counts[binOf(LATENCY_EDGES, 40)]).toBe(1);
    expect(feed.take()).toEqual([]);
  });

  it('histograms regression outputs on the target’s reference edges and binary ones by class', () => {
    const feed = new FeedRecorder({ db: fakeDb().db, environment: 'production' });
    const table = request([{ x: 1 }, { x: 2 }, { x: 3 }]);
    feed.record({ model: fakeModel('regression'), latencyMs: 1, table, raw: Float64Array.from([0.2, 5.1, 99]) });
    const [w] = feed.take();
    const outputs = w!.outputs as NumericBins;
    expect(outputs.edges[0]).toBe(0);
    expect(outputs.edges[20]).toBe(10);
    expect(outputs.counts[0]).toBe(1);
    expect(outputs.counts[10]).toBe(1);
    expect(outputs.counts[19]).toBe(1);

    feed.record({ model: fakeModel('binary'), latencyMs: 1, table, raw: Float64Array.from([0.2, 0.7, 0.9]) });
    expect(feed.take()[0]!.outputs).toEqual({ kind: 'categorical', counts: { no: 1, yes: 2 }, missing: 0 });
  });

  it(`keeps at most ${MAX_CATEGORIES} distinct values of a column per window`, () => {
    const feed = new FeedRecorder({ db: fakeDb().db, environment: 'production' });
    const rows = Array.from({ length: MAX_CATEGORIES + 5 }, (_, i) => ({ colour: `c${i}` }));
    feed.record({ model: fakeModel('binary'), latencyMs: 1, table: request(rows) });
    const colour = feed.take()[0]!.features.colour as { counts: Record<string, number> };
    expect(Object.keys(colour.counts)).toHaveLength(MAX_CATEGORIES + 1);
    expect(colour.counts[OTHER_CATEGORY]).toBe(5);
  });

  it('writes one serving_stats row per version, and keeps the data of a failed write for the next flush', async () => {
    const { db, inserted } = fakeDb(1);
    const feed = new FeedRecorder({ db, environment: 'production', server: 'test-server' });
    const model = fakeModel('multiclass');
    const table = request([{ x: 1, colour: 'red', flag: true }]);
    const raw = Float64Array.from([1, 0, 0]);
    feed.record({ model, latencyMs: 1, table, raw });
    await expect(feed.flush()).rejects.toThrow('connection refused');
    feed.record({ model, latencyMs: 1, table, raw });
    expect(await feed.flush()).toEqual({ windows: 1, samples: 0 });
    const rows = inserted('serving_stats');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ model: 'm', version: 1, requests: 2, predictions: 2, errors: 0 });
    expect(rows[0]!.features).toMatchObject({ colour: { counts: { red: 2 } } });
    expect(await feed.flush()).toEqual({ windows: 0, samples: 0 });
  });

  it('samples rows into the prediction log at the sample rate, with their prediction ids', async () => {
    const { db, inserted } = fakeDb();
    let i = 0;
    const feed = new FeedRecorder({ db, environment: 'production', sampleRate: 0.5, random: () => (i++ % 2) * 0.9 });
    const rows = [{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }];
    const ids = ['p0', 'p1', 'p2', 'p3'];
    const outputs = ids.map((id) => ({ label: 'a', id }));
    feed.record({
      model: fakeModel('multiclass'),
      latencyMs: 1,
      table: request(rows),
      raw: new Float64Array(12),
      log: { ids, inputs: rows, outputs },
    });
    expect(feed.hasPendingSamples(['p0'])).toBe(true);
    expect(feed.hasPendingSamples(['p1'])).toBe(false);
    expect(await feed.flushSamples()).toBe(2);
    expect(feed.hasPendingSamples(['p0'])).toBe(false);
    expect(inserted('prediction_log').map((s) => [s.id, s.version, s.input, s.environment])).toEqual([
      ['p0', 1, { x: 1 }, 'production'],
      ['p2', 1, { x: 3 }, 'production'],
    ]);
  });
});

describe('sumWindows', () => {
  const window = (requests: number, latency: number, x: number[]): Omit<FeedWindow, 'model' | 'version'> => {
    const counts = new Array<number>(60).fill(0);
    counts[binOf(LATENCY_EDGES, latency)] = requests;
    return {
      windowStart: new Date(0),
      windowEnd: new Date(1),
      requests,
      errors: 1,
      predictions: requests * 2,
      latency: { edges: [...LATENCY_EDGES], counts },
      features: { x: { kind: 'numeric', edges: [0, 1, 2], counts: x, missing: 1 } },
      outputs: { kind: 'categorical', counts: { a: requests }, missing: 0 },
    };
  };

  it('adds counts, histograms and classes across windows and reads quantiles from the sum', () => {
    const summary = sumWindows([window(99, 1, [1, 2]), window(1, 1000, [3, 4])], q);
    expect(summary).toMatchObject({ requests: 100, errors: 2, predictions: 200, windows: 2 });
    expect(summary.features.x).toEqual({ kind: 'numeric', edges: [0, 1, 2], counts: [4, 6], missing: 2 });
    expect(summary.outputs).toEqual({ kind: 'categorical', counts: { a: 100 }, missing: 0 });
    expect(Math.abs(summary.latencyMs.p50! / 1 - 1)).toBeLessThan(0.12);
    // All 99 at one value: the estimate may sit anywhere in its bin (at worst one bin, 25%, off).
    expect(Math.abs(summary.latencyMs.p99! / 1 - 1)).toBeLessThan(0.25);
    const slow = sumWindows([window(98, 1, [0, 0]), window(2, 1000, [0, 0])], q);
    expect(Math.abs(slow.latencyMs.p99! / 1000 - 1)).toBeLessThan(0.12);
  });

  it('gives zero counts and null quantiles when nothing was served', () => {
    expect(sumWindows([], q)).toMatchObject({
      requests: 0,
      errors: 0,
      predictions: 0,
      windows: 0,
      features: {},
      latencyMs: { p50: null, p99: null },
    });
  });
});

describe('sampled rows PostgreSQL refuses', () => {
  it('drops and counts only the rows refused for their content, writes the rest, and keeps a batch the database could not take', async () => {
    const written: string[] = [];
    let down = false;
    const db = {
      async query(_text: string, params: unknown[] = []) {
        if (down) throw Object.assign(new Error('terminating connection'), { code: '57P01' });
        const rows = JSON.parse(params.at(-1) as string) as { id: string; input: { x: string } }[];
        // What PostgreSQL says of a NUL character in jsonb.
        if (rows.some((r) => r.input.x.includes('\u0000')))
          throw Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
        written.push(...rows.map((r) => r.id));
        return { rows: [], rowCount: rows.length };
      },
    } as unknown as Queryable;
    const rejected: string[] = [];
    const feed = new FeedRecorder({
      db,
      environment: 'production',
      sampleRate: 1,
      random: () => 0,
      onRejectedSample: (_err, id) => rejected.push(id),
    });
    const record = (ids: string[], xs: string[]) => {
      const rows = xs.map((x) => ({ x }));
      feed.record({
        model: fakeModel('multiclass'),
        latencyMs: 1,
        table: request(rows),
        raw: new Float64Array(3 * rows.length),
        log: { ids, inputs: rows, outputs: ids.map(() => ({ label: 'a' })) },
      });
    };
    record(['a', 'b', 'c', 'd', 'e'], ['ok', 'ok', 'bad\u0000', 'ok', 'ok']);
    await feed.flushSamples();
    expect(written.sort()).toEqual(['a', 'b', 'd', 'e']);
    expect(rejected).toEqual(['c']);
    expect(feed.rejectedSamples).toBe(1);
    expect(feed.hasPendingSamples(['c'])).toBe(false);

    // The database away is not the rows' fault: they wait for the next flush.
    down = true;
    record(['f'], ['ok']);
    await expect(feed.flushSamples()).rejects.toThrow('terminating connection');
    expect(feed.hasPendingSamples(['f'])).toBe(true);
    down = false;
    await feed.flushSamples();
    expect(written).toContain('f');
    expect(feed.rejectedSamples).toBe(1);
  });
});
