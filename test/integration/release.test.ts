import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createToken } from '../../lib/auth/tokens.js';
import { changeDeployment, getDeployment, moves } from '../../lib/release/deployments.js';
import { resolveVersion } from '../../lib/registry/models.js';
import { approveSignal, decideUpdate, statusQuery } from '../../workflows/messages.js';
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
  deps.db.query('SELECT status, outcome, checklist FROM cairn.releases WHERE id = $1', [id]);
const approvals = (id: string) =>
  deps.db.query<{ decision: string; by: string; accepted: boolean }>(
    'SELECT decision, by, accepted FROM cairn.approvals WHERE release_id = $1 ORDER BY seq',
    [id]
  );

describe('releaseModel', () => {
  it('refuses a release whose checklist fails and lists every failing item', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    await train(model);
    const err = await release({ model, version: 7, environment: 'production' }, async () => undefined).catch(
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
    const err = (await release({ model, version, first: true }, async () => undefined).catch(
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

  it('ignores decisions from principals without the approver role, then promotes on an approver signal', async () => {
    const model = `rel-${randomUUID().slice(0, 8)}`;
    await createToken(deps.db, 'alice', [`approver:${model}`]);
    await createToken(deps.db, 'mallory', ['predict', 'approver:some-other-model']);
    const v1 = await train(model);
    const { result } = await release({ model, version: v1, first: true }, async (h) => {
      await waitForStage(h, 'awaiting-approval');
      const refused = await h
        .executeUpdate(decideUpdate, { args: [{ decision: 'approve', by: 'mallory' }] })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toContain(
        'mallory does not hold the approver role'
      );
      const malformed = await h
        .executeUpdate(decideUpdate, { args: [{ decision: 'maybe', by: 'alice' } as never] })
        .catch((e: unknown) => e);
      expect(String((malformed as WorkflowUpdateFailedError).cause?.message)).toContain('invalid decision: decision');
      await h.signal(approveSignal, { by: 'mallory' });
      expect((await h.query(statusQuery)).stage).toBe('awaiting-approval');
      await h.signal(approveSignal, { by: 'alice', comment: 'metrics look right' });
    });
    expect(result.status).toBe('promoted');
    expect((await getDeployment(deps.db, model, 'production'))?.stableVersion).toBe(v1);
    expect((await resolveVersion(deps.db, { model, alias: 'production' })).version).toBe(v1);
    expect((await releases(result.releaseId)).rows[0]).toMatchObject({ status: 'promoted' });
    // The refused update never reached history; the signals did and are recorded as they were judged.
    expect((await approvals(result.releaseId)).rows).toEqual([
      { decision: 'approve', by: 'mallory', accepted: false },
      { decision: 'approve', by: 'alice', accepted: true },
    ]);

    // A second version replaces it with the first as rollback target; a rollback returns to it.
    const v2 = await train(model);
    const second = await release({ model, version: v2 }, async (h) => {
      await waitForStage(h, 'awaiting-approval');
      expect(await h.executeUpdate(decideUpdate, { args: [{ decision: 'approve', by: 'alice' }] })).toMatchObject({
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
    const { result } = await release({ model, version, first: true, approvalTimeout: '2s' }, async () => undefined);
    expect(result.status).toBe('rejected');
    expect(result.outcome).toContain('no decision within 2s');
    expect((await releases(result.releaseId)).rows[0]).toMatchObject({ status: 'rejected' });
    expect((await approvals(result.releaseId)).rows).toEqual([{ decision: 'timeout', by: 'cairn', accepted: true }]);
    expect(await getDeployment(deps.db, model, 'production')).toBeUndefined();
  });
});
