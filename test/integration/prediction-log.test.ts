import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelPackage } from '../../activities/package.js';
import { canonicalJson } from '../../lib/ml/canonical-json.js';
import { createToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { registerVersion, resolveVersion } from '../../lib/registry/models.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { createPruneSchedule } from '../../lib/temporal/schedules.js';
import { startRun } from '../../lib/tracking/runs.js';
import type { Server } from '../../serving/server.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { testRun } from '../helpers/records.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;
const environment = `pii-env-${randomUUID().slice(0, 8)}`;
const model = `pii-${randomUUID().slice(0, 8)}`;
const ROWS = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Record<
    string,
    unknown
  >[]
)
  .map(({ Species: _species, ...row }) => row)
  .filter((r) => r['Body Mass (g)'] !== null && r.Sex !== null)
  .slice(0, 20);
let server: Server | undefined;
afterAll(() => server?.close());

async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const logged = (version: number) =>
  deps.db.query<{ id: string; input: Record<string, unknown> }>(
    'SELECT id, input FROM cairn.prediction_log WHERE model = $1 AND version = $2 ORDER BY id',
    [model, version]
  );

describe('the prediction log', () => {
  it("keeps PII out as the pipeline's policy says, and the schedule deletes rows past their retention", async () => {
    const v1 = await withWorker(deps, async (taskQueue) => {
      const result = await ctx.client.workflow.execute(trainingPipeline, {
        taskQueue,
        workflowId: `pii-train-${randomUUID()}`,
        args: [{ pipeline: 'penguins', model, config: { rounds: 5 } }],
      });
      return result.model.version!;
    });
    // v2: v1's model under a pipeline policy that drops Sex, hashes Island and keeps rows 7 days.
    const first = await resolveVersion(deps.db, { model, version: v1 });
    const pkg = await deps.store.getJson<ModelPackage>(first.packageDigest);
    const policy = { drop: ['Sex'], hash: ['Island'], retention: '7d' };
    const ref = await deps.store.putBytes(canonicalJson({ ...pkg, predictionLog: policy }));
    const runId = await startRun(deps.db, testRun(deps, `pii-run-${model}`));
    const { version: v2 } = await registerVersion(deps.db, {
      model,
      pipeline: 'penguins',
      runId,
      packageDigest: ref.digest,
      datasetDigest: first.datasetDigest,
      metrics: first.metrics,
      gate: first.gate,
      lineage: first.lineage,
      signer: deps.signer,
    });
    await changeDeployment(deps.db, model, environment, moves.promote(v2, null), {
      action: 'promote',
      by: 'test',
      reason: 'test',
    });

    // Every served row is sampled here (sampleRate 1): none reaches the log with Sex, or with Island readable.
    const started = await startTestServer(deps, { environment });
    server = started.server;
    const token = (await createToken(deps.db, 'pii-client', [`predict:${model}`])).token;
    const res = await fetch(`${started.base}/v1/models/${model}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ rows: ROWS }),
    });
    expect(res.status).toBe(200);
    await server.feed.flush();
    const { rows } = await logged(v2);
    expect(rows).toHaveLength(ROWS.length);
    for (const row of rows) {
      expect(row.input).not.toHaveProperty('Sex');
      expect(row.input.Island).toMatch(/^sha256:[0-9a-f]{32}$/);
      expect(row.input['Body Mass (g)']).toEqual(expect.any(Number));
    }
    expect(new Set(rows.map((r) => r.input.Island)).size).toBe(new Set(ROWS.map((r) => r.Island)).size);

    // Ten days old: past v2's 7 days, within v1's default 30. The old v2 row has feedback, which goes with it.
    const old = (version: number) => ({ id: `old-${version}-${model}`, version });
    for (const o of [old(v1), old(v2)])
      await deps.db.query(
        `INSERT INTO cairn.prediction_log (id, model, environment, version, input, output, at)
         VALUES ($1, $2, $3, $4, '{}', '{}', now() - interval '10 days')`,
        [o.id, model, environment, o.version]
      );
    await deps.db.query(`INSERT INTO cairn.feedback (prediction_id, label) VALUES ($1, '"Adelie"')`, [old(v2).id]);
    // A version whose package is gone from the store: its rows fall back to the default retention, and the run says so.
    const { version: v3 } = await registerVersion(deps.db, {
      model,
      pipeline: 'penguins',
      runId: await startRun(deps.db, testRun(deps, `pii-run-gone-${model}`)),
      packageDigest: `sha256:${'0'.repeat(64)}`,
      datasetDigest: first.datasetDigest,
      metrics: {},
      gate: {},
      lineage: {},
    });
    await deps.db.query(
      `INSERT INTO cairn.prediction_log (id, model, environment, version, input, output, at)
       VALUES ($1, $2, $3, $4, '{}', '{}', now() - interval '10 days')`,
      [old(v3).id, model, environment, v3]
    );

    await withWorker(
      deps,
      async (taskQueue) => {
        const schedule = await createPruneSchedule(ctx.client, { taskQueue });
        try {
          await schedule.trigger();
          const workflowId = await until('the pruning run', async () => {
            const d = await schedule.describe();
            return d.info.recentActions[0]?.action.workflow.workflowId;
          });
          const result = (await ctx.client.workflow.getHandle(workflowId).result()) as { unreadable: string[] };
          expect(result.unreadable).toContain(`${model}@${v3}`);
        } finally {
          await schedule.delete();
        }
      },
      { trainWorker: false }
    );
    expect((await logged(v2)).rows.map((r) => r.id)).not.toContain(old(v2).id);
    expect((await logged(v2)).rows).toHaveLength(ROWS.length);
    expect((await logged(v1)).rows.map((r) => r.id)).toEqual([old(v1).id]);
    expect((await logged(v3)).rows.map((r) => r.id)).toEqual([old(v3).id]);
    const { rows: feedback } = await deps.db.query('SELECT 1 FROM cairn.feedback WHERE prediction_id = $1', [
      old(v2).id,
    ]);
    expect(feedback).toEqual([]);
  });
});
