// An experiment, not a benchmark: what point-in-time correctness is worth on flight-delays. The same GBDT (the
// pipeline's trainer settings, time split) is trained three times on the first N flights:
//   baseline       the pipeline's own features;
//   point in time  plus the example feature views (origin delays over 1h/24h, route delays over 7d), each flight's
//                  delay known at its arrival, joined as of each departure (what `flight-delays-features` trains on);
//   leaky          the same views timed by departure: a flight's own delay is in its own features, the naive join.
// The leaky model looks much better on held-out rows, and could never be served: at departure the delay is unknown.
// `npx tsx bench/feature-leakage.ts [rows]` (default 1,000,000) prints the three held-out RMSEs.
import { readTable } from '../lib/data/index.js';
import type { Table } from '../lib/data/table.js';
import { numeric } from '../lib/features/builders.js';
import { buildMatrix, encodeTarget, fitFeatures } from '../lib/features/matrix.js';
import { splitRows } from '../lib/features/split.js';
import { computeFeatures, defineFeatureView, pointInTimeJoin } from '../lib/features/store/view.js';
import type { FeatureView } from '../lib/features/store/view.js';
import { predict, rmse, trainGbdt } from '../lib/ml/index.js';
import { runMain } from '../lib/process/main.js';
import { resolveRunConfig, resolveSourcePath } from '../lib/pipeline/run-config.js';
import { originDelays, routeDelays, withArrival } from '../examples/features/flight-delays.js';
import { resolvePipeline } from '../pipelines/index.js';

const VIEWS = [originDelays, routeDelays];

/** A view as defined, but timed by departure: the naive join's mistake. */
function timedByDeparture(view: FeatureView): FeatureView {
  const { digest: _digest, ttlMs: _ttl, ...spec } = view;
  return defineFeatureView({ ...spec, timestamp: 'date' });
}

/** The labels with each view's features joined as of their departure. */
function joined(labels: Table, events: Table, views: FeatureView[]): Table {
  const out: Table = { rowCount: labels.rowCount, names: [...labels.names], columns: { ...labels.columns } };
  for (const view of views) {
    const ids = new Map<string, number>();
    const { values } = pointInTimeJoin(view, computeFeatures(view, events, ids), labels, 'date', ids);
    for (const [name, column] of Object.entries(values)) {
      out.names.push(name);
      out.columns[name] = { type: 'number', values: column, missing: new Uint8Array(labels.rowCount) };
    }
  }
  return out;
}

export interface LeakageResult {
  rows: number;
  baseline: number;
  pointInTime: number;
  leaky: number;
}

/** Held-out RMSE of flight-delays on its first `rows` flights: baseline, with correct features, with leaky ones. */
export async function leakage(rows: number, rounds?: number): Promise<LeakageResult> {
  const pipeline = resolvePipeline('flight-delays');
  const { config } = resolveRunConfig(pipeline, { rows, ...(rounds ? { rounds } : {}) });
  const c = config as never;
  const labels = await readTable(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'), { limit: rows });
  // A join only reads events at or before each label: the labelled flights themselves are every event it needs.
  const events = withArrival(labels);
  const trainer = pipeline.trainer(c);
  if (trainer.kind !== 'gbdt') throw new Error('flight-delays trains gradient-boosted trees');
  const { kind: _kind, ...params } = trainer;
  const heldOutRmse = (table: Table, extra: string[]) => {
    const split = splitRows(table, pipeline.split(c));
    const defs = [...pipeline.features(c), ...extra.map((name) => numeric(name))];
    const specs = fitFeatures(defs, table, split.train);
    const model = trainGbdt(buildMatrix(defs, specs, table, split.train), encodeTarget(table, 'delay', split.train), {
      ...params,
      task: 'regression',
    });
    return rmse(encodeTarget(table, 'delay', split.test), predict(model, buildMatrix(defs, specs, table, split.test)));
  };
  const names = VIEWS.flatMap((v) => v.features.map((f) => f.name));
  return {
    rows,
    baseline: heldOutRmse(labels, []),
    pointInTime: heldOutRmse(joined(labels, events, VIEWS), names),
    leaky: heldOutRmse(joined(labels, events, VIEWS.map(timedByDeparture)), names),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!))
  runMain('bench', async () => {
    const r = await leakage(Number(process.argv[2] ?? 1_000_000));
    process.stdout.write(
      `flight-delays, first ${r.rows} flights, held-out RMSE (minutes):\n` +
        `  baseline features        ${r.baseline.toFixed(3)}\n` +
        `  + feature views, correct ${r.pointInTime.toFixed(3)}\n` +
        `  + feature views, leaky   ${r.leaky.toFixed(3)}\n`
    );
  });
