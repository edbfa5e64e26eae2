import { z } from 'zod';
import { numeric } from '../../lib/features/builders.js';
import { categoryFeatures } from '../features/categories.js';
import { defineTabularPipeline } from '../../lib/pipeline/tabular.js';

const SPECIES = ['Adelie', 'Chinstrap', 'Gentoo'] as const;

/** Palmer penguins: species from beak, flipper, mass, island and sex. Small; the fast tests run it. */
export const penguins = defineTabularPipeline({
  name: 'penguins',
  description: 'Classify penguin species from body measurements, island and sex.',
  version: '1',
  config: z.strictObject({
    source: z.string().default('npm:vega-datasets/data/penguins.json'),
    testFraction: z.number().gt(0).lt(1).default(0.25),
    seed: z.number().int().default(7),
    rounds: z.number().int().positive().default(60),
    learningRate: z.number().positive().default(0.1),
    maxDepth: z.number().int().min(1).max(16).default(4),
    minDataInLeaf: z.number().int().positive().default(3),
    gate: z.strictObject({ minAccuracy: z.number().min(0).max(1).default(0.9) }).prefault({}),
  }),
  source: (c) => ({ path: c.source }),
  contract: z.strictObject({
    Species: z.enum(SPECIES),
    Island: z.enum(['Biscoe', 'Dream', 'Torgersen']),
    'Beak Length (mm)': z.number().min(20).max(80).nullable(),
    'Beak Depth (mm)': z.number().min(10).max(30).nullable(),
    'Flipper Length (mm)': z.number().min(150).max(260).nullable(),
    'Body Mass (g)': z.number().min(2000).max(7000).nullable(),
    // '.' marks an unrecorded sex in the source data.
    Sex: z.enum(['MALE', 'FEMALE', '.']).nullable(),
  }),
  features: () => [
    numeric('Beak Length (mm)', 'beak_length'),
    numeric('Beak Depth (mm)', 'beak_depth'),
    numeric('Flipper Length (mm)', 'flipper_length'),
    numeric('Body Mass (g)', 'body_mass'),
    ...categoryFeatures(['Island', 'Sex']),
  ],
  target: { column: 'Species', task: 'multiclass' },
  split: (c) => ({ kind: 'random', testFraction: c.testFraction, seed: c.seed }),
  trainer: (c) => ({
    kind: 'gbdt',
    rounds: c.rounds,
    learningRate: c.learningRate,
    maxDepth: c.maxDepth,
    minDataInLeaf: c.minDataInLeaf,
    lambda: 1,
    bins: 255,
    seed: c.seed,
  }),
  evaluation: {
    metrics: ['accuracy', 'macroF1', 'logLoss', 'rocAuc'],
    gate: (c) => ({ accuracy: { min: c.gate.minAccuracy } }),
    champion: { metric: 'accuracy', maxRegression: 0.01 },
  },
  monitoring: {
    interval: '1h',
    performance: { metric: 'accuracy', maxDegradation: 0.05 },
    latency: { p99Ms: 50 },
  },
});
