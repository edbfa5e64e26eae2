import { UnknownPipelineError } from '../lib/pipeline/project.js';
import { FeatureStateError } from '../lib/features/matrix.js';
import { createScorer } from '../lib/scoring/scorer.js';
import type { Scorer, ServablePackage } from '../lib/scoring/scorer.js';
import type { Pipeline } from './define.js';
import { flightDelays } from './flight-delays/pipeline.js';
import { penguins } from './penguins/pipeline.js';

/** Every pipeline, by name. Add a pipeline by adding it here. */
export const PIPELINES: Record<string, Pipeline> = Object.fromEntries(
  [flightDelays, penguins].map((p) => [p.name, p as unknown as Pipeline])
);

export { UnknownPipelineError };

export function resolvePipeline(name: string): Pipeline {
  const pipeline = PIPELINES[name];
  if (!pipeline) throw new UnknownPipelineError(name, Object.keys(PIPELINES));
  return pipeline;
}

/**
 * The scorer of a model package, with its pipeline's feature code for the package's config. A package made by
 * another version of the pipeline is refused: its features might not mean what this code computes.
 */
export function scorerFor(pkg: ServablePackage): Scorer {
  const pipeline = resolvePipeline(pkg.pipeline.name);
  if (pipeline.version !== pkg.pipeline.version) {
    throw new FeatureStateError(
      `the package was made by pipeline ${pkg.pipeline.name} version ${pkg.pipeline.version}; this code is version ${pipeline.version}`
    );
  }
  return createScorer(pkg, pipeline.features(pipeline.config.parse(pkg.lineage.config)));
}
