// Human decisions on a release (releaseModel, releasePrompt): the approve, reject and rollback signals and the decide
// update, each presenting a token that an activity checks.
import { ApplicationFailure, proxyActivities, setHandler } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { Decision } from '../activities/release.js';
import type { Role } from '../lib/auth/tokens.js';
import { approveSignal, decideUpdate, rejectSignal, rollbackSignal } from './messages.js';
import { boundedRetry } from './retry.js';

const { authorizeRelease } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

const decideSchema = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  token: z.string().min(1, 'a decision presents the token of the principal making it'),
  comment: z.string().optional(),
});

export type DecisionKind = 'approve' | 'reject' | 'rollback';

/** The decisions of one release, in order, and the ones that count. */
export class DecisionBook {
  readonly decisions: Decision[] = [];
  /** The accepted approval or rejection. */
  verdict: Decision | undefined;
  /** The first accepted rollback. */
  rollback: Decision | undefined;

  record(d: Omit<Decision, 'seq' | 'at'>): Decision {
    const full = { ...d, seq: this.decisions.length + 1, at: new Date().toISOString() };
    this.decisions.push(full);
    return full;
  }

  /** Counts an accepted decision: the first rollback, or the verdict. */
  take(d: Decision): Decision {
    if (d.accepted && d.decision === 'rollback') this.rollback ??= d;
    else if (d.accepted) this.verdict = d;
    return d;
  }
}

/**
 * A decision presenting a token: an activity checks it (live, holding `roles.decide`, or `roles.rollback` for a
 * rollback, and not the requester's own unless allowed), and the principal recorded is the token's. A refusal is
 * recorded too, with its reason; one that comes when the release is not `waiting` is refused.
 */
export async function decideByToken(
  book: DecisionBook,
  release: { subject: string; workflowId: string; stage: () => string; waiting: () => boolean; requester?: string },
  roles: { decide: Role; rollback: Role },
  decision: DecisionKind,
  token: unknown,
  comment?: string
): Promise<Decision> {
  const isRollback = decision === 'rollback';
  const auth = await authorizeRelease({
    subject: release.subject,
    token: typeof token === 'string' ? token : undefined,
    role: isRollback ? roles.rollback : roles.decide,
    action: `release.${decision}`,
    ...(isRollback || release.requester === undefined ? {} : { requester: release.requester }),
  }).catch((err: unknown) => ({ principal: undefined, refusal: `the token could not be checked: ${String(err)}` }));
  const refusal =
    auth.refusal ??
    (isRollback || release.waiting()
      ? undefined
      : `release ${release.workflowId} is not waiting for a decision (${release.stage()})`);
  return book.take(
    book.record({
      decision,
      by: auth.principal ?? 'unknown token',
      ...(comment ? { comment } : {}),
      accepted: refusal === undefined,
      ...(refusal ? { refusal } : {}),
    })
  );
}

/**
 * Signals (approve, reject, rollback) and the decide update, all handed to `decide`. Signals cannot be refused: one
 * without a valid token and role is recorded as not accepted and ignored; the update's validator refuses a bad
 * payload or a release not waiting, and a refused decision fails it.
 */
export function handleDecisions(
  decide: (decision: DecisionKind, payload: unknown, comment?: string) => Promise<Decision>,
  release: { workflowId: string; stage: () => string; waiting: () => boolean }
): void {
  setHandler(approveSignal, (p) => void decide('approve', p, p.comment));
  setHandler(rejectSignal, (p) => void decide('reject', p, p.reason ?? p.comment));
  setHandler(rollbackSignal, (p) => void decide('rollback', p, p.reason));
  setHandler(
    decideUpdate,
    async (payload) => {
      const d = await decide(payload.decision, payload, payload.comment);
      if (!d.accepted)
        throw ApplicationFailure.create({
          type: 'DecisionRefused',
          message: d.refusal ?? 'not accepted',
          nonRetryable: true,
        });
      return { decision: payload.decision, by: d.by, at: d.at };
    },
    {
      validator: (payload) => {
        const parsed = decideSchema.safeParse(payload);
        if (!parsed.success)
          throw new Error(
            `invalid decision: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
          );
        if (!release.waiting())
          throw new Error(`release ${release.workflowId} is not waiting for a decision (stage: ${release.stage()})`);
      },
    }
  );
}
