// Cairn's example project: flight-delays and penguins as pipelines of steps, loaded like any user project
// (CAIRN_PROJECT=examples). They train the same models as the built-in `trainingPipeline` runs of the same names:
// same dataset and package digests for the same config.
import { definePipeline, defineProject, tabularModel, tabularRead, trainTabular } from 'cairn';
import type { Task, TabularSpec, z } from 'cairn';
import { flightDelays } from '../pipelines/flight-delays/pipeline.js';
import { penguins } from '../pipelines/penguins/pipeline.js';

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

export default defineProject({ pipelines: [asSteps(flightDelays), asSteps(penguins)] });
