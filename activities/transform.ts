import { Context } from '@temporalio/activity';
import { buildMatrix, encodeTarget, fitFeatures } from '../lib/features/matrix.js';
import { encodeMatrix } from '../lib/features/matrix-codec.js';
import { splitRows } from '../lib/features/split.js';
import type { Table } from '../lib/data/table.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { compileContract } from '../lib/validate/contract.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { TabularPipeline } from '../lib/pipeline/tabular.js';
import { loadDataset } from './dataset.js';
import type { ActivityDeps } from './deps.js';
import type { Cached, DatasetRef, RunPlan, TransformResult } from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

/** Class names of a classification target: the contract's allowed values, else the sorted observed ones. */
function classesOf(pipeline: TabularPipeline, observed: string[]): string[] {
  const rule = compileContract(pipeline.contract).find((r) => r.column === pipeline.target.column);
  return rule?.allowed ?? [...new Set(observed)].sort();
}

/** Keeps the rows whose target is known. */
function withTarget(rows: Int32Array, y: Float64Array): { rows: Int32Array; y: Float64Array } {
  let n = 0;
  for (let i = 0; i < y.length; i++) if (!Number.isNaN(y[i]!)) n++;
  if (n === y.length) return { rows, y };
  const keptRows = new Int32Array(n);
  const keptY = new Float64Array(n);
  for (let i = 0, j = 0; i < y.length; i++) {
    if (Number.isNaN(y[i]!)) continue;
    keptRows[j] = rows[i]!;
    keptY[j++] = y[i]!;
  }
  return { rows: keptRows, y: keptY };
}

/** The run's split of the snapshot: training and held-out rows with their targets (rows without one dropped). */
export function splitForRun(pipeline: TabularPipeline, plan: RunPlan, table: Table) {
  const split = splitRows(table, pipeline.split(plan.config as never));
  const target = table.columns[pipeline.target.column];
  const classes =
    plan.task === 'regression' ? undefined : classesOf(pipeline, target?.type === 'string' ? target.dictionary : []);
  const train = withTarget(split.train, encodeTarget(table, pipeline.target.column, split.train, classes));
  const test = withTarget(split.test, encodeTarget(table, pipeline.target.column, split.test, classes));
  return {
    train,
    test,
    classes,
    dropped: split.train.length + split.test.length - train.rows.length - test.rows.length,
  };
}

export function createTransformActivities(deps: ActivityDeps) {
  const { store } = deps;
  return {
    /**
     * Splits the snapshot, fits the pipeline's features on the training rows only and writes the training and
     * held-out feature matrices and the fitted feature state to the store.
     */
    async transform(plan: RunPlan, dataset: DatasetRef): Promise<TransformResult & Cached> {
      const pipeline = resolvePipeline(plan.pipeline);
      const config = plan.config as never;
      const defs = pipeline.features(config);
      const inputs = {
        dataset: dataset.digest,
        pipelineVersion: plan.pipelineVersion,
        features: defs.map(({ name, kind, params, inputs }) => ({ name, kind, params: params ?? null, inputs })),
        split: pipeline.split(config),
        target: pipeline.target,
      };
      return trackedStage(
        deps,
        plan,
        'transform',
        {
          cache: { implementation: 'transform/1', inputs },
          artifacts: (r: TransformResult) => ({ train: r.train, test: r.test, features: r.features }),
          liveness: true,
        },
        async () => {
          const table = await loadDataset(store, dataset.digest, dataset.data.digest);
          const { train, test, classes, dropped } = splitForRun(pipeline, plan, table);
          Context.current().heartbeat({ stage: 'fit' });
          const specs = fitFeatures(defs, table, train.rows);
          const matrix = (part: { rows: Int32Array; y: Float64Array }) =>
            store.putBytes(encodeMatrix({ matrix: buildMatrix(defs, specs, table, part.rows), y: part.y }));
          return {
            train: await matrix(train),
            test: await matrix(test),
            features: await store.putBytes(canonicalJson(specs), { mediaType: 'application/json' }),
            rows: { train: train.rows.length, test: test.rows.length, dropped },
            ...(classes ? { classes } : {}),
          };
        }
      );
    },
  };
}
