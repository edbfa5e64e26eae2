import { ApplicationFailure, condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { AliasChecklistItem, AliasReleaseRequest } from '../activities/alias-release.js';
import type { Decision } from '../activities/release.js';
import { DecisionBook, decideByToken, handleDecisions } from './decisions.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { boundedRetry } from './retry.js';
import { StageTracker } from './stages.js';

const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(ms|s|m|h|d)$/, "expected a duration like '5m'"),
]);

const NAME = /^[a-z][a-z0-9-]*$/;

/** The fields every alias release takes, beside the name of what it releases. */
const releaseFields = {
  version: z.number().int().positive(),
  /** The alias the version is to serve. @default 'production' */
  alias: z.string().regex(NAME).default('production'),
  /**
   * `direct`, or a canary: requests with a sticky key go to the new version for the steps' shares in turn, each for
   * `observation`, a `rollback` signal ending it. @default 'direct'
   */
  strategy: z
    .preprocess(
      (s) => (typeof s === 'string' ? { kind: s } : s),
      z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('direct') }),
        z.strictObject({
          kind: z.literal('canary'),
          steps: z
            .array(z.number().gt(0).lt(1))
            .min(1)
            .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), 'steps must increase')
            .default([0.1, 0.5]),
          observation: duration.default('5m'),
        }),
      ])
    )
    .default({ kind: 'direct' }),
  /** How long to wait for a decision; silence counts as a rejection. @default '24h' */
  approvalTimeout: duration.default('24h'),
  /** The requester's token: it must hold `release:<name>`. */
  token: z.string().min(1),
};

const releasePromptInput = z.strictObject({
  prompt: z.string().regex(NAME, 'expected a prompt name'),
  ...releaseFields,
});
export type ReleasePromptInput = z.input<typeof releasePromptInput>;

const releaseIndexInput = z.strictObject({
  index: z.string().regex(NAME, 'expected an index name'),
  ...releaseFields,
});
export type ReleaseIndexInput = z.input<typeof releaseIndexInput>;

export interface AliasReleaseResult {
  releaseId: string;
  kind: AliasReleaseRequest['kind'];
  name: string;
  version: number;
  alias: string;
  status: 'promoted' | 'rejected' | 'rolled-back';
  outcome: string;
  checklist: AliasChecklistItem[];
  decisions: Decision[];
  /** The version the alias served before: the rollback target. */
  previousVersion: number | null;
}

const { authorizeRelease, startAliasRelease, aliasReleaseChecklist, recordAliasRelease, moveAliasRelease } =
  proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: boundedRetry({ maximumAttempts: 10 }) });

/**
 * Takes a prompt version to an alias as releaseModel takes a model version to an environment: the requester's token
 * (`release:<prompt>`), a checklist (registered, an evaluation gated against the version the alias serves, a
 * rollback target, approvers), a human decision (signals `approve` / `reject`, or the `decide` update, with a token
 * holding `approver:<prompt>`), then a direct promotion or canary steps that the `rollback` signal ends. Started by
 * `cairn prompts release`, or by name.
 */
export async function releasePrompt(raw: ReleasePromptInput): Promise<AliasReleaseResult> {
  const { prompt, ...input } = parseInput('releasePrompt', releasePromptInput, raw);
  return releaseToAlias('prompt', prompt, input);
}

/**
 * Takes a vector index version to an alias the same way: its checklist asks for the recall gate it passed when it was
 * built instead of an evaluation. Started by `cairn indexes release`, or by name.
 */
export async function releaseIndex(raw: ReleaseIndexInput): Promise<AliasReleaseResult> {
  const { index, ...input } = parseInput('releaseIndex', releaseIndexInput, raw);
  return releaseToAlias('index', index, input);
}

