import { describe, expect, it } from 'vitest';
import { tableFromRows } from '../../../lib/data/read-json.js';
import { tableStatistics } from '../../../lib/data/statistics.js';
import type { Table } from '../../../lib/data/table.js';
import type { Queryable } from '../../../lib/db/pool.js';
import { FeedRecorder, MAX_CATEGORIES, OTHER_CATEGORY } from '../../../lib/monitoring/feed.js';
import type { FeedModel, ServedRequest } from '../../../lib/monitoring/feed.js';
import { FeedDecoder, FeedEncoder, wireModel } from '../../../lib/monitoring/feed-wire.js';
import type { WireBatch } from '../../../lib/monitoring/feed-wire.js';
import type { Task } from '../../../lib/ml/types.js';
import type { ServablePackage } from '../../../lib/scoring/scorer.js';

// The feed thread's wire: whatever the serving thread records, the windows and sampled rows the feed thread's
// recorder writes are those a recorder on the serving thread would have written from the same requests.

const reference = tableFromRows(
  Array.from({ length: 101 }, (_, i) => ({
    x: i,
    colour: i % 2 ? 'red' : 'blue',
    flag: i % 3 === 0,
    at: `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    y: i / 10,
  })),
  'reference'
);

function fakeModel(task: Task, version = 1): FeedModel {
  const classes = task === 'regression' ? undefined : task === 'binary' ? ['no', 'yes'] : ['a', 'b', 'c'];
  const pkg = {
    task,
    target: 'y',
    ...(classes ? { classes } : {}),
    referenceStatistics: tableStatistics(reference),
    predictionLog: { drop: ['colour'] },
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
        { column: 'at', type: 'timestamp', nullable: true },
      ],
    },
  };
}

const request = (rows: Record<string, unknown>[]): Table =>
  tableFromRows(rows, 'request', { expectedTypes: { at: 'timestamp', x: 'number' } });

/** A database that keeps what the recorder inserts. */
function fakeDb() {
  const calls: { text: string; params: unknown[] }[] = [];
  const db = {
    async query(text: string, params: unknown[] = []) {
      calls.push({ text, params });
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  const inserted = (table: string) =>
    calls
      .filter((c) => c.text.includes(`cairn.${table}`))
      .flatMap((c) => JSON.parse(c.params.at(-1) as string) as Record<string, unknown>[]);
  return { db, inserted };
}

const NOW = new Date('2025-01-01T00:00:00Z');
const recorder = (db: Queryable) =>
  new FeedRecorder({ db, environment: 'production', server: 's', sampleRate: 1, random: () => 0, now: () => NOW });

/** Records `requests` directly, and through the wire in batches of `batchSize`; both recorders' writes. */
async function bothWays(requests: ServedRequest[], batchSize: number, maxInterned?: number) {
  const direct = fakeDb();
  const viaWire = fakeDb();
  const one = recorder(direct.db);
  for (const r of requests) one.record(r);

  const two = recorder(viaWire.db);
  const encoder = new FeedEncoder(64, maxInterned);
  const decoder = new FeedDecoder();
  const slots = new Map<FeedModel, number>();
  const batches: WireBatch[] = [];
  for (const r of requests) {
    let slot = slots.get(r.model);
    if (slot === undefined) {
      slots.set(r.model, (slot = slots.size));
      // As the feed thread receives it: cloned.
      decoder.register(structuredClone(wireModel(slot, r.model)));
    }
    encoder.add(
      slot,
      r.model.scorer.inputs.map((i) => i.column),
      r.latencyMs,
      r.table,
      r.raw
    );
    if (r.log)
      for (let i = 0; i < r.log.ids.length; i++) encoder.addSample(r.log.ids[i]!, r.log.inputs[i], r.log.outputs[i]);
    if (encoder.records >= batchSize) batches.push(encoder.take()!);
  }
  const last = encoder.take();
  if (last) batches.push(last);
  for (const batch of batches) {
    const received = structuredClone(batch, { transfer: [batch.nums.buffer as ArrayBuffer] });
    decoder.decode(received, (r) => two.record(r));
    encoder.recycle(received.nums);
  }
  await one.flush();
  await two.flush();
  const byId = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a.id).localeCompare(String(b.id)));
  return {
    direct: { stats: direct.inserted('serving_stats'), log: byId(direct.inserted('prediction_log')) },
    viaWire: { stats: viaWire.inserted('serving_stats'), log: byId(viaWire.inserted('prediction_log')) },
    batches: batches.length,
  };
}

describe('the feed wire', () => {
  const multiclass = fakeModel('multiclass');
  const binary = fakeModel('binary', 2);
  const regression = fakeModel('regression', 3);

  const requests: ServedRequest[] = [];
  let id = 0;
  for (let i = 0; i < 300; i++) {
    const n = 1 + (i % 4);
    const rows = Array.from({ length: n }, (_, j) => ({
      x: ((i * 7 + j * 13) % 130) - 10,
      colour: ['red', 'blue', 'green', null][(i + j) % 4],
      flag: j % 3 === 2 ? null : (i + j) % 2 === 0,
      at: j % 5 === 4 ? null : `2024-01-01T00:00:${String((i + j) % 60).padStart(2, '0')}Z`,
    }));
    const model = [multiclass, binary, regression][i % 3]!;
    const k = model === multiclass ? 3 : 1;
    const raw = Float64Array.from({ length: n * k }, (_, v) => ((i + v) * 0.37) % 1);
    const table = request(rows);
    const latencyMs = 0.2 + ((i * 31) % 97) / 3;
    if (i % 17 === 5) {
      // Failed on the server: no outputs, its rows count as errors.
      requests.push({ model, latencyMs, table });
      continue;
    }
    const sampled = rows.flatMap((row, j) => ((i + j) % 5 === 0 ? [j] : []));
    requests.push({
      model,
      latencyMs,
      table,
      raw,
      ...(sampled.length
        ? {
            log: {
              ids: sampled.map(() => `p${id++}`),
              inputs: sampled.map((j) => rows[j]),
              outputs: sampled.map((j) => ({ label: 'a', row: j })),
            },
          }
        : {}),
    });
  }
  // Some requests leave nullable columns out altogether.
  requests.push({ model: multiclass, latencyMs: 3, table: request([{ x: 4 }, { x: 5 }]), raw: new Float64Array(6) });
  requests.push({ model: binary, latencyMs: 4, table: request([{ colour: 'red' }]), raw: Float64Array.of(0.9) });

  it('writes the windows and sampled rows a recorder on the serving thread writes, in one batch or many', async () => {
    for (const batchSize of [1, 7, 1000]) {
      const { direct, viaWire, batches } = await bothWays(requests, batchSize);
      expect(batches).toBe(Math.ceil(requests.length / batchSize));
      expect(direct.stats).toHaveLength(3);
      expect(viaWire.stats).toEqual(direct.stats);
      expect(direct.log.length).toBeGreaterThan(50);
      expect(viaWire.log).toEqual(direct.log);
    }
  });

  it('counts every request, row, error and latency', async () => {
    const { viaWire } = await bothWays(requests, 50);
    const sum = (key: string) => viaWire.stats.reduce((a, w) => a + (w[key] as number), 0);
    expect(sum('requests')).toBe(requests.length);
    expect(sum('predictions') + sum('errors')).toBe(requests.reduce((a, r) => a + r.table.rowCount, 0));
    expect(sum('errors')).toBe(requests.filter((r) => !r.raw).reduce((a, r) => a + r.table.rowCount, 0));
    const latencies = viaWire.stats.reduce(
      (a, w) => a + (w.latency as { counts: number[] }).counts.reduce((x, y) => x + y, 0),
      0
    );
    expect(latencies).toBe(requests.length);
  });

  it('sends category values beyond those it interns as text, and tells a new decoder the values it knows', async () => {
    for (const maxInterned of [0, 2, 5]) {
      const { direct, viaWire } = await bothWays(requests, 9, maxInterned);
      expect(viaWire.stats).toEqual(direct.stats);
    }
    // A feed thread started again between batches: told the values earlier batches introduced, it reads the
    // batches that follow (which introduce the rest themselves).
    const encoder = new FeedEncoder(64, 3);
    const model = fakeModel('multiclass');
    const columns = model.scorer.inputs.map((i) => i.column);
    const colourRequest = (colour: string) => ({
      model,
      latencyMs: 1,
      table: tableFromRows([{ x: 1, colour }], 'request'),
      raw: new Float64Array(3),
    });
    const first = ['red', 'blue'].map(colourRequest);
    const then = ['blue', 'green', 'pink', 'red', 'teal'].map(colourRequest);
    for (const r of first) encoder.add(0, columns, r.latencyMs, r.table, r.raw);
    encoder.take();
    for (const r of then) encoder.add(0, columns, r.latencyMs, r.table, r.raw);
    const restarted = new FeedDecoder();
    restarted.register(wireModel(0, model));
    restarted.intern(encoder.internedBefore());
    expect(encoder.internedBefore()).toEqual(['red', 'blue']);
    const viaWire = recorder(fakeDb().db);
    restarted.decode(encoder.take()!, (r) => viaWire.record(r));
    const direct = recorder(fakeDb().db);
    for (const r of then) direct.record(r);
    expect(viaWire.take()).toEqual(direct.take());
  });

  it(`keeps the first ${MAX_CATEGORIES} values of a column in order of appearance, the rest under ${OTHER_CATEGORY}`, async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({
      model: multiclass,
      latencyMs: 1,
      table: request(Array.from({ length: 30 }, (_, j) => ({ colour: `c${(i * 30 + j) % 1100}` }))),
      raw: new Float64Array(90),
    }));
    const { direct, viaWire } = await bothWays(many, 16);
    const colour = (viaWire.stats[0]!.features as Record<string, { counts: Record<string, number> }>).colour!;
    expect(Object.keys(colour.counts)).toHaveLength(MAX_CATEGORIES + 1);
    expect(colour.counts[OTHER_CATEGORY]).toBe(100);
    expect(viaWire.stats).toEqual(direct.stats);
  });
});
