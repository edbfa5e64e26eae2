import { patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { parseInput } from './input.js';
import { lifecycleInput, trainAndRelease } from './lifecycle.js';
import type { LifecycleResult } from './lifecycle.js';
import { retrainRequestSignal, statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { StageTracker } from './stages.js';

export const retrainModelInput = lifecycleInput.extend({
  /** Why: `schedule`, a drift report, a person. */
  reason: z.string().min(1).default('manual'),
});
export type RetrainModelInput = z.input<typeof retrainModelInput>;

export interface RetrainModelResult extends LifecycleResult {
  /** The reason it started with and every `retrainRequested` signal it absorbed while running. */
  reasons: string[];
}

/**
 * Retrains a pipeline on its newest data and, if the gate passes, starts a release that waits for a human: never an
 * automatic promotion. Drift alerts reach it by signal-with-start on one workflow id per model, so a burst of alerts
 * while it runs is absorbed as `retrainRequested` signals and gives one run.
 */
export async function retrainModel(raw: RetrainModelInput): Promise<RetrainModelResult> {
  const input = parseInput('retrainModel', retrainModelInput, raw);
  const reasons = [input.reason];
  const status: WorkflowStatus = { stage: 'training', results: { reasons } };
  setHandler(statusQuery, () => status);
  setHandler(retrainRequestSignal, ({ reason }) => {
    if (!reasons.includes(String(reason))) reasons.push(String(reason));
  });
  // One workflow id serves every retraining of a model; each run's training gets an id (and a tracked run) of its own.
  const { workflowId, runId } = workflowInfo();
  const trainingId = patched('retrain-training-id-per-run')
    ? `${workflowId}-train-${runId.slice(0, 8)}`
    : `${workflowId}-train`;
  const result = await trainAndRelease(input, new StageTracker(status), trainingId);
  return { ...result, reasons };
}
