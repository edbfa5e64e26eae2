// Cairn's example project: flight-delays and penguins as pipelines of steps, loaded like any user project
// (CAIRN_PROJECT=examples). They train the same models as the built-in `trainingPipeline` runs of the same names:
// same dataset and package digests for the same config.
import { definePipeline, defineProject, numeric, tabularModel, tabularRead, trainTabular, z } from 'cairn';
import type { Task, TabularSpec } from 'cairn';
import { flightDelays } from '../pipelines/flight-delays/pipeline.js';
import { penguins } from '../pipelines/penguins/pipeline.js';
import { originDelays, routeDelays } from './features/flight-delays.js';
import { wordnetSearch } from './indexes/wordnet.js';
import { namesTheIsland, penguinIsland } from './prompts/penguin-island.js';

/** A built-in tabular pipeline as a DAG: read its source file, then the tabular recipe's steps. */
function asSteps<const R extends z.ZodObject, const C extends z.ZodObject, const T extends Task>(
  spec: TabularSpec<R, C, T>
) {
  const { name, description, version, config, source, ...model } = spec;
  const trained = tabularModel({ config, ...model });
  return definePipeline({
    name,
    description,
    version,
    config,
    steps(p, c) {
      const read = p.step(tabularRead, source(c));
      const registered = trainTabular(p, trained, { table: read.out.table, source: read.out.source });
      return { model: registered.out.model, version: registered.out.version, package: registered.out.package };
    },
  });
}

/** The views' features, as columns of the joined rows. */
const VIEW_FEATURES = [...originDelays.features, ...routeDelays.features].map((f) => f.name);

/**
 * flight-delays with the delays at the origin airport (last hour, last day) and on the route (last week) as they
 * were known at each departure: feature views joined point in time in training, looked up in Redis when served.
 */
const flightDelaysFeatures = asSteps({
  ...flightDelays,
  name: 'flight-delays-features',
  description: 'flight-delays, plus the recent delays at the origin and on the route (feature views)',
  contract: flightDelays.contract.extend(Object.fromEntries(VIEW_FEATURES.map((name) => [name, z.number()]))),
  features: (c) => [...flightDelays.features(c), ...VIEW_FEATURES.map((name) => numeric(name))],
  featureViews: [
    { view: originDelays, at: 'date' },
    { view: routeDelays, at: 'date' },
  ],
});

export default defineProject({
  pipelines: [asSteps(flightDelays), asSteps(penguins), flightDelaysFeatures, wordnetSearch],
  featureViews: [originDelays, routeDelays],
  prompts: [penguinIsland],
  scorers: [namesTheIsland],
});
