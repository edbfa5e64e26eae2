import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { boundedRetry } from './retry.js';

const { prunePredictionLog } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: boundedRetry({ maximumAttempts: 5 }),
});

/**
 * Enforces the prediction log's retention: started by the `prune-prediction-log` schedule (`cairn schedule
 * prune-logs`), it deletes each model's logged rows older than its pipeline's `predictionLog.retention`.
 */
export async function pruneLogs(): Promise<{ versions: number; deleted: number; unreadable: string[] }> {
  return prunePredictionLog();
}
