import { z } from 'zod';
import { numeric } from '../../lib/features/builders.js';
import { calendarFeatures } from '../features/calendar.js';
import { categoryFeatures } from '../features/categories.js';
import { defineTabularPipeline } from '../../lib/pipeline/tabular.js';

/** Arrival delay of US flights (January-June 2001) from when, how far and between which airports. */
export const flightDelays = defineTabularPipeline({
  name: 'flight-delays',
  description: 'Predict arrival delay in minutes from the departure time, distance, origin and destination.',
  version: '1',
  config: z.strictObject({
    /**
     * The data: a file (`npm:` paths point into installed packages), or an `s3://` prefix of monthly Parquet parts,
     * read incrementally (a retraining reads only the months that landed since the last accepted snapshot).
     */
    source: z.string().default('npm:vega-datasets/data/flights-3m.parquet'),
    /** How many rows (from the start of the file, in time order) to use. */
    rows: z.number().int().positive().default(1_000_000),
    /** Share of the latest rows held out for evaluation. */
    testFraction: z.number().gt(0).lt(1).default(0.2),
    rounds: z.number().int().positive().default(100),
    learningRate: z.number().positive().default(0.1),
    maxDepth: z.number().int().min(1).max(16).default(6),
    minDataInLeaf: z.number().int().positive().default(100),
    bins: z.number().int().min(2).max(255).default(255),
    seed: z.number().int().default(42),
    gate: z.strictObject({ maxRmse: z.number().positive().default(60) }).prefault({}),
  }),
  source: (c) =>
    c.source.startsWith('s3://') ? { path: c.source, incremental: true } : { path: c.source, limit: c.rows },
  contract: z.strictObject({
    date: z.date(),
    delay: z.number().int().min(-1440).max(2880),
    distance: z.number().int().min(1).max(10_000),
    origin: z.string(),
    destination: z.string(),
  }),
  features: () => [...calendarFeatures('date'), numeric('distance'), ...categoryFeatures(['origin', 'destination'])],
  target: { column: 'delay', task: 'regression' },
  split: (c) => ({ kind: 'time', column: 'date', testFraction: c.testFraction }),
  trainer: (c) => ({
    kind: 'gbdt',
    rounds: c.rounds,
    learningRate: c.learningRate,
    maxDepth: c.maxDepth,
    minDataInLeaf: c.minDataInLeaf,
    lambda: 1,
    bins: c.bins,
    seed: c.seed,
  }),
  evaluation: {
    metrics: ['rmse', 'mae', 'r2'],
    gate: (c) => ({ rmse: { max: c.gate.maxRmse } }),
    champion: { metric: 'rmse', maxRegression: 0.1 },
  },
  monitoring: {
    interval: '1h',
    performance: { metric: 'rmse', maxDegradation: 5 },
    latency: { p99Ms: 50 },
  },
});
