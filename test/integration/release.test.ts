import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../lib/auth/tokens.js';
import { changeDeployment, getDeployment, moves } from '../../lib/release/deployments.js';
import { resolveVersion } from '../../lib/registry/models.js';
import { listAudit } from '../../lib/audit/log.js';
import { approveSignal, decideUpdate, rollbackSignal, statusQuery } from '../../workflows/messages.js';
import { releaseModel } from '../../workflows/release-model.js';
import type { ReleaseModelInput } from '../../workflows/release-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

/** Trains `penguins` under a fresh model name; returns the registered version. */
async function train(model: string, config: Record<string, unknown> = { rounds: 10 }): Promise<number> {
  return withWorker(deps, async (taskQueue) => {
    const result = await ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `train-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config }],
    });
    return result.model.version!;
  });
}

async function waitForStage(handle: WorkflowHandle, stage: string) {
  for (let i = 0; i < 100; i++) {
    if ((await handle.query(statusQuery)).stage === stage) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`release never reached ${stage}`);
}

async function until(check: () => Promise<boolean>) {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await check())) throw new Error('timed out');
}

async function release(
  input: ReleaseModelInput,
  drive: (handle: WorkflowHandle<typeof releaseModel>) => Promise<void>
) {
  return withWorker(
    deps,
    async (taskQueue) => {
      const handle = await ctx.client.workflow.start(releaseModel, {
        taskQueue,
        workflowId: `release-${input.model}-${randomUUID().slice(0, 8)}`,
        args: [input],
      });
      await drive(handle);
      return { handle, result: await handle.result() };
    },
    { trainWorker: false }
  );
}

const releases = (id: string) =>
  deps.db.query('SELECT status, outcome, checklist, requested_by FROM cairn.releases WHERE id = $1', [id]);
const approvals = (id: string) =>
  deps.db.query<{ decision: string; by: string; accepted: boolean; refusal: string | null }>(
    'SELECT decision, by, accepted, refusal FROM cairn.approvals WHERE release_id = $1 ORDER BY seq',
    [id]
  );

/** A token that may release `model` (held by rita, who requests the releases in these tests). */
const releaser = async (model: string) => (await createToken(deps.db, 'rita', [`release:${model}`])).token;

describe('releaseModel', () => {
  it('refuses a release whose checklist fails and lists every failing item', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    await train(model);
    const token = await releaser(model);
    const err = await release({ model, version: 7, environment: 'production', token }, async () => undefined).catch(
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
    expect(cause.type).toBe('ReleaseChecklistFailed');
    for (const item of [
      'version-registered',
      'dataset-identified',
      'metrics-validated',
      'rollback-ready',
      'monitoring-active',
      'approvers',
    ]) {
      expect(cause.message).toContain(`${item}:`);
    }
    expect(cause.message).toContain(`${model}@7 is not registered`);
    expect(cause.message).toContain(`no principal may approve ${model}`);
  });

  it('refuses a version that failed its gate, naming only that item', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    await createToken(deps.db, 'alice', [`approver:${model}`]);
    const version = await train(model, { rounds: 2, gate: { minAccuracy: 0.999 } });
    const token = await releaser(model);
    const err = (await release({ model, version, first: true, token }, async () => undefined).catch(
      (e: unknown) => e
    )) as WorkflowFailedError;
    const message = (err.cause as Error).message;
    expect(message).toContain('metrics-validated: gate failed');
    for (const item of [
      'version-registered',
      'dataset-identified',
      'rollback-ready',
      'monitoring-active',
      'approvers',
    ]) {
      expect(message).not.toContain(`${item}:`);
    }
    const { rows } = await deps.db.query('SELECT status FROM cairn.releases WHERE model = $1', [model]);
    expect(rows).toEqual([{ status: 'refused' }]);
  });

  it('refuses a release requested without a token holding release:<model>, and audits the refusal', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    const version = await train(model);
    const { token: other } = await createToken(deps.db, 'rita', ['release:some-other-model']);
    for (const [token, refusal] of [
      [undefined, 'no token presented (needs the role release:' + model + ')'],
      [other, `rita does not hold the role release:${model} (has: release:some-other-model)`],
    ] as const) {
      const err = await release(
        { model, version, first: true, ...(token ? { token } : {}) },
        async () => undefined
      ).catch((e: unknown) => e);
      const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
      expect(cause.type).toBe('AccessDenied');
      expect(cause.message).toBe(`release of ${model}@${version} refused: ${refusal}`);
    }
    const { rows } = await deps.db.query('SELECT 1 FROM cairn.releases WHERE model = $1', [model]);
    expect(rows).toEqual([]);
    const audited = (await listAudit(deps.db, { action: 'release.request.refused', limit: 1000 })).filter((e) =>
      e.subject.startsWith(`release-${model}-`)
    );
    expect(audited.map((e) => e.actor).sort()).toEqual(['rita', 'unknown token']);
  });

  it("counts only decisions whose token holds the role; the principal is the token's, never a typed name", async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    const alice = (await createToken(deps.db, 'alice', [`approver:${model}`])).token;
    const mallory = (await createToken(deps.db, 'mallory', ['predict:*', 'approver:some-other-model'])).token;
    const revoked = await createToken(deps.db, 'bob', [`approver:${model}`]);
    await revokeToken(deps.db, revoked.id);
    // rita requested the release; holding the approver role too does not let her approve her own request.
    const rita = (await createToken(deps.db, 'rita', [`release:${model}`, `approver:${model}`])).token;
    const v1 = await train(model);
    const { result } = await release({ model, version: v1, first: true, token: rita }, async (h) => {
      await waitForStage(h, 'awaiting-approval');
      const refusalOf = async (token: string) => {
        const err = await h
          .executeUpdate(decideUpdate, { args: [{ decision: 'approve', token }] })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        return String((err as WorkflowUpdateFailedError).cause?.message);
      };
      expect(await refusalOf(mallory)).toBe(
        `mallory does not hold the role approver:${model} (has: predict:*, approver:some-other-model)`
      );
      expect(await refusalOf(revoked.token)).toBe('unknown, expired or revoked token');
      expect(await refusalOf(rita)).toBe(
        'rita requested this release and may not decide it (release.selfApproval is off)'
      );
      const malformed = await h
        .executeUpdate(decideUpdate, { args: [{ decision: 'approve', by: 'alice' } as never] })
        .catch((e: unknown) => e);
      expect(String((malformed as WorkflowUpdateFailedError).cause?.message)).toContain('invalid decision: token');
      // A forged name in a signal, and a rollback from an approver (rolling back needs release:<model>): ignored.
      // Each signal's token is checked by an activity: wait for its decision before the next, to fix their order.
      const decisions = async () => ((await h.query(statusQuery)).results.decisions as unknown[]).length;
      await h.signal(approveSignal, { by: 'alice' } as never);
      await until(async () => (await decisions()) === 4);
      await h.signal(rollbackSignal, { token: alice, reason: 'not mine to do' });
      await until(async () => (await decisions()) === 5);
      expect((await h.query(statusQuery)).stage).toBe('awaiting-approval');
      await h.signal(approveSignal, { token: alice, comment: 'metrics look right' });
    });
    expect(result.status).toBe('promoted');
    expect((await getDeployment(deps.db, model, 'production'))?.stableVersion).toBe(v1);
    expect((await resolveVersion(deps.db, { model, alias: 'production' })).version).toBe(v1);
    expect((await releases(result.releaseId)).rows[0]).toMatchObject({ status: 'promoted', requested_by: 'rita' });
    // Every decision is recorded as it was judged, refusals with their reason, and each is in the audit log.
    expect((await approvals(result.releaseId)).rows).toEqual([
      { decision: 'approve', by: 'mallory', accepted: false, refusal: expect.stringContaining('does not hold') },
      { decision: 'approve', by: 'unknown token', accepted: false, refusal: 'unknown, expired or revoked token' },
      { decision: 'approve', by: 'rita', accepted: false, refusal: expect.stringContaining('may not decide it') },
      {
        decision: 'approve',
        by: 'unknown token',
        accepted: false,
        refusal: `no token presented (needs the role approver:${model})`,
      },
      {
        decision: 'rollback',
        by: 'alice',
        accepted: false,
        refusal: `alice does not hold the role release:${model} (has: approver:${model})`,
      },
      { decision: 'approve', by: 'alice', accepted: true, refusal: null },
    ]);
    const audited = await listAudit(deps.db, { subject: result.releaseId, limit: 100 });
    const requested = await listAudit(deps.db, { subject: `${model}@${v1}`, action: 'release.requested' });
    expect(requested.map((e) => e.actor)).toEqual(['rita']);
    expect(audited.map((e) => `${e.actor} ${e.action}`).reverse()).toEqual([
      'mallory release.approve.refused',
      'unknown token release.approve.refused',
      'rita release.approve.refused',
      'unknown token release.approve.refused',
      'alice release.rollback.refused',
      'alice release.approve',
    ]);

    // A second version replaces it with the first as rollback target; a rollback returns to it.
    const v2 = await train(model);
    const second = await release({ model, version: v2, token: rita }, async (h) => {
      await waitForStage(h, 'awaiting-approval');
      expect(await h.executeUpdate(decideUpdate, { args: [{ decision: 'approve', token: alice }] })).toMatchObject({
        decision: 'approve',
        by: 'alice',
      });
    });
    expect(second.result).toMatchObject({ status: 'promoted', previousVersion: v1 });
    const after = await changeDeployment(deps.db, model, 'production', moves.rollback(), {
      action: 'rollback',
      by: 'alice',
      reason: 'test',
    });
    expect(after).toMatchObject({ stableVersion: v1, previousVersion: null });
    expect((await resolveVersion(deps.db, { model, alias: 'production' })).version).toBe(v1);
  });

  it('counts silence as a rejection when the approval times out, and records it', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    await createToken(deps.db, 'alice', [`approver:${model}`]);
    const version = await train(model);
    const token = await releaser(model);
    const { result } = await release(
      { model, version, first: true, approvalTimeout: '2s', token },
      async () => undefined
    );
    expect(result.status).toBe('rejected');
    expect(result.outcome).toContain('no decision within 2s');
    expect((await releases(result.releaseId)).rows[0]).toMatchObject({ status: 'rejected' });
    expect((await approvals(result.releaseId)).rows).toEqual([
      { decision: 'timeout', by: 'cairn', accepted: true, refusal: null },
    ]);
    expect(await getDeployment(deps.db, model, 'production')).toBeUndefined();
  });
});
