import { canonicalJson } from '../lib/ml/canonical-json.js';
import { compileContract } from '../lib/validate/contract.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import type {
  DatasetRef,
  EvaluationResult,
  PackageResult,
  RunPlan,
  TrainResult,
  TransformResult,
} from './stage-types.js';

export const PACKAGE_FORMAT = 'cairn.model-package/v1';

export function createPackageActivities({ store }: ActivityDeps) {
  const json = async (digest: string) => JSON.parse((await store.getBytes(digest)).toString('utf8')) as unknown;
  return {
    /**
     * Writes the model package: model, fitted features, feature spec, data contract, reference statistics, metrics
     * and lineage, as canonical JSON. Nothing in it depends on when or where the run happened, so the same
     * pipeline, config, data and code give the same package digest.
     */
    async packageModel(
      plan: RunPlan,
      dataset: DatasetRef,
      data: TransformResult,
      trained: TrainResult,
      evaluation: EvaluationResult
    ): Promise<PackageResult> {
      const pipeline = resolvePipeline(plan.pipeline);
      const manifest = (await json(dataset.manifest.digest)) as { statistics: unknown };
      const pkg = {
        format: PACKAGE_FORMAT,
        pipeline: { name: plan.pipeline, version: plan.pipelineVersion },
        task: plan.task,
        target: pipeline.target.column,
        ...(data.classes ? { classes: data.classes } : {}),
        model: await json(trained.model.digest),
        features: await json(data.features.digest),
        contract: compileContract(pipeline.contract),
        referenceStatistics: manifest.statistics,
        metrics: evaluation.metrics,
        gate: evaluation.gate,
        lineage: {
          dataset: dataset.digest,
          manifest: dataset.manifest.digest,
          schema: dataset.schemaDigest,
          config: plan.config,
          configDigest: plan.configDigest,
          code: plan.code,
          pipelineVersion: plan.pipelineVersion,
          rows: data.rows,
        },
      };
      return {
        package: await store.putBytes(canonicalJson(pkg), { mediaType: 'application/vnd.cairn.model-package+json' }),
      };
    },
  };
}
