import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { requestRetrain } from '../../activities/request-retrain.js';
import { createToken } from '../../lib/auth/tokens.js';
import { getDeployment } from '../../lib/release/deployments.js';
import { createRetrainSchedule } from '../../lib/temporal/schedules.js';
import { statusQuery } from '../../workflows/messages.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('retraining', () => {
  it('twenty drift alerts within one run start exactly one retraining', async () => {
    const model = `burst-${randomUUID().slice(0, 8)}`;
    // No worker polls this queue: the run stays open while the alerts arrive, as a long retraining would.
    const taskQueue = `idle-${randomUUID()}`;
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        requestRetrain(ctx.client, { pipeline: 'penguins', model, reason: `drift alert ${i}`, taskQueue })
      )
    );
    expect(new Set(runs.map((r) => r.runId)).size).toBe(1);
    const handle = ctx.client.workflow.getHandle(`retrain-${model}`);
    const history = await handle.fetchHistory();
    const signals = history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    expect(signals).toBe(20);
    await handle.terminate('test over');
  });

  it('a schedule triggered on demand starts retrainModel, whose release waits for approval and promotes nothing', async () => {
    const pipeline = 'penguins';
    await createToken(deps.db, 'alice', [`approver:${pipeline}`]);
    const scheduleId = `retrain-test-${randomUUID().slice(0, 8)}`;
    await withWorker(deps, async (taskQueue) => {
      const schedule = await createRetrainSchedule(ctx.client, { pipeline, cron: '0 3 * * 1', taskQueue, scheduleId });
      try {
        const before = await getDeployment(deps.db, pipeline, 'production');
        await schedule.trigger();
        const runId = await until('the scheduled run', async () => {
          const d = await schedule.describe();
          return d.info.recentActions[0]?.action.workflow.workflowId;
        });
        expect(runId.startsWith(scheduleId)).toBe(true);
        const run = ctx.client.workflow.getHandle(runId);
        expect((await run.describe()).type).toBe('retrainModel');
        // Training runs, the gate passes, and the release child waits for a human.
        const status = await until('the release to wait for approval', async () => {
          const s = await run.query(statusQuery);
          if (s.stage !== 'release') return undefined;
          const training = s.results.training as { model: { version: number } };
          const release = ctx.client.workflow.getHandle(`release-${pipeline}-v${training.model.version}-production`);
          return (await release.query(statusQuery)).stage === 'awaiting-approval' ? training : undefined;
        });
        await new Promise((r) => setTimeout(r, 1000));
        const after = await getDeployment(deps.db, pipeline, 'production');
        expect(after?.stableVersion).toBe(before?.stableVersion);
        expect(after?.stableVersion).not.toBe(status.model.version);
        await run.terminate('test over');
      } finally {
        await schedule.delete();
      }
    });
  });
});
