import { UnknownPipelineError } from '../lib/pipeline/project.js';
import { registerTabular, resolveTabular } from '../lib/pipeline/tabular.js';
import type { TabularPipeline } from '../lib/pipeline/tabular.js';
import { flightDelays } from './flight-delays/pipeline.js';
import { penguins } from './penguins/pipeline.js';

/** Every pipeline, by name. Add a pipeline by adding it here. */
export const PIPELINES: Record<string, TabularPipeline> = Object.fromEntries(
  [flightDelays, penguins].map((p) => [p.name, p as unknown as TabularPipeline])
);

export { UnknownPipelineError };

for (const pipeline of Object.values(PIPELINES)) registerTabular(pipeline);

/** A tabular pipeline by name: a built-in one, or one a loaded project trains with `trainTabular`. */
export function resolvePipeline(name: string): TabularPipeline {
  return resolveTabular(name);
}
