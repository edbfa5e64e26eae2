import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { numeric } from '../../../lib/features/builders.js';
import { PipelineDefinitionError } from '../../../lib/pipeline/pipeline.js';
import { defineTabularPipeline } from '../../../lib/pipeline/tabular.js';

const base = {
  name: 'toy',
  description: 'a toy pipeline',
  version: '1',
  config: z.strictObject({ rounds: z.number().default(5) }),
  source: () => ({ path: 'data.csv' }),
  contract: z.strictObject({ x: z.number(), y: z.number(), when: z.date() }),
  features: () => [numeric('x')],
  split: () => ({ kind: 'random' as const, testFraction: 0.2, seed: 1 }),
  trainer: () => ({ kind: 'linear' as const, l2: 0 }),
};

// Never called: `npm run typecheck` proves each mistake below is a type error (an unused @ts-expect-error fails it).
export function typeErrors() {
  defineTabularPipeline({
    ...base,
    // @ts-expect-error the target must be a contract column
    target: { column: 'price', task: 'regression' },
    evaluation: { metrics: ['rmse'], gate: () => ({}) },
  });
  defineTabularPipeline({
    ...base,
    target: { column: 'y', task: 'regression' },
    // @ts-expect-error accuracy is not a regression metric
    evaluation: { metrics: ['accuracy'], gate: () => ({}) },
  });
  defineTabularPipeline({
    ...base,
    target: { column: 'y', task: 'regression' },
    // @ts-expect-error the gate names a metric the task does not report
    evaluation: { metrics: ['rmse'], gate: () => ({ macroF1: { min: 0.5 } }) },
  });
}

describe('defineTabularPipeline', () => {
  it('accepts a well-formed pipeline', () => {
    const p = defineTabularPipeline({
      ...base,
      target: { column: 'y', task: 'regression' },
      evaluation: { metrics: ['rmse'], gate: () => ({ rmse: { max: 1 } }) },
    });
    expect(p.name).toBe('toy');
  });

  it('names what the type checker cannot see', () => {
    expect(() =>
      defineTabularPipeline({
        ...base,
        name: 'Toy Pipeline',
        features: () => [numeric('z')],
        split: () => ({ kind: 'time' as const, column: 'at', testFraction: 1.5 }),
        trainer: () => ({ kind: 'logistic' as const, l2: 0, maxIterations: 10 }),
        target: { column: 'y', task: 'regression' },
        evaluation: { metrics: ['rmse'], gate: () => ({}) },
      })
    ).toThrow(
      new PipelineDefinitionError(
        'pipeline Toy Pipeline: name "Toy Pipeline" must be kebab-case; feature z reads z, which is not a contract column; ' +
          'split column at is not a contract column; split.testFraction must be between 0 and 1; a logistic trainer cannot learn a regression task (it learns binary, multiclass)'
      )
    );
  });
});
