import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { evaluate, predict } from '../lib/ml/index.js';
import type { Model } from '../lib/ml/index.js';
import type { Threshold } from '../pipelines/define.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import type { EvaluationResult, GateResult, RunPlan, TrainResult, TransformResult } from './stage-types.js';

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

export function createEvaluateActivities({ store }: ActivityDeps) {
  return {
    /** Scores the held-out rows and applies the pipeline's gate. */
    async evaluate(plan: RunPlan, data: TransformResult, trained: TrainResult): Promise<EvaluationResult> {
      const pipeline = resolvePipeline(plan.pipeline);
      const { matrix, y } = decodeMatrix(await store.getBytes(data.test.digest));
      const model = JSON.parse((await store.getBytes(trained.model.digest)).toString('utf8')) as Model;
      const all = evaluate(plan.task, y, predict(model, matrix), data.classes?.length);
      const metrics = Object.fromEntries(
        pipeline.evaluation.metrics.map((m) => [m, (all as Record<string, number>)[m]!])
      );
      if (plan.task === 'regression') {
        // The baseline every regression model must beat: predict the training mean for every row.
        const train = decodeMatrix(await store.getBytes(data.train.digest)).y;
        const mean = train.reduce((s, v) => s + v, 0) / train.length;
        metrics.baselineRmse = Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / y.length);
      }
      return { metrics, gate: applyGate(metrics, pipeline.evaluation.gate(plan.config as never)) };
    },
  };
}
