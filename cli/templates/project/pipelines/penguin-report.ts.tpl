import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactRef, definePipeline, defineStep, hashFile, StepValidationError, z } from 'cairn';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));

const penguin = z.object({
  Species: z.string(),
  Island: z.string(),
  'Body Mass (g)': z.number().nullable(),
  'Flipper Length (mm)': z.number().nullable(),
});
type Penguin = z.infer<typeof penguin>;

/** Reads the penguins file, drops birds that were not weighed, stores the rest. A custom step: plain TypeScript. */
export const loadPenguins = defineStep({
  name: 'load-penguins',
  version: '1',
  input: z.strictObject({ file: z.string() }),
  output: z.strictObject({ penguins: artifactRef, islands: z.array(z.string()), count: z.number() }),
  // The file's content is part of the cache key: an edited file misses the cache even under the same name.
  fingerprint: async ({ file }) => (await hashFile(resolve(PROJECT, file))).digest,
  async run(ctx, { file }) {
    const parsed = z.array(penguin).safeParse(JSON.parse(await readFile(resolve(PROJECT, file), 'utf8')));
    if (!parsed.success) throw new StepValidationError(`${file}: ${z.prettifyError(parsed.error)}`);
    const weighed = parsed.data.filter((p) => p['Body Mass (g)'] !== null);
    ctx.log.info({ file, rows: parsed.data.length, weighed: weighed.length }, 'penguins loaded');
    return {
      penguins: await ctx.store.putJson(weighed),
      islands: [...new Set(weighed.map((p) => p.Island))].sort(),
      count: weighed.length,
    };
  },
});

const islandSummary = z.strictObject({
  island: z.string(),
  penguins: z.number(),
  meanBodyMassG: z.number(),
  species: z.record(z.string(), z.number()),
});

/** One island's birds: how many of each species, and their mean body mass. Runs once per island, on the heavy queue. */
export const summarizeIsland = defineStep({
  name: 'summarize-island',
  version: '1',
  queue: 'heavy',
  input: z.strictObject({ penguins: artifactRef, island: z.string() }),
  output: islandSummary,
  async run(ctx, { penguins, island }) {
    const birds = (await ctx.store.getJson<Penguin[]>(penguins)).filter((p) => p.Island === island);
    const species: Record<string, number> = {};
    for (const p of birds) species[p.Species] = (species[p.Species] ?? 0) + 1;
    const mass = birds.reduce((sum, p) => sum + p['Body Mass (g)']!, 0);
    return { island, penguins: birds.length, meanBodyMassG: Math.round((mass / birds.length) * 10) / 10, species };
  },
});

/** Joins the islands into one report, stored as an artifact. */
export const writeReport = defineStep({
  name: 'write-report',
  version: '1',
  input: z.strictObject({ islands: z.array(islandSummary) }),
  output: z.strictObject({ report: artifactRef, heaviestIsland: z.string() }),
  async run(ctx, { islands }) {
    const heaviest = islands.reduce((a, b) => (b.meanBodyMassG > a.meanBodyMassG ? b : a));
    return { report: await ctx.store.putJson({ islands }), heaviestIsland: heaviest.island };
  },
});

/** Palmer penguins by island: load → one summary per island (a foreach) → report. */
export const penguinReport = definePipeline({
  name: 'penguin-report',
  version: '1',
  description: 'Species counts and mean body mass of the Palmer penguins, island by island.',
  config: z.strictObject({
    file: z.string().default('data/penguins.json'),
    concurrency: z.number().int().positive().default(2),
  }),
  steps(p, c) {
    const data = p.step(loadPenguins, { file: c.file });
    const islands = p.foreach(data.out.islands, summarizeIsland, (island) => ({ penguins: data.out.penguins, island }), {
      concurrency: c.concurrency,
    });
    const report = p.step(writeReport, { islands: islands.output });
    return { report: report.out.report, heaviestIsland: report.out.heaviestIsland, penguins: data.out.count };
  },
});
