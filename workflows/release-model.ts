import {
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { ChecklistItem, Decision, ReleaseRequest, ReleaseStatus } from '../activities/release.js';
import type { CanaryComparison } from '../lib/release/canary.js';
import { DEFAULT_CANARY_LIMITS } from '../lib/release/canary.js';
import { durationMs } from '../lib/config/duration.js';
import { DEFAULT_REPLICA_TIMEOUT } from '../lib/release/fleet.js';
import { parseInput } from './input.js';
import { DecisionBook, decideByToken, handleDecisions } from './decisions.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { CairnModel, CairnModelVersion } from './search-attributes.js';
import { StageTracker } from './stages.js';
import { boundedRetry } from './retry.js';
import { notify } from './notify.js';

const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(ms|s|m|h|d)$/, "expected a duration like '5m'"),
]);

const canaryStrategy = z.strictObject({
  kind: z.literal('canary'),
  /** Traffic shares the canary takes in turn; 1 (or the end of the list) promotes. @default [0.1, 0.5, 1] */
  steps: z
    .array(z.number().gt(0).lte(1))
    .min(1)
    .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), 'steps must increase')
    .default([0.1, 0.5, 1]),
  /** How long each step is watched before canary and stable are compared. @default '5m' */
  observation: duration.default('5m'),
  /** Windows a step may wait for enough canary traffic before the release gives up and rolls back. @default 3 */
  maxObservations: z.number().int().min(1).default(3),
  limits: z
    .strictObject({
      maxErrorRateIncrease: z.number().min(0).max(1),
      maxP99Ratio: z.number().min(1),
      latencySlackMs: z.number().min(0),
      maxPredictionShift: z.number().min(0).max(1),
      minRows: z.number().int().min(1),
    })
    .partial()
    .default({}),
});

export const releaseModelInput = z.strictObject({
  model: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a model name'),
  version: z.number().int().positive(),
  environment: z.string().min(1).default('production'),
  /** `direct`, `canary` (with defaults), or a canary with its own steps, windows and limits. @default 'direct' */
  strategy: z
    .preprocess(
      (s) => (typeof s === 'string' ? { kind: s } : s),
      z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('direct') }), canaryStrategy])
    )
    .default({ kind: 'direct' }),
  /** How long to wait for a decision; silence counts as a rejection. @default '24h' */
  approvalTimeout: duration.default('24h'),
  /** Start the deployment's `monitorModel` once the version is promoted. @default true */
  monitor: z.boolean().default(true),
  /** How long every live replica may take to load the version, and to serve each step of the release. @default '5m' */
  fleetTimeout: duration.default('5m'),
  /** A replica silent for longer than this is taken as gone, and not waited for. @default '15s' */
  replicaTimeout: duration.default(DEFAULT_REPLICA_TIMEOUT),
  /** The model's first release in this environment: there is no rollback target, and none is required. */
  first: z.boolean().default(false),
  /**
   * The requester's token: it must hold `release:<model>`, and its principal is recorded as the requester. Required
   * unless the release is a child of another Cairn workflow (lifecycle, retraining), which is then the requester.
   */
  token: z.string().min(1).optional(),
  /** A name, from before tokens: ignored, kept so that older histories replay. */
  requestedBy: z.string().optional(),
});
export type ReleaseModelInput = z.input<typeof releaseModelInput>;

export interface CanaryStep {
  weight: number;
  comparisons: CanaryComparison[];
}

export interface ReleaseModelResult {
  releaseId: string;
  model: string;
  version: number;
  environment: string;
  status: Extract<ReleaseStatus, 'promoted' | 'rejected' | 'rolled-back'>;
  outcome: string;
  checklist: ChecklistItem[];
  decisions: Decision[];
  steps: CanaryStep[];
  /** The version that served before, and stays the rollback target. */
  previousVersion: number | null;
}

const {
  startRelease,
  releaseChecklist,
  recordRelease,
  deploy,
  compareCanary,
  ensureMonitor,
  stageRelease,
  fleetStatus,
  authorizeRelease,
} = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

/**
 * Takes a registered model version to an environment: the pre-deploy checklist, a human decision (signals `approve`
 * / `reject`, or the `decide` update), then a direct promotion or a canary whose every step is compared with the
 * stable version and rolled back on a breach or a `rollback` signal. The previous version stays the rollback target.
 */
