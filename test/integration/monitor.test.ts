import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities/index.js';
import { listAudit } from '../../lib/audit/log.js';
import { createToken } from '../../lib/auth/tokens.js';
import type { MonitoringReport } from '../../lib/monitoring/report.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import type { Server } from '../../serving/server.js';
import { statusQuery } from '../../workflows/messages.js';
import { checkNowSignal, monitorModel, stopMonitorSignal } from '../../workflows/monitor-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { releaseTokens } from '../helpers/records.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

type Row = Record<string, unknown>;
const ROWS = (JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Row[])
  .map(({ Species: _species, ...row }) => row)
  .filter((r) => r['Body Mass (g)'] !== null && r.Sex !== null);
let server: Server;
let base: string;
let token: string;

/** Trains and promotes `model`; returns a token that may stop its monitor (release:<model>). */
async function deploy(model: string): Promise<string> {
  await withWorker(deps, (taskQueue) =>
    ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `monitor-train-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds: 10 } }],
    })
  );
  await changeDeployment(deps.db, model, 'production', moves.promote(1, null), {
    action: 'promote',
    by: 'test',
    reason: 'test',
  });
  await server.models.refresh();
  return (await releaseTokens(deps.db, model)).rita;
}

async function send(model: string, rows: Row[]) {
  for (let i = 0; i < rows.length; i += 50) {
    const res = await fetch(`${base}/v1/models/${model}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ rows: rows.slice(i, i + 50) }),
    });
    expect(res.status).toBe(200);
  }
  await server.feed.flush();
}

const reports = (model: string) =>
  deps.db.query<{
    seq: number;
    status: string;
    window_start: Date;
    window_end: Date;
    report: MonitoringReport;
    retrain_id: string | null;
  }>(
    'SELECT seq, status, window_start, window_end, report, retrain_id FROM cairn.monitoring_reports WHERE model = $1 ORDER BY seq',
    [model]
  );

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  token = (await createToken(deps.db, 'monitor-test', ['predict:*'])).token;
  ({ server, base } = await startTestServer(deps, { flushInterval: 200 }));
});

afterAll(async () => {
  await server?.close();
});