async function releaseToAlias(
  kind: AliasReleaseRequest['kind'],
  name: string,
  input: Omit<z.output<typeof releasePromptInput>, 'prompt'>
): Promise<AliasReleaseResult> {
  const { version, alias, strategy } = input;
  const { workflowId, runId } = workflowInfo();
  const releaseId = `${workflowId}/${runId}`;
  const status: WorkflowStatus = { stage: 'checklist', results: {} };
  const stages = new StageTracker(status);
  setHandler(statusQuery, () => status);
  const book = new DecisionBook();
  status.results.decisions = book.decisions;
  const waiting = () => status.stage === 'awaiting-approval' && !book.verdict;

  const auth = await authorizeRelease({
    subject: releaseId,
    token: input.token,
    role: `release:${name}`,
    action: `${kind}.release.request`,
    audit: 'always',
  });
  if (auth.refusal) {
    stages.fail();
    throw ApplicationFailure.nonRetryable(`release of ${name}@${version} refused: ${auth.refusal}`, 'AccessDenied');
  }
  const requester = auth.principal!;
  handleDecisions(
    (decision, payload, comment) =>
      decideByToken(
        book,
        { subject: releaseId, workflowId, stage: () => status.stage, waiting, requester },
        { decide: `approver:${name}`, rollback: `release:${name}` },
        decision,
        (payload as { token?: unknown }).token,
        comment
      ),
    { workflowId, stage: () => status.stage, waiting }
  );

  const request: AliasReleaseRequest = { kind, releaseId, name, version, alias, strategy, requestedBy: requester };
  await startAliasRelease(request);
  const check = await stages.run('checklist', () => aliasReleaseChecklist(request));
  if (!check.passed) {
    stages.fail();
    const failing = check.items.filter((i) => !i.ok);
    await recordAliasRelease(kind, releaseId, 'refused', book.decisions, failing.map((i) => i.detail).join('; '));
    throw ApplicationFailure.nonRetryable(
      `release of ${name}@${version} to ${alias} refused: ${failing.map((i) => `${i.item}: ${i.detail}`).join('; ')}`,
      'ReleaseChecklistFailed',
      { items: check.items }
    );
  }
  const previous = check.current;
  const end = async (final: AliasReleaseResult['status'], outcome: string): Promise<AliasReleaseResult> => {
    await recordAliasRelease(kind, releaseId, final, book.decisions, outcome);
    stages.enter(final);
    return {
      releaseId,
      kind,
      name,
      version,
      alias,
      status: final,
      outcome,
      checklist: check.items,
      decisions: book.decisions,
      previousVersion: previous,
    };
  };

  stages.enter('awaiting-approval');
  await recordAliasRelease(kind, releaseId, 'awaiting-approval', book.decisions);
  if (!(await condition(() => book.verdict !== undefined, input.approvalTimeout))) {
    book.record({
      decision: 'timeout',
      by: 'cairn',
      comment: `no decision within ${input.approvalTimeout}`,
      accepted: true,
    });
    return end('rejected', `no decision within ${input.approvalTimeout}: counted as rejected`);
  }
  const verdict = book.verdict!;
  if (verdict.decision === 'reject')
    return end('rejected', `rejected by ${verdict.by}${verdict.comment ? `: ${verdict.comment}` : ''}`);

  if (strategy.kind === 'canary') {
    if (previous === null)
      throw ApplicationFailure.nonRetryable(
        `a canary needs a version serving ${alias} to share requests with; release ${name} directly first`,
        'ReleaseStrategyError'
      );
    for (const weight of strategy.steps) {
      stages.enter(`canary ${Math.round(weight * 100)}%`);
      await moveAliasRelease(request, { kind: 'canary', version, weight }, verdict.by);
      if (await condition(() => book.rollback !== undefined, strategy.observation)) {
        const by = book.rollback!;
        await moveAliasRelease(request, { kind: 'abort-canary' }, by.by);
        return end(
          'rolled-back',
          `rolled back by ${by.by}${by.comment ? `: ${by.comment}` : ''}; v${previous} serves ${alias}`
        );
      }
    }
  }
  stages.enter('promoting');
  await moveAliasRelease(request, { kind: 'promote', version }, verdict.by);
  return end(
    'promoted',
    `${name}@${version} serves ${alias}${previous === null ? '' : `; rollback target ${name}@${previous}`}`
  );
}
