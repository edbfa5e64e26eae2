import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { AliasCheckInput, AliasCheckSummary } from '../activities/alias-monitor.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { authorizedStop, checkNowSignal, stopMonitorSignal } from './monitor-model.js';
import { notify } from './notify.js';
import { boundedRetry } from './retry.js';
import { StageTracker } from './stages.js';

const NAME = /^[a-z][a-z0-9-]*$/;

/** What both monitors take beside the name of what they watch. */
const monitorFields = {
  alias: z.string().min(1).default('production'),
  interval: z
    .union([z.number().int().positive(), z.string().regex(/^\d+(ms|s|m|h|d)$/, "expected a duration like '1h'")])
    .default('15m'),
  checksPerRun: z.number().int().min(1).default(100),
  state: z.strictObject({ seq: z.number().int().min(0), since: z.string() }).optional(),
};

export const monitorIndexInput = z.strictObject({
  index: z.string().regex(NAME, 'expected an index name'),
  ...monitorFields,
  /** Thresholds over the defaults (lib/embeddings/monitor.ts DEFAULT_INDEX_POLICY). */
  policy: z
    .strictObject({
      minSearches: z.number().int().positive().optional(),
      maxEmptyRate: z.number().min(0).max(1).optional(),
      maxP99Ms: z.number().positive().optional(),
      alpha: z.number().gt(0).lt(1).optional(),
      minShift: z.number().min(0).optional(),
    })
    .default({}),
  /** `on-alert`: an alert asks for a rebuild of the index (rebuildIndex). @default 'on-alert' */
  rebuild: z.enum(['on-alert', 'never']).default('on-alert'),
});
export type MonitorIndexInput = z.input<typeof monitorIndexInput>;

export const monitorPromptInput = z.strictObject({
  prompt: z.string().regex(NAME, 'expected a prompt name'),
  ...monitorFields,
  /** Thresholds over the defaults (lib/prompts/monitor.ts DEFAULT_PROMPT_POLICY). */
  policy: z
    .strictObject({
      minRenders: z.number().int().positive().optional(),
      maxRefusedRate: z.number().min(0).max(1).optional(),
    })
    .default({}),
});
export type MonitorPromptInput = z.input<typeof monitorPromptInput>;

const { aliasMonitorCheck, requestIndexRebuild } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

/**
 * Watches an index alias as monitorModel watches a deployment: every interval, a check of the searches since the
 * last one (query embedding drift from the corpus, empty-result rate, latency) stored as a report; an alert notifies
 * the webhooks and asks for a rebuild. Ends when the alias serves nothing or on a `stop` signal (release:<index>).
 */
export async function monitorIndex(raw: MonitorIndexInput): Promise<{ checks: number; reason: string }> {
  const { index, ...input } = parseInput('monitorIndex', monitorIndexInput, raw);
  return watchAlias('index', index, input, input.rebuild === 'on-alert', (state) =>
    continueAsNew<typeof monitorIndex>({ ...raw, state })
  );
}

/**
 * Watches a prompt alias the same way: the share of renders refused because their variables did not fit (the render
 * error rate), as reports; an alert notifies the webhooks. Stopped by a `stop` signal (release:<prompt>).
 */
export async function monitorPrompt(raw: MonitorPromptInput): Promise<{ checks: number; reason: string }> {
  const { prompt, ...input } = parseInput('monitorPrompt', monitorPromptInput, raw);
  return watchAlias('prompt', prompt, input, false, (state) => continueAsNew<typeof monitorPrompt>({ ...raw, state }));
}

async function watchAlias(
  kind: AliasCheckInput['kind'],
  name: string,
  input: {
    alias: string;
    interval: number | string;
    checksPerRun: number;
    state?: { seq: number; since: string };
    policy: Record<string, number | undefined>;
  },
  rebuild: boolean,
  continued: (state: { seq: number; since: string }) => Promise<never>
): Promise<{ checks: number; reason: string }> {
  const { alias } = input;
  const info = workflowInfo();
  // Reports are keyed by (monitor, seq): the run id keeps a monitor started again under the same id apart.
  const monitorId = `${info.workflowId}@${info.runId}`;
  const status: WorkflowStatus = { stage: 'watching', results: {} };
  const stages = new StageTracker(status);
  setHandler(statusQuery, () => status);
  let stopped: string | undefined;
  setHandler(stopMonitorSignal, async (payload) => {
    const reason = await authorizedStop(monitorId, `release:${name}`, payload, status);
    if (reason) stopped = reason;
  });
  let checkNow = false;
  setHandler(checkNowSignal, () => void (checkNow = true));

  let seq = input.state?.seq ?? 0;
  let since = input.state?.since ?? info.startTime.toISOString();
  for (let i = 0; i < input.checksPerRun; i++) {
    await condition(() => stopped !== undefined || checkNow, input.interval);
    if (stopped) break;
    checkNow = false;
    const to = new Date().toISOString();
    seq += 1;
    const report: AliasCheckSummary = await aliasMonitorCheck({
      kind,
      monitorId,
      seq,
      name,
      alias,
      from: since,
      to,
      policy: Object.fromEntries(Object.entries(input.policy).filter(([, v]) => v !== undefined)) as Record<
        string,
        number
      >,
    });
    since = to;
    status.results.seq = seq;
    status.results.last = report;
    if (!report.served) return { checks: seq, reason: report.reason };
    if (report.status === 'alert') {
      await notify({
        type: 'alert',
        seq,
        [kind]: name,
        ...(report.version === undefined ? {} : { version: report.version }),
        ...(report.reportId === undefined ? {} : { reportId: report.reportId }),
        summary: report.reason,
      });
      if (rebuild) {
        stages.enter('requesting a rebuild');
        status.results.rebuild = await requestIndexRebuild({
          monitorId,
          seq,
          name,
          version: report.version!,
          reason: report.reason,
        });
      }
    }
    stages.enter('watching');
    if (workflowInfo().continueAsNewSuggested) break;
  }
  if (stopped) return { checks: seq, reason: stopped };
  return continued({ seq, since });
}
