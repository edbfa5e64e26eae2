import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { numeric } from '../../../lib/features/builders.js';
import { definePipeline, PipelineDefinitionError } from '../../../lib/pipeline/pipeline.js';
import { artifactRef, defineStep } from '../../../lib/pipeline/step.js';
import { tabularModel, trainTabular } from '../../../lib/pipeline/tabular-recipe.js';
import { resolveTabular } from '../../../lib/pipeline/tabular.js';
import { runLocally } from '../../../lib/pipeline/testing.js';
import type { PipelineBuilder } from '../../../lib/pipeline/pipeline.js';

const config = z.strictObject({ rounds: z.number().int().positive().default(5) });
const spec = (trainer: (c: z.output<typeof config>) => { kind: 'linear'; l2: number }) =>
  tabularModel({
    config,
    contract: z.strictObject({ x: z.number(), y: z.number() }),
    features: () => [numeric('x')],
    target: { column: 'y', task: 'regression' },
    split: () => ({ kind: 'random', testFraction: 0.25, seed: 1 }),
    trainer,
    evaluation: { metrics: ['rmse'], gate: () => ({}) },
  });
const model = spec((c) => ({ kind: 'linear', l2: c.rounds }));

const makeTable = defineStep({
  name: 'make-table',
  version: '1',
  input: z.object({}),
  output: z.object({ table: artifactRef }),
  run: async (ctx) => ({ table: await ctx.store.putJson([]) }),
});

const pipeline = (name: string, m = model, c: z.ZodObject = config) =>
  definePipeline({
    name,
    version: '1',
    config: c,
    steps(p: PipelineBuilder) {
      const made = p.step(makeTable, {});
      return { version: trainTabular(p, m, { table: made.out.table }).out.version };
    },
  });

describe('the tabular recipe', () => {
  it("wires Cairn's built-in steps after the project's, and registers the model under the pipeline's name", () => {
    const p = pipeline('recipe-wiring');
    const { plan } = p.plan(config.parse({}));
    expect(plan.nodes.map((n) => `${n.id}:${n.queue}`)).toEqual([
      'make-table:light',
      'tabular-dataset:heavy',
      'tabular-validate:heavy',
      'tabular-transform:heavy',
      'tabular-train:heavy',
      'tabular-evaluate:heavy',
      'tabular-package:light',
      'tabular-register:light',
    ]);
    // Every built-in step's input carries the model spec's digest: an edit to the spec misses the cache.
    for (const node of plan.nodes.slice(1)) expect(node.input).toMatchObject({ model: model.digest });
    expect(resolveTabular('recipe-wiring').target).toEqual({ column: 'y', task: 'regression' });
  });

  it('gives a different digest to a different spec, and refuses it under a taken name', () => {
    // The digest covers the spec's code: an edited trainer function is another model (a closure's captured values
    // are not code, so config belongs in `config`).
    const other = spec((c) => ({ kind: 'linear', l2: c.rounds * 2 }));
    expect(other.digest).not.toBe(model.digest);
    expect(spec((c) => ({ kind: 'linear', l2: c.rounds })).digest).toBe(model.digest);
    pipeline('recipe-taken');
    expect(() => pipeline('recipe-taken', other)).toThrow(/two different tabular pipelines are named recipe-taken/);
  });

  it("refuses a model whose config is not the pipeline's own", () => {
    const elsewhere = z.strictObject({ rounds: z.number().default(5) });
    expect(() => pipeline('recipe-config', model, elsewhere)).toThrow(PipelineDefinitionError);
  });

  it('says that its steps need a worker when run in process', async () => {
    await expect(runLocally(pipeline('recipe-local'))).rejects.toThrow(
      /tabular-dataset is a built-in step: it runs on a Cairn worker/
    );
  });
});
