import { ArtifactIntegrityError, ArtifactNotFoundError } from '../lib/artifacts/index.js';
import { buildMatrix, FeatureStateError } from '../lib/features/matrix.js';
import type { FeatureSpec } from '../lib/features/feature.js';
import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { evaluate, predictModel } from '../lib/ml/index.js';
import type { FeatureMatrix, Model } from '../lib/ml/index.js';
import { findVersion } from '../lib/registry/models.js';
import { recordMetrics } from '../lib/tracking/runs.js';
import { LOWER_IS_BETTER } from '../lib/pipeline/tabular.js';
import type { TabularPipeline, Threshold } from '../lib/pipeline/tabular.js';
import { resolvePipeline } from '../pipelines/index.js';
import { loadDataset } from './dataset.js';
import type { ActivityDeps } from './deps.js';
import type { ModelPackage } from './package.js';
import type {
  ChampionComparison,
  Cached,
  DatasetRef,
  EvaluationResult,
  GateResult,
  RunPlan,
  TrainResult,
  TransformResult,
} from '../lib/pipeline/stage-types.js';
import { splitForRun } from './transform.js';
import { trackedStage } from './tracked-stage.js';

/** Checks metrics against the pipeline's absolute thresholds; every failing bound is a reason. */
export function applyGate(metrics: Record<string, number>, gate: Record<string, Threshold | undefined>): GateResult {
  const reasons: string[] = [];
  for (const [metric, bound] of Object.entries(gate)) {
    if (!bound) continue;
    const value = metrics[metric];
    if (value === undefined || Number.isNaN(value)) reasons.push(`${metric} was not measured`);
    else if (bound.min !== undefined && value < bound.min)
      reasons.push(`${metric} ${value.toFixed(4)} < minimum ${bound.min}`);
    else if (bound.max !== undefined && value > bound.max)
      reasons.push(`${metric} ${value.toFixed(4)} > maximum ${bound.max}`);
  }
  return { passed: reasons.length === 0, reasons };
}

/** Whether the candidate beats the champion, or is worse by no more than `maxRegression`. */
export function compareWithChampion(
  metric: string,
  candidate: number,
  champion: number,
  maxRegression: number,
  version: number
) {
  const worseBy = LOWER_IS_BETTER.has(metric) ? candidate - champion : champion - candidate;
  const passed = worseBy <= maxRegression;
  const comparison: ChampionComparison = { version, metric, candidate, champion, passed };
  const reason = passed
    ? undefined
    : `${metric} ${candidate.toFixed(4)} is worse than champion v${version}'s ${champion.toFixed(4)} by ${worseBy.toFixed(4)} (allowed ${maxRegression})`;
  return { comparison, reason };
}

async function metricsOf(
  pipeline: TabularPipeline,
  plan: RunPlan,
  y: Float64Array,
  model: Model,
  x: FeatureMatrix,
  numClasses?: number
) {
  const all = evaluate(plan.task, y, await predictModel(model, x), numClasses) as Record<string, number>;
  return Object.fromEntries(pipeline.evaluation.metrics.filter((m) => all[m] !== undefined).map((m) => [m, all[m]!]));
}

export function createEvaluateActivities(deps: ActivityDeps) {
  const { db, store } = deps;

  /** The champion's metrics on this run's held-out rows, computed with its own fitted features; or why not. */
  async function scoreChampion(pipeline: TabularPipeline, plan: RunPlan, dataset: DatasetRef, packageDigest: string) {
    try {
      const pkg = await store.getJson<ModelPackage>(packageDigest);
      const table = await loadDataset(store, dataset.digest, dataset.data.digest);
      const { test } = splitForRun(pipeline, plan, table);
      const x = buildMatrix(pipeline.features(plan.config as never), pkg.features as FeatureSpec[], table, test.rows);
      return await metricsOf(pipeline, plan, test.y, pkg.model as Model, x, pkg.classes?.length);
    } catch (err) {
      if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError)
        return `its package: ${err.message}`;
      if (err instanceof FeatureStateError) return err.message;
      throw err;
    }
  }

  return {
    /**
     * Scores the held-out rows, applies the pipeline's absolute gate, and, when the model has a champion, scores
     * the champion on the same held-out rows (with its own fitted features) and requires the candidate to beat it
     * or regress by no more than the pipeline's threshold.
     */
    async evaluate(
      plan: RunPlan,
      data: TransformResult,
      trained: TrainResult,
      dataset: DatasetRef
    ): Promise<EvaluationResult & Cached> {
      const pipeline = resolvePipeline(plan.pipeline);
      return trackedStage(deps, plan, 'evaluate', { artifacts: () => ({}), liveness: true }, async () => {
        const { matrix, y } = decodeMatrix(await store.getBytes(data.test.digest));
        const model = await store.getJson<Model>(trained.model.digest);
        const metrics = await metricsOf(pipeline, plan, y, model, matrix, data.classes?.length);
        if (plan.task === 'regression') {
          // The baseline every regression model must beat: predict the training mean for every row.
          const train = decodeMatrix(await store.getBytes(data.train.digest)).y;
          const mean = train.reduce((s, v) => s + v, 0) / train.length;
          metrics.baselineRmse = Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / y.length);
        }
        const thresholds = applyGate(metrics, pipeline.evaluation.gate(plan.config as never));
        const gate: GateResult = { passed: thresholds.passed, reasons: [...thresholds.reasons] };

        const champion = await findVersion(db, { model: plan.model, alias: 'champion' });
        if (champion) {
          const rule = pipeline.evaluation.champion ?? { metric: pipeline.evaluation.metrics[0]!, maxRegression: 0 };
          const scored = await scoreChampion(pipeline, plan, dataset, champion.packageDigest);
          if (typeof scored === 'string') {
            // A champion that cannot be scored (its package is gone, or the pipeline's features changed) cannot
            // block a candidate; the note says why there was no comparison.
            gate.notes = [`champion v${champion.version} not compared: ${scored}`];
          } else if (scored[rule.metric] !== undefined) {
            const { comparison, reason } = compareWithChampion(
              rule.metric,
              metrics[rule.metric]!,
              scored[rule.metric]!,
              rule.maxRegression,
              champion.version
            );
            gate.champion = comparison;
            if (reason) {
              gate.reasons.push(reason);
              gate.passed = false;
            }
          }
        }
        await recordMetrics(db, plan.runId, metrics);
        return { metrics, gate, thresholds };
      });
    },
  };
}