export async function releaseModel(raw: ReleaseModelInput): Promise<ReleaseModelResult> {
  const input = parseInput('releaseModel', releaseModelInput, raw);
  const { model, version, environment, strategy } = input;
  // The record of this release: workflow id and run, so a later release under the same workflow id (the same
  // version released again) gets a record, and approvals, of its own.
  const { workflowId, runId } = workflowInfo();
  const releaseId = `${workflowId}/${runId}`;
  const request: ReleaseRequest = { releaseId, model, version, environment, strategy, first: input.first };
  const status: WorkflowStatus = { stage: 'checklist', results: {} };
  const stages = new StageTracker(status);
  setHandler(statusQuery, () => status);
  upsertSearchAttributes([
    { key: CairnModel, value: model },
    { key: CairnModelVersion, value: String(version) },
  ]);

  const book = new DecisionBook();
  const { decisions } = book;
  const record = (d: Omit<Decision, 'seq' | 'at'>) => book.record(d);
  const steps: CanaryStep[] = [];
  status.results.decisions = decisions;
  status.results.steps = steps;
  let approvers: string[] = [];
  const waiting = () => status.stage === 'awaiting-approval' && !book.verdict;
  /** Histories from before tokens: a typed name, accepted if it held the approver role at the checklist. */
  const decideByName = (decision: 'approve' | 'reject' | 'rollback', payload: unknown, comment?: string) => {
    const by = String((payload as { by?: unknown }).by);
    const d = record({
      decision,
      by,
      ...(comment ? { comment } : {}),
      accepted: (decision === 'rollback' || waiting()) && approvers.includes(by),
    });
    return book.take(d);
  };
  let requester: string | undefined;
  /** Token decisions (`approver:<model>`, a rollback `release:<model>`); a typed name in histories from before them. */
  const decide = (decision: 'approve' | 'reject' | 'rollback', payload: unknown, comment?: string) =>
    patched('token-decisions')
      ? decideByToken(
          book,
          { subject: releaseId, workflowId, stage: () => status.stage, waiting, requester },
          { decide: `approver:${model}`, rollback: `release:${model}` },
          decision,
          (payload as { token?: unknown }).token,
          comment
        )
      : Promise.resolve(decideByName(decision, payload, comment));

  handleDecisions(decide, { workflowId, stage: () => status.stage, waiting });

  const end = async (
    final: ReleaseModelResult['status'],
    outcome: string,
    previousVersion: number | null
  ): Promise<ReleaseModelResult> => {
    if (fleet) await stageRelease(request, false);
    await recordRelease(releaseId, final, decisions, outcome);
    if (final !== 'rejected')
      await notify({
        type: final === 'promoted' ? 'promoted' : 'rolled_back',
        model,
        version,
        environment,
        summary: outcome,
      });
    stages.enter(final);
    return {
      releaseId,
      model,
      version,
      environment,
      status: final,
      outcome,
      checklist,
      decisions,
      steps,
      previousVersion,
    };
  };

  let fleet = false;
  /** Waits for every live replica to hold the version (and, with `revision`, serve it); what stops it, if anything. */
  const fleetProblem = async (revision?: number): Promise<string | undefined> => {
    const deadline = Date.now() + durationMs(input.fleetTimeout);
    const liveWithin = durationMs(input.replicaTimeout) / 1000;
    const what = revision === undefined ? `load ${model}@${version}` : `serve deployment revision ${revision}`;
    for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
      const check = await fleetStatus(request, revision, liveWithin);
      status.results.fleet = check;
      if (check.failed.length)
        return check.failed.map((f) => `replica ${f.replica} could not ${what}: ${f.error}`).join('; ');
      if (check.pending.length === 0) return undefined;
      if (Date.now() >= deadline)
        return `replicas ${check.pending.join(', ')} did not ${what} within ${input.fleetTimeout}`;
      await sleep(wait);
    }
  };

  // A release asked for directly presents a token holding `release:<model>`. One started by another Cairn workflow
  // (a lifecycle run, a retraining) is that workflow's request: it moves nothing until an approver decides.
  if (patched('token-requester')) {
    const parent = workflowInfo().parent;
    if (parent && input.token === undefined) requester = `workflow:${parent.workflowId}`;
    else {
      const auth = await authorizeRelease({
        subject: releaseId,
        token: input.token,
        role: `release:${model}`,
        action: 'release.request',
        audit: true,
      });
      if (auth.refusal) {
        stages.fail();
        throw ApplicationFailure.nonRetryable(
          `release of ${model}@${version} refused: ${auth.refusal}`,
          'AccessDenied'
        );
      }
      requester = auth.principal;
    }
    request.requestedBy = requester;
  }
  await startRelease(request);
  const check = await stages.run('checklist', () => releaseChecklist(request));
  const checklist = check.items;
  if (!check.passed) {
    stages.fail();
    const failing = checklist.filter((i) => !i.ok);
    throw ApplicationFailure.nonRetryable(
      `release of ${model}@${version} to ${environment} refused: ${failing.map((i) => `${i.item}: ${i.detail}`).join('; ')}`,
      'ReleaseChecklistFailed',
      { items: checklist }
    );
  }
  approvers = check.approvers;
  const previous = check.current;

  stages.enter('awaiting-approval');
  await notify({
    type: 'approval_pending',
    model,
    version,
    environment,
    summary: `passed its checklist and waits for an approval${requester ? ` (requested by ${requester})` : ''}; silence for ${input.approvalTimeout} counts as a rejection`,
    approveWith: `cairn approve ${workflowId}`,
  });
  const decided = await condition(
    () => book.verdict !== undefined || book.rollback !== undefined,
    input.approvalTimeout
  );
  if (!decided) {
    record({
      decision: 'timeout',
      by: 'cairn',
      comment: `no decision within ${input.approvalTimeout}`,
      accepted: true,
    });
    return end('rejected', `no decision within ${input.approvalTimeout}: counted as rejected`, previous);
  }
  const { verdict } = book;
  if (!verdict || verdict.decision === 'reject') {
    const d = verdict ?? book.rollback!;
    return end('rejected', `rejected by ${d.by}${d.comment ? `: ${d.comment}` : ''}`, previous);
  }
  const approvedBy = verdict.by;
  await recordRelease(releaseId, 'rolling-out', decisions);

  // Fleet acknowledgement: every live replica loads the version before any traffic moves to it, and each move counts
  // as done only once every live replica serves it ("promoted" means served).
  fleet = patched('fleet-acknowledgement');
  if (fleet) {
    await stageRelease(request, true);
    const problem = await fleetProblem();
    if (problem) {
      return end(
        'rolled-back',
        `${model}@${version} not released: ${problem}; ${previous === null ? 'nothing serves' : `${model}@${previous} keeps serving`} ${environment}`,
        previous
      );
    }
  }

  if (strategy.kind === 'canary') {
    if (previous === null) {
      throw ApplicationFailure.nonRetryable(
        `a canary needs a stable version to compare with; release ${model} directly first`,
        'ReleaseStrategyError'
      );
    }
    const limits = { ...DEFAULT_CANARY_LIMITS, ...strategy.limits };
    for (const weight of strategy.steps.filter((w) => w < 1)) {
      stages.enter(`canary ${Math.round(weight * 100)}%`);
      const step: CanaryStep = { weight, comparisons: [] };
      steps.push(step);
      const moved = await deploy(request, { kind: 'canary', weight }, approvedBy, `canary step ${weight}`);
      const since = moved.at;
      const unserved = fleet ? await fleetProblem(moved.revision) : undefined;
      if (unserved) {
        await deploy(request, { kind: 'abort-canary' }, 'cairn', unserved);
        return end('rolled-back', `canary at ${weight * 100}% not served: ${unserved}`, previous);
      }
      let judged = false;
      for (let i = 0; i < strategy.maxObservations && !judged; i++) {
        if (await condition(() => book.rollback !== undefined, strategy.observation)) {
          await deploy(request, { kind: 'abort-canary' }, book.rollback!.by, `rollback requested`);
          return end(
            'rolled-back',
            `rolled back by ${book.rollback!.by}${book.rollback!.comment ? `: ${book.rollback!.comment}` : ''}`,
            previous
          );
        }
        const cmp = await compareCanary(request, previous, since, new Date().toISOString(), limits);
        step.comparisons.push(cmp);
        if (cmp.breaches.length) {
          await deploy(request, { kind: 'abort-canary' }, 'cairn', `canary breach: ${cmp.breaches.join('; ')}`);
          return end('rolled-back', `canary at ${weight * 100}% breached: ${cmp.breaches.join('; ')}`, previous);
        }
        judged = cmp.judged;
      }
      if (!judged) {
        await deploy(request, { kind: 'abort-canary' }, 'cairn', 'not enough canary traffic to judge');
        return end(
          'rolled-back',
          `canary at ${weight * 100}% saw too little traffic to be judged in ${strategy.maxObservations} windows`,
          previous
        );
      }
    }
  }
  stages.enter('promoting');
  const promoted = await deploy(
    request,
    { kind: 'promote' },
    approvedBy,
    `release ${workflowId} approved by ${approvedBy}`
  );
  const unserved = fleet ? await fleetProblem(promoted.revision) : undefined;
  if (unserved) {
    if (previous === null) {
      await recordRelease(releaseId, 'refused', decisions, `promoted but not served: ${unserved}`);
      throw ApplicationFailure.nonRetryable(
        `${model}@${version} was promoted in ${environment} but is not served: ${unserved}`,
        'FleetAcknowledgementFailed'
      );
    }
    await deploy(request, { kind: 'revert', to: previous }, 'cairn', unserved);
    return end('rolled-back', `${model}@${version} not served: ${unserved}; back to ${model}@${previous}`, previous);
  }
  if (input.monitor) status.results.monitor = await ensureMonitor(model, environment);
  return end(
    'promoted',
    `${model}@${version} serves ${environment}${previous === null ? '' : `; rollback target ${model}@${previous}`}`,
    previous
  );
}
