// Bring your own trainer: flight delays trained by scikit-learn in Python (train.py), in a virtualenv Cairn builds from
// requirements.txt, exported to ONNX and served by Cairn like any model. Everything but the trainer is the built-in
// flight-delays pipeline: its data, contract, features, split, gate and monitoring.
import { definePipeline, defineProject, tabularModel, tabularRead, trainTabular, z } from 'cairn';
import { flightDelays } from '../../pipelines/flight-delays/pipeline.js';

const { config: base, source, name: _name, description: _description, version: _version, ...model } = flightDelays;
const config = base.extend({ checkpointEvery: z.number().int().positive().default(10) });

const trained = tabularModel({
  ...model,
  config,
  trainer: (c) => ({
    kind: 'external',
    command: ['python', 'train.py'],
    requirements: 'requirements.txt',
    params: {
      max_iter: c.rounds,
      learning_rate: c.learningRate,
      max_depth: c.maxDepth,
      min_samples_leaf: c.minDataInLeaf,
      max_bins: c.bins,
      checkpoint_every: c.checkpointEvery,
    },
    seed: c.seed,
  }),
});

export const flightDelaysSklearn = definePipeline({
  name: 'flight-delays-sklearn',
  description: 'Arrival delay in minutes, trained by scikit-learn (HistGradientBoostingRegressor) and served as ONNX.',
  version: '1',
  config,
  steps(p, c) {
    const read = p.step(tabularRead, source(c));
    const registered = trainTabular(p, trained, { table: read.out.table, source: read.out.source });
    return { model: registered.out.model, version: registered.out.version, package: registered.out.package };
  },
});

export default defineProject({ pipelines: [flightDelaysSklearn] });
