import { UnknownPipelineError } from '../lib/pipeline/project.js';
import type { TabularPipeline } from '../lib/pipeline/tabular.js';
import { flightDelays } from './flight-delays/pipeline.js';
import { penguins } from './penguins/pipeline.js';

/** Every pipeline, by name. Add a pipeline by adding it here. */
export const PIPELINES: Record<string, TabularPipeline> = Object.fromEntries(
  [flightDelays, penguins].map((p) => [p.name, p as unknown as TabularPipeline])
);

export { UnknownPipelineError };

export function resolvePipeline(name: string): TabularPipeline {
  const pipeline = PIPELINES[name];
  if (!pipeline) throw new UnknownPipelineError(name, Object.keys(PIPELINES));
  return pipeline;
}
