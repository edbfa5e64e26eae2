import type { Client } from '@temporalio/client';
import { retrainRequestSignal } from '../workflows/messages.js';
import type { RetrainModelInput } from '../workflows/retrain-model.js';

export interface RetrainRequest {
  pipeline: string;
  /** The model the alert is about; one retraining at a time per model. @default the pipeline name */
  model?: string;
  reason: string;
  taskQueue: string;
  environment?: string;
  /** The config of the run: the monitored model's own, so a retraining reads the source that model was trained on. */
  config?: Record<string, unknown>;
}

/**
 * Asks for a retraining with signal-with-start on the workflow id `retrain-<model>`: the first request starts
 * `retrainModel`, and requests while it runs become `retrainRequested` signals to it, so a burst of alerts gives one
 * run. Returns the run that handles the request.
 */
export async function requestRetrain(
  client: Client,
  r: RetrainRequest
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = `retrain-${r.model ?? r.pipeline}`;
  const input: RetrainModelInput = {
    pipeline: r.pipeline,
    // A model registered under a name of its own is retrained under that name.
    ...(r.model && r.model !== r.pipeline ? { model: r.model } : {}),
    reason: r.reason,
    trigger: 'drift',
    ...(r.environment ? { environment: r.environment } : {}),
    ...(r.config ? { config: r.config } : {}),
  };
  const handle = await client.workflow.signalWithStart('retrainModel', {
    workflowId,
    taskQueue: r.taskQueue,
    args: [input],
    signal: retrainRequestSignal,
    signalArgs: [{ reason: r.reason }],
  });
  return { workflowId, runId: handle.signaledRunId };
}
