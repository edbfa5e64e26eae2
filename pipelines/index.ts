import type { Pipeline } from './define.js';
import { flightDelays } from './flight-delays/pipeline.js';
import { penguins } from './penguins/pipeline.js';

/** Every pipeline, by name. Add a pipeline by adding it here. */
export const PIPELINES: Record<string, Pipeline> = Object.fromEntries(
  [flightDelays, penguins].map((p) => [p.name, p as unknown as Pipeline])
);

export class UnknownPipelineError extends Error {
  override readonly name = 'UnknownPipelineError';
  readonly userFacing = true;
  constructor(readonly pipeline: string) {
    super(`unknown pipeline ${JSON.stringify(pipeline)} (known: ${Object.keys(PIPELINES).sort().join(', ')})`);
  }
}

export function resolvePipeline(name: string): Pipeline {
  const pipeline = PIPELINES[name];
  if (!pipeline) throw new UnknownPipelineError(name);
  return pipeline;
}
