import { canonicalJson } from '../lib/ml/canonical-json.js';
import type { TableStatistics } from '../lib/data/statistics.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import { compileContract } from '../lib/validate/contract.js';
import { packagedView } from '../lib/features/store/lookup.js';
import { storeBundle } from '../lib/pipeline/bundle.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import type {
  Cached,
  DatasetRef,
  EvaluationResult,
  GateResult,
  PackageResult,
  RunPlan,
  TrainResult,
  TransformResult,
} from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

export const PACKAGE_FORMAT = 'cairn.model-package/v1';

/** What a model package holds: what serving needs (ServablePackage), and what traces and rebuilds the model. */
export interface ModelPackage extends ServablePackage {
  format: typeof PACKAGE_FORMAT;
  metrics: Record<string, number>;
  gate: GateResult;
  lineage: {
    dataset: string;
    manifest: string;
    schema: string;
    config: Record<string, unknown>;
    configDigest: string;
    code: RunPlan['code'];
    pipelineVersion: string;
    rows: TransformResult['rows'];
    /** A project pipeline's package: the bundle of the project's code that made it (`cairn bundle`, CAIRN_PROJECT=bundle:…). */
    project?: { bundle: string };
    /** An external trainer's Python environment (lock digest) and its agreement with the ONNX model. */
    trainer?: Pick<TrainResult, 'environment' | 'agreement'>;
  };
}

export function createPackageActivities(deps: ActivityDeps) {
  const { store } = deps;
  return {
    /**
     * Writes the model package as canonical JSON. Nothing in it depends on when or where the run happened (no
     * run id, no time), so the same pipeline, config, data and code give the same package digest.
     */
    async packageModel(
      plan: RunPlan,
      dataset: DatasetRef,
      data: TransformResult,
      trained: TrainResult,
      evaluation: EvaluationResult
    ): Promise<PackageResult & Cached> {
      const pipeline = resolvePipeline(plan.pipeline);
      return trackedStage(
        deps,
        plan,
        'package',
        { artifacts: (r: PackageResult) => ({ package: r.package }), liveness: true },
        async () => {
          const manifest = await store.getJson<{ statistics: TableStatistics }>(dataset.manifest.digest);
          const pkg: ModelPackage = {
            format: PACKAGE_FORMAT,
            pipeline: { name: plan.pipeline, version: plan.pipelineVersion },
            task: plan.task,
            target: pipeline.target.column,
            ...(data.classes ? { classes: data.classes } : {}),
            model: await store.getJson(trained.model.digest),
            features: await store.getJson(data.features.digest),
            contract: compileContract(pipeline.contract),
            referenceStatistics: manifest.statistics,
            metrics: evaluation.metrics,
            gate: evaluation.thresholds,
            ...(pipeline.predictionLog ? { predictionLog: pipeline.predictionLog } : {}),
            ...(pipeline.featureViews?.length
              ? { featureViews: pipeline.featureViews.map(({ view, at }) => packagedView(view, at)) }
              : {}),
            lineage: {
              dataset: dataset.digest,
              manifest: dataset.manifest.digest,
              schema: dataset.schemaDigest,
              config: plan.config,
              configDigest: plan.configDigest,
              code: plan.code,
              pipelineVersion: plan.pipelineVersion,
              rows: data.rows,
              ...(trained.environment || trained.agreement
                ? {
                    trainer: {
                      ...(trained.environment ? { environment: trained.environment } : {}),
                      ...(trained.agreement ? { agreement: trained.agreement } : {}),
                    },
                  }
                : {}),
              ...(plan.nested && deps.project.bundle
                ? { project: { bundle: (await storeBundle(store, deps.project.bundle)).digest } }
                : {}),
            },
          };
          return {
            package: await store.putBytes(canonicalJson(pkg), {
              mediaType: 'application/vnd.cairn.model-package+json',
            }),
          };
        }
      );
    },
  };
}
