import {
  ActivityFailure,
  condition,
  continueAsNew,
  defineSignal,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { ReportSummary } from '../activities/monitor.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { CairnModel } from './search-attributes.js';
import { StageTracker } from './stages.js';
import { boundedRetry } from './retry.js';
import { notify } from './notify.js';

export const monitorModelInput = z.strictObject({
  model: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a model name'),
  environment: z.string().min(1).default('production'),
  /** Overrides the pipeline policy's interval (tests, demos). */
  interval: z
    .union([z.number().int().positive(), z.string().regex(/^\d+(ms|s|m|h|d)$/, "expected a duration like '1h'")])
    .optional(),
  /** Checks per run before continue-as-new keeps the history short. @default 100 */
  checksPerRun: z.number().int().min(1).default(100),
  /** Carried across continue-as-new: the number of the last check and where the next window starts. */
  state: z.strictObject({ seq: z.number().int().min(0), since: z.string() }).optional(),
});
export type MonitorModelInput = z.input<typeof monitorModelInput>;

/** Stops the monitor: the token must hold `release:<model>` (histories from before tokens carry a `by` name). */
export const stopMonitorSignal = defineSignal<[{ token: string; reason?: string }]>('stop');
/** Runs the next check now instead of at the end of the interval (`cairn monitor check`). */
export const checkNowSignal = defineSignal('checkNow');

const { monitorSetup, requestRetraining, authorizeRelease } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

/**
 * Watches one deployment: every interval, a check over the serving feed since the last one (drift, decay, latency,
 * volume, cost) stored as a report; an alert starts a retraining per the pipeline's policy. Runs until the model
 * no longer serves in the environment or a `stop` signal; continues as new every `checksPerRun` checks with its
 * state (check number, window start) in the input.
 */
export async function monitorModel(raw: MonitorModelInput): Promise<{ checks: number; reason: string }> {
  const input = parseInput('monitorModel', monitorModelInput, raw);
  const { model, environment } = input;
  const info = workflowInfo();
  // Reports are keyed by (monitor, seq). The workflow id alone is reused by a monitor started again for the same
  // deployment, or reset: its reports would collide with the old ones'. The run id is unique per execution, and
  // continue-as-new carries seq on, so (workflow id @ run id, seq) names one check of one execution.
  const monitorId = patched('monitor-id-per-run') ? `${info.workflowId}@${info.runId}` : info.workflowId;
  const status: WorkflowStatus = { stage: 'watching', results: {} };
  const stages = new StageTracker(status);
  setHandler(statusQuery, () => status);
  let stopped: string | undefined;
  setHandler(stopMonitorSignal, async (payload) => {
    if (!patched('token-stop')) {
      stopped = `stopped by ${String((payload as { by?: unknown }).by)}`;
      return;
    }
    // Stopping the watch on a deployment is the release owner's call: a token holding release:<model>, audited.
    const reason = await authorizedStop(monitorId, `release:${model}`, payload, status);
    if (reason) stopped = reason;
  });
  let checkNow = false;
  setHandler(checkNowSignal, () => void (checkNow = true));
  upsertSearchAttributes([{ key: CairnModel, value: model }]);

  const setup = await monitorSetup(model, environment);
  const interval = input.interval ?? setup.interval;
  const checks = heavy(info.taskQueue);
  let seq = input.state?.seq ?? 0;
  // The first window starts when the monitor did: traffic from then on is judged.
  let since = input.state?.since ?? info.startTime.toISOString();
  status.results.seq = seq;

  for (let i = 0; i < input.checksPerRun; i++) {
    await condition(() => stopped !== undefined || checkNow, interval);
    if (stopped) break;
    checkNow = false;
    const to = new Date().toISOString();
    seq += 1;
    try {
      const report: ReportSummary = await checks.monitorCheck({ monitorId, seq, model, environment, from: since, to });
      since = to;
      status.results.seq = seq;
      status.results.last = report;
      if (!report.deployed) return { checks: seq, reason: `${model} no longer serves in ${environment}` };
      if (report.status === 'alert') {
        // One message per alert: its id is the check's (seq carries on across continue-as-new).
        await notify({
          type: 'alert',
          seq,
          model,
          environment,
          ...(report.version === undefined ? {} : { version: report.version }),
          ...(report.reportId === undefined ? {} : { reportId: report.reportId }),
          summary: report.reason,
        });
      }
      if (report.status === 'alert' && setup.retrain === 'on-alert') {
        stages.enter('requesting retraining');
        await requestRetraining({
          monitorId,
          seq,
          pipeline: setup.pipeline,
          model,
          environment,
          reason: report.reason,
        });
      }
    } catch (err) {
      // A dependency away for longer than a check's retries (the database restarting for minutes, say) costs that
      // check, not the monitor: the next one covers the missed window too. What a retry cannot fix still fails it.
      if (!outlastedRetries(err) || !patched('monitor-survives-failed-checks')) throw err;
      log.warn('check failed after its retries; the next check covers its window', {
        seq,
        since,
        error: String(err.cause),
      });
      status.results.failedCheck = { seq, error: String(err.cause) };
    }
    stages.enter('watching');
    if (workflowInfo().continueAsNewSuggested) break;
  }
  if (stopped) return { checks: seq, reason: stopped };
  return continueAsNew<typeof monitorModel>({ ...input, state: { seq, since } });
}

/**
 * What a `stop` signal asks, if its token holds `role` (checked and audited by an activity): the reason the monitor
 * stops. A refused stop is logged and shown in the status, and the monitor goes on (undefined).
 */
export async function authorizedStop(
  monitorId: string,
  role: `release:${string}`,
  payload: { token: string; reason?: string },
  status: WorkflowStatus
): Promise<string | undefined> {
  const auth = await authorizeRelease({
    subject: monitorId,
    token: typeof payload.token === 'string' ? payload.token : undefined,
    role,
    action: 'monitor.stop',
    audit: 'always',
  }).catch((err: unknown) => ({ principal: undefined, refusal: `the token could not be checked: ${String(err)}` }));
  if (auth.refusal === undefined) return `stopped by ${auth.principal}${payload.reason ? `: ${payload.reason}` : ''}`;
  log.warn('stop refused', { refusal: auth.refusal });
  status.results.refusedStop = auth.refusal;
  return undefined;
}

/** An activity that failed on its retries running out (or its timeout), not on an error a retry cannot fix. */
function outlastedRetries(err: unknown): err is ActivityFailure {
  return (
    err instanceof ActivityFailure &&
    (err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED || err.retryState === RetryState.TIMEOUT)
  );
}

function heavy(taskQueue: string) {
  // A check reads the training reference and computes drift over many rows: CPU work, on the train queue.
  return proxyActivities<Activities>({
    taskQueue: `${taskQueue}-train`,
    startToCloseTimeout: '10m',
    heartbeatTimeout: '1m',
    retry: boundedRetry({ maximumAttempts: 10 }),
  });
}