describe('monitorModel', () => {
  it('checks every interval through continue-as-new, losing no report; a quiet window says so', async () => {
    const model = `mon-${randomUUID().slice(0, 8)}`;
    const stopper = await deploy(model);
    await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(monitorModel, {
        taskQueue,
        workflowId: `monitor-${model}-production`,
        args: [{ model, interval: '1s', checksPerRun: 2 }],
      });
      await send(model, ROWS);
      const rows = await until('five reports', async () =>
        (await reports(model)).rows.length >= 5 ? (await reports(model)).rows : undefined
      );
      await handle.signal(stopMonitorSignal, { token: stopper });
      const described = await handle.describe();
      expect(described.runId).not.toBe(handle.firstExecutionRunId);
      const seqs = rows.map((r) => r.seq);
      expect(seqs.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
      for (let i = 1; i < rows.length; i++)
        expect(rows[i]!.window_start.getTime()).toBe(rows[i - 1]!.window_end.getTime());
      const served = rows.filter((r) => r.status !== 'no-traffic');
      expect(served.length).toBeGreaterThan(0);
      expect(served.reduce((s, r) => s + r.report.volume.predictions, 0)).toBe(ROWS.length);
      const quiet = rows.find((r) => r.status === 'no-traffic')!;
      expect(quiet.report.summary).toMatch(/^no traffic between/);
      const busy = served[0]!.report;
      expect(busy.dataDrift?.columns.map((c) => c.column).sort()).toEqual(
        ['Beak Depth (mm)', 'Beak Length (mm)', 'Body Mass (g)', 'Flipper Length (mm)', 'Island', 'Sex'].sort()
      );
      expect(busy.cost.training).toBeGreaterThan(0);
    });
  });

  it('stores the reports of a monitor started again for the same deployment, under the same workflow id', async () => {
    const model = `mon-${randomUUID().slice(0, 8)}`;
    const stopper = await deploy(model);
    await withWorker(deps, async (taskQueue) => {
      for (const started of [1, 2]) {
        const handle = await ctx.client.workflow.start(monitorModel, {
          taskQueue,
          workflowId: `monitor-${model}-production`,
          args: [{ model, interval: '1h' }],
        });
        await handle.signal(checkNowSignal);
        await until(`the report of monitor ${started}`, async () =>
          (await reports(model)).rows.length >= started ? true : undefined
        );
        await handle.signal(stopMonitorSignal, { token: stopper });
        await handle.result();
      }
      // Each execution's first check is its seq 1; the second one's is a new report, not the first one's again.
      const rows = (await reports(model)).rows.sort((a, b) => a.window_end.getTime() - b.window_end.getTime());
      expect(rows.map((r) => r.seq)).toEqual([1, 1]);
      expect(rows[1]!.window_start.getTime()).toBeGreaterThan(rows[0]!.window_end.getTime());
    });
  });

  it('outlives a check whose retries run out: the next check covers the missed window', async () => {
    const model = `mon-${randomUUID().slice(0, 8)}`;
    const stopper = await deploy(model);
    let failedAttempts = 0;
    // The database away for longer than a check's retries, as the activity sees it: every attempt of the first check
    // fails with a retryable error (its nextRetryDelay keeps the retries about a second apart, not backing off).
    const wrap = (activities: Activities): Activities => ({
      ...activities,
      monitorCheck: async (input) => {
        if (input.seq > 1) return activities.monitorCheck(input);
        failedAttempts++;
        throw ApplicationFailure.create({ message: 'connection terminated (test)', nextRetryDelay: '50ms' });
      },
    });
    await withWorker(
      deps,
      async (taskQueue) => {
        const handle = await ctx.client.workflow.start(monitorModel, {
          taskQueue,
          workflowId: `monitor-${model}-production`,
          args: [{ model, interval: '1h' }],
        });
        const started = (await handle.describe()).startTime;
        await send(model, ROWS);
        await handle.signal(checkNowSignal);
        const failed = await until('the failed check', async () => {
          const status = await handle.query(statusQuery);
          return status.results.failedCheck as { seq: number; error: string } | undefined;
        });
        expect(failed).toEqual({ seq: 1, error: expect.stringMatching(/connection terminated \(test\)/) });
        expect(failedAttempts).toBe(10);
        expect((await handle.describe()).status.name).toBe('RUNNING');

        await handle.signal(checkNowSignal);
        const [report] = await until('the next report', async () => {
          const rows = (await reports(model)).rows;
          return rows.length ? rows : undefined;
        });
        // Stopping needs release:<model>: an approver's token is refused, and both attempts are audited.
        const approver = (await createToken(deps.db, 'alice', [`approver:${model}`])).token;
        await handle.signal(stopMonitorSignal, { token: approver });
        const refused = await until('the refused stop', async () => {
          const status = await handle.query(statusQuery);
          return status.results.refusedStop as string | undefined;
        });
        expect(refused).toBe(`alice does not hold the role release:${model} (has: approver:${model})`);
        expect((await handle.describe()).status.name).toBe('RUNNING');
        await handle.signal(stopMonitorSignal, { token: stopper });
        expect(await handle.result()).toEqual({ checks: 2, reason: 'stopped by rita' });
        const audited = await listAudit(deps.db, { action: 'monitor.stop', limit: 1000 });
        expect(
          audited.filter((e) => e.subject.startsWith(`monitor-${model}-`)).map((e) => `${e.actor} ${e.action}`)
        ).toEqual(['rita monitor.stop', 'alice monitor.stop.refused']);
        expect(report!.seq).toBe(2);
        expect(report!.window_start.getTime()).toBe(started.getTime());
        expect(report!.report.volume.predictions).toBe(ROWS.length);
      },
      { wrap }
    );
  });

  it('finds drift in shifted traffic, raises an alert and starts one retraining', async () => {
    const model = `drift-${randomUUID().slice(0, 8)}`;
    const stopper = await deploy(model);
    await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(monitorModel, {
        taskQueue,
        workflowId: `monitor-${model}-production`,
        args: [{ model, interval: '2s' }],
      });
      // Heavier birds, all from Biscoe: a shift of a known size in two inputs.
      const shifted = ROWS.map((r) => ({
        ...r,
        'Body Mass (g)': Math.min(6900, Number(r['Body Mass (g)']) + 1500),
        Island: 'Biscoe',
      }));
      await send(model, shifted);
      const alert = await until('an alert', async () =>
        (await reports(model)).rows.find((r) => r.status === 'alert' && r.retrain_id)
      );
      await handle.signal(stopMonitorSignal, { token: stopper });
      const drifted = alert.report.dataDrift!.columns.filter((c) => c.drifted).map((c) => c.column);
      expect(drifted).toEqual(expect.arrayContaining(['Body Mass (g)', 'Island']));
      expect(drifted).not.toContain('Beak Length (mm)');
      expect(alert.retrain_id).toBe(`retrain-${model}`);
      const retrain = ctx.client.workflow.getHandle(alert.retrain_id!);
      expect((await retrain.describe()).type).toBe('retrainModel');
      await retrain.terminate('test over');
    });
  });
});
