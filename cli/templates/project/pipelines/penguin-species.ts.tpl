import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  artifactRef,
  category,
  definePipeline,
  defineStep,
  hashFile,
  numeric,
  StepValidationError,
  tableFromRows,
  tabularModel,
  trainTabular,
  z,
} from 'cairn';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));

const raw = z.object({
  Species: z.string(),
  Island: z.string(),
  'Beak Length (mm)': z.number().nullable(),
  'Beak Depth (mm)': z.number().nullable(),
  'Flipper Length (mm)': z.number().nullable(),
  'Body Mass (g)': z.number().nullable(),
});

/**
 * A custom step: the birds whose beak was measured, renamed, with a feature the data lacks (the beak's length to
 * depth ratio), stored as a table for Cairn's tabular steps.
 */
export const measuredPenguins = defineStep({
  name: 'measured-penguins',
  version: '1',
  input: z.strictObject({ file: z.string() }),
  output: z.strictObject({ table: artifactRef, rows: z.number() }),
  fingerprint: async ({ file }) => (await hashFile(resolve(PROJECT, file))).digest,
  async run(ctx, { file }) {
    const parsed = z.array(raw).safeParse(JSON.parse(await readFile(resolve(PROJECT, file), 'utf8')));
    if (!parsed.success) throw new StepValidationError(`${file}: ${z.prettifyError(parsed.error)}`);
    const rows = parsed.data
      .filter((p) => p['Beak Length (mm)'] !== null && p['Beak Depth (mm)'] !== null)
      .map((p) => ({
        species: p.Species,
        island: p.Island,
        beakLength: p['Beak Length (mm)']!,
        beakDepth: p['Beak Depth (mm)']!,
        beakRatio: Math.round((p['Beak Length (mm)']! / p['Beak Depth (mm)']!) * 1e4) / 1e4,
        flipperLength: p['Flipper Length (mm)'],
        bodyMass: p['Body Mass (g)'],
      }));
    ctx.log.info({ file, rows: rows.length }, 'measured penguins');
    return { table: await ctx.store.putTable(tableFromRows(rows, file)), rows: rows.length };
  },
});

const config = z.strictObject({
  file: z.string().default('data/penguins.json'),
  rounds: z.number().int().positive().default(40),
  seed: z.number().int().default(7),
  minAccuracy: z.number().min(0).max(1).default(0.9),
});

/** What the model learns, from what, and what it must reach to pass its gate. */
const species = tabularModel({
  config,
  contract: z.strictObject({
    species: z.enum(['Adelie', 'Chinstrap', 'Gentoo']),
    island: z.enum(['Biscoe', 'Dream', 'Torgersen']),
    beakLength: z.number().min(20).max(80),
    beakDepth: z.number().min(10).max(30),
    beakRatio: z.number().positive(),
    flipperLength: z.number().min(150).max(260).nullable(),
    bodyMass: z.number().min(2000).max(7000).nullable(),
  }),
  features: () => [
    numeric('beakLength'),
    numeric('beakDepth'),
    numeric('beakRatio'),
    numeric('flipperLength'),
    numeric('bodyMass'),
    category('island'),
  ],
  target: { column: 'species', task: 'multiclass' },
  split: (c) => ({ kind: 'random', testFraction: 0.25, seed: c.seed }),
  trainer: (c) => ({
    kind: 'gbdt',
    rounds: c.rounds,
    learningRate: 0.1,
    maxDepth: 4,
    minDataInLeaf: 3,
    lambda: 1,
    bins: 255,
    seed: c.seed,
  }),
  evaluation: {
    metrics: ['accuracy', 'macroF1'],
    gate: (c) => ({ accuracy: { min: c.minAccuracy } }),
  },
  monitoring: { interval: '1h', performance: { metric: 'accuracy', maxDegradation: 0.05 }, latency: { p99Ms: 50 } },
});

/** Penguin species from beak, flipper, mass and island: the custom step, then Cairn's tabular steps. */
export const penguinSpecies = definePipeline({
  name: 'penguin-species',
  version: '1',
  description: 'Classify penguin species; registered as model penguin-species, released and served by Cairn.',
  config,
  steps(p, c) {
    const data = p.step(measuredPenguins, { file: c.file });
    const registered = trainTabular(p, species, { table: data.out.table });
    return {
      model: registered.out.model,
      version: registered.out.version,
      champion: registered.out.champion,
      metrics: registered.out.metrics,
      package: registered.out.package,
      rows: data.out.rows,
    };
  },
});
