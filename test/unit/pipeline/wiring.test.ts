import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePipeline, PipelineDefinitionError } from '../../../lib/pipeline/index.js';
import { resolveTemplate } from '../../../lib/pipeline/template.js';
import { fanOut } from '../../fixtures/project/cairn.config.js';
import { combine, makeList, square, summarize } from '../../fixtures/project/steps.js';

describe('pipeline wiring', () => {
  it('plans a DAG: dependencies from references, a foreach over a list, outputs as a template', () => {
    const { plan, steps } = fanOut.plan(fanOut.config.parse({}));
    expect(plan.nodes.map((n) => [n.id, n.queue, n.after])).toEqual([
      ['make-list', 'light', []],
      ['summarize', 'light', ['make-list']],
      ['square', 'heavy', ['make-list']],
      ['combine', 'light', ['square', 'summarize']],
    ]);
    expect(plan.nodes[2]!.foreach).toEqual({ over: { $ref: { node: 'make-list', path: ['items'] } }, concurrency: 3 });
    expect(plan.nodes[2]!.input).toEqual({ x: { $ref: { item: true, path: [] } }, delayMs: 400 });
    expect([...steps.keys()]).toEqual(['make-list', 'summarize', 'square', 'combine']);
    // The plan is JSON: it survives a round trip through Temporal's payloads unchanged.
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('resolves references against outputs and the current item', () => {
    const outputs = { a: { items: [1, 2], nested: { v: 'x' } } };
    expect(
      resolveTemplate(
        { k: { $ref: { node: 'a', path: ['nested', 'v'] } }, i: { $ref: { item: true, path: [] } } },
        outputs,
        {
          value: 7,
        }
      )
    ).toEqual({ k: 'x', i: 7 });
    expect(() => resolveTemplate({ $ref: { node: 'a', path: ['missing'] } }, outputs)).toThrow(/has no field missing/);
  });

  it('refuses duplicate ids and a pipeline without steps when it is defined', () => {
    expect(() =>
      definePipeline({
        name: 'dupes',
        version: '1',
        steps(p) {
          p.step(makeList, { n: 1 }, { id: 'same' });
          p.step(makeList, { n: 2 }, { id: 'same' });
        },
      })
    ).toThrow(/two nodes have the id same/);
    expect(() => definePipeline({ name: 'empty', version: '1', steps: () => undefined })).toThrow(
      PipelineDefinitionError
    );
    expect(() =>
      definePipeline({
        name: 'no-defaults',
        version: '1',
        config: z.strictObject({ n: z.number() }),
        steps: () => undefined,
      })
    ).toThrow(/every key needs a default/);
  });

  it('rejects mistyped wiring at compile time (npm run typecheck checks these lines)', () => {
    const build = () =>
      definePipeline({
        name: 'mistyped',
        version: '1',
        steps(p) {
          const list = p.step(makeList, { n: 3 });
          const summary = p.step(summarize, { items: list.out.items });
          // @ts-expect-error a number (count) wired into a number[] input (items)
          p.step(summarize, { items: summary.out.count });
          // @ts-expect-error a string constant where a number is expected
          p.step(makeList, { n: 'three' });
          // @ts-expect-error a field the step's output does not have
          p.step(makeList, { n: summary.out.mean });
          // @ts-expect-error a foreach over a number instead of a list
          p.foreach(summary.out.count, square, (x) => ({ x, delayMs: 0 }));
          // @ts-expect-error the join is a list of squares, not a number
          p.step(combine, { squares: summary.out.total, count: summary.out.count });
          // @ts-expect-error a missing input field
          p.step(combine, { count: 1 });
        },
      });
    // Plain JavaScript gets no compile error, so the same mistakes also fail at run time, on the step's schema.
    const { plan } = build().plan({});
    const wrong = plan.nodes.find((n) => n.id === 'summarize-2')!;
    const input = resolveTemplate(wrong.input, { summarize: { count: 3 } });
    expect(summarize.input.safeParse(input).success).toBe(false);
    expect(makeList.input.safeParse({ n: 'three' }).success).toBe(false);
  });
});

describe('runLocally', () => {
  it('runs a pipeline in process with the same checks, for a project’s unit tests', async () => {
    const { runLocally } = await import('../../../lib/pipeline/index.js');
    const run = await runLocally(fanOut, { config: { n: 8, delayMs: 0 } });
    expect(run.outputs).toMatchObject({ sumOfSquares: 204, count: 8 });
    expect((run.steps.square as unknown[]).length).toBe(8);
    const report = run.outputs.report as { digest: string };
    expect(await run.store.getJson(report.digest)).toEqual({ items: [1, 2, 3, 4, 5, 6, 7, 8], total: 36 });
    await expect(runLocally(fanOut, { config: { n: 13, delayMs: 0 } })).rejects.toThrow(/13 is refused/);
    await expect(runLocally(fanOut, { config: { n: 0 } })).rejects.toThrow(/make-list.*invalid input: n:/);
  });

  it('gives ctx.config only to steps that declare usesConfig, so no step reads config its cache key misses', async () => {
    const { defineStep, runLocally, z } = await import('../../../lib/pipeline/index.js');
    const output = z.strictObject({ n: z.number() });
    const sneaky = defineStep({
      name: 'sneaky',
      version: '1',
      input: z.strictObject({}),
      output,
      run: (ctx) => ({ n: ctx.config.n as number }),
    });
    const declared = defineStep({ ...sneaky, name: 'declared', usesConfig: true });
    const config = z.strictObject({ n: z.number().default(4) });
    const pipeline = (step: typeof sneaky | typeof declared) =>
      definePipeline({ name: 'config-reader', version: '1', config, steps: (p) => ({ n: p.step(step, {}).out.n }) });
    await expect(runLocally(pipeline(sneaky))).rejects.toThrow(
      /reads ctx.config.n but does not declare usesConfig: true/
    );
    expect((await runLocally(pipeline(declared))).outputs).toEqual({ n: 4 });
  });
});
