import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApi } from '../../console/api.js';
import type { ModelPackage } from '../../activities/package.js';
import { createToken } from '../../lib/auth/tokens.js';
import { canonicalJson } from '../../lib/ml/canonical-json.js';
import { readFeed } from '../../lib/monitoring/feed.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { getDeployment } from '../../lib/release/deployments.js';
import { registerVersion, resolveVersion } from '../../lib/registry/models.js';
import { startRun } from '../../lib/tracking/runs.js';
import type { Server } from '../../serving/server.js';
import { approveSignal, statusQuery } from '../../workflows/messages.js';
import { releaseModel } from '../../workflows/release-model.js';
import type { ReleaseModelInput } from '../../workflows/release-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';
import { releaseTokens } from '../helpers/records.js';

const ctx = useServices();
const { deps } = ctx;

type Row = Record<string, unknown>;
const ROWS = (JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Row[]).map(
  ({ Species: _species, ...row }) => row
);
const model = `canary-${randomUUID().slice(0, 8)}`;
let server: Server;
let base: string;
let token: string;
let tokens: { rita: string; alice: string };

async function train(rounds: number): Promise<number> {
  return withWorker(deps, async (taskQueue) => {
    const result = await ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `canary-train-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds } }],
    });
    return result.model.version!;
  });
}

/** Steady traffic from `clients` loops until stopped; counts answers by status and by serving version. */
function traffic(clients = 4) {
  const byStatus = new Map<number, number>();
  const byVersion = new Map<number, number>();
  let running = true;
  let i = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const row = ROWS[i++ % ROWS.length];
      const res = await fetch(`${base}/v1/models/${model}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ row }),
      });
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const body = (await res.json()) as { predictions?: { version: number }[] };
      for (const p of body.predictions ?? []) byVersion.set(p.version, (byVersion.get(p.version) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return {
    byStatus,
    byVersion,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function release(input: ReleaseModelInput) {
  return withWorker(
    deps,
    async (taskQueue) => {
      const handle: WorkflowHandle<typeof releaseModel> = await ctx.client.workflow.start(releaseModel, {
        taskQueue,
        workflowId: `release-${model}-v${input.version}-${randomUUID().slice(0, 8)}`,
        args: [{ ...input, token: tokens.rita }],
      });
      for (let i = 0; i < 100 && (await handle.query(statusQuery)).stage !== 'awaiting-approval'; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.signal(approveSignal, { token: tokens.alice, comment: 'ship it' });
      return handle.result();
    },
    { trainWorker: false }
  );
}

// v2 is v1 trained longer: its probabilities are sharper, and the prediction distribution moves by a Jensen-Shannon
// distance of about 0.1 (the default limit) depending on the traffic drawn. That is a healthy canary here.
const canary = {
  kind: 'canary' as const,
  steps: [0.2, 0.5, 1],
  observation: '3s',
  limits: { minRows: 10, maxPredictionShift: 0.3 },
};

beforeAll(async () => {
  tokens = await releaseTokens(deps.db, model);
  token = (await createToken(deps.db, 'canary-test', ['predict:*'])).token;
  expect(await train(10)).toBe(1);
  expect(await train(30)).toBe(2);
  expect((await release({ model, version: 1, first: true })).status).toBe('promoted');
  // The broken canary fails every request it takes; its error logs are expected here.
  ({ server, base } = await startTestServer(deps, { flushInterval: 500 }, deps.logger.child({}, { level: 'silent' })));
}, 240_000);

afterAll(async () => {
  await server?.close();
});

describe('release with a canary, under traffic', () => {
  it('approved by signal, passes each canary step, promotes; serving answers with the new version and feeds the monitor', async () => {
    const from = new Date();
    const load = traffic();
    const result = await release({ model, version: 2, strategy: canary });
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();

    expect(result.status).toBe('promoted');
    expect(result.steps.map((s) => s.weight)).toEqual([0.2, 0.5]);
    for (const step of result.steps) {
      const last = step.comparisons.at(-1)!;
      expect(last).toMatchObject({ judged: true, breaches: [] });
      expect(last.canary.rows).toBeGreaterThanOrEqual(10);
    }
    // The console's releases page shows the same steps, read back from the workflow.
    const consoleApi = createConsoleApi(deps.db, { temporal: 'http://127.0.0.1:8233/namespaces/default' }, ctx.client);
    expect(await consoleApi.canarySteps(result.releaseId.split('/')[0]!)).toEqual(result.steps);
    expect([...load.byStatus.keys()]).toEqual([200]);
    expect(load.byVersion.get(1)).toBeGreaterThan(0);
    expect(load.byVersion.get(2)).toBeGreaterThan(0);
    expect(await getDeployment(deps.db, model, 'production')).toMatchObject({
      stableVersion: 2,
      canaryVersion: null,
      previousVersion: 1,
    });
    expect((await resolveVersion(deps.db, { model, alias: 'production' })).version).toBe(2);

    await server.models.refresh();
    const res = await fetch(`${base}/v1/models/${model}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ rows: ROWS.slice(0, 3) }),
    });
    expect(((await res.json()) as { predictions: { version: number }[] }).predictions.map((p) => p.version)).toEqual([
      2, 2, 2,
    ]);
    await server.feed.flush();
    const feed = await readFeed(deps.db, { model, environment: 'production', version: 2, from, to: new Date() });
    expect(feed.predictions).toBeGreaterThan(10);
    expect(Object.keys(feed.features)).toContain('Island');
  });

  it('rolls a failing canary back by itself and leaves production as it was', async () => {
    // A version whose feature state is broken: every row it scores fails with a 500.
    const good = await resolveVersion(deps.db, { model, version: 2 });
    const pkg = await deps.store.getJson<ModelPackage>(good.packageDigest);
    const broken = { ...pkg, features: (pkg.features as { state: unknown }[]).map((f) => ({ ...f, state: null })) };
    const ref = await deps.store.putBytes(canonicalJson(broken));
    const runId = `broken-${randomUUID()}`;
    await startRun(deps.db, {
      workflowId: runId,
      executionId: 'test',
      pipeline: 'penguins',
      pipelineVersion: '1',
      trigger: 'test',
      config: {},
      configDigest: 'sha256:x',
      code: deps.code,
    });
    const { version } = await registerVersion(deps.db, {
      model,
      pipeline: 'penguins',
      runId,
      packageDigest: ref.digest,
      datasetDigest: good.datasetDigest,
      metrics: good.metrics,
      gate: good.gate,
      lineage: good.lineage,
      signer: deps.signer,
    });

    const load = traffic();
    const result = await release({ model, version, strategy: canary });
    await load.stop();

    expect(result.status).toBe('rolled-back');
    expect(result.outcome).toMatch(/canary at 20% breached: error rate 100\.00% vs stable 0\.00%/);
    expect(load.byStatus.get(500)).toBeGreaterThan(0);
    expect(await getDeployment(deps.db, model, 'production')).toMatchObject({ stableVersion: 2, canaryVersion: null });
    expect((await resolveVersion(deps.db, { model, alias: 'production' })).version).toBe(2);
    const { rows } = await deps.db.query('SELECT status FROM cairn.releases WHERE model = $1 AND version = $2', [
      model,
      version,
    ]);
    expect(rows).toEqual([{ status: 'rolled-back' }]);
  });
});
