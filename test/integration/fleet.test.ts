import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../lib/artifacts/index.js';
import { createToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { getDeployment } from '../../lib/release/deployments.js';
import { listReplicas } from '../../lib/release/fleet.js';
import { resolveVersion } from '../../lib/registry/models.js';
import type { Server } from '../../serving/server.js';
import { approveSignal, statusQuery } from '../../workflows/messages.js';
import { releaseModel } from '../../workflows/release-model.js';
import type { ReleaseModelInput } from '../../workflows/release-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { runEntry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';
import { releaseTokens } from '../helpers/records.js';

const ctx = useServices();
const { deps } = ctx;
// An environment of its own: no other test's server is part of this fleet.
const environment = `fleet-env-${randomUUID().slice(0, 8)}`;
const model = `fleet-${randomUUID().slice(0, 8)}`;
const { Species: _species, ...PENGUIN } = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Record<
    string,
    unknown
  >[]
)[0]!;
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function train(rounds: number): Promise<number> {
  return withWorker(deps, async (taskQueue) => {
    const result = await ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `fleet-train-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds } }],
    });
    return result.model.version!;
  });
}

let tokens: { rita: string; alice: string };

/** Runs a release to its end (requested by rita), approving it as alice once it waits for a decision. */
async function release(input: Omit<ReleaseModelInput, 'model' | 'environment'>) {
  return withWorker(
    deps,
    async (taskQueue) => {
      const handle: WorkflowHandle<typeof releaseModel> = await ctx.client.workflow.start(releaseModel, {
        taskQueue,
        workflowId: `fleet-release-${randomUUID().slice(0, 8)}`,
        args: [{ ...input, model, environment, monitor: false, token: tokens.rita }],
      });
      for (let i = 0; (await handle.query(statusQuery)).stage !== 'awaiting-approval'; i++) {
        if (i > 200) throw new Error('the release never asked for a decision');
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.signal(approveSignal, { token: tokens.alice });
      return handle.result();
    },
    { trainWorker: false }
  );
}

/** The store as a replica cut off from one object sees it: reading `digest` fails. */
function storeWithout<S extends ArtifactStore>(store: S, digest: string): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'getJson')
        return async (d: string) => {
          if (d === digest) throw new Error(`access denied reading ${d}`);
          return target.getJson(d);
        };
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function servedVersion(base: string, token: string): Promise<number> {
  const res = await fetch(`${base}/v1/models/${model}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ row: PENGUIN }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { predictions: { version: number }[] }).predictions[0]!.version;
}

describe('fleet acknowledgement', () => {
  it('moves traffic only to a version every live replica has loaded; one that cannot load it fails the release by name', async () => {
    const token = (await createToken(deps.db, `fleet-${randomUUID().slice(0, 6)}`, ['predict:*'])).token;
    tokens = await releaseTokens(deps.db, model);
    const v1 = await train(5);
    const v2 = await train(6); // another package: the same config would build v1's, bit for bit
    const v2Package = (await resolveVersion(deps.db, { model, version: v2 })).packageDigest;

    const a = await startTestServer(deps, { environment });
    const b = await startTestServer({ ...deps, store: storeWithout(deps.store, v2Package) }, { environment });
    servers.push(a.server, b.server);

    const first = await release({ version: v1, first: true });
    expect(first.status).toBe('promoted');
    // Promoted means served: when the release ends, both replicas already answer with v1.
    expect(await servedVersion(a.base, token)).toBe(v1);
    expect(await servedVersion(b.base, token)).toBe(v1);

    // Replica b cannot read v2's package: the release stops before any traffic moves, naming b and its error.
    const second = await release({ version: v2 });
    expect(second.status).toBe('rolled-back');
    expect(second.outcome).toContain(`replica ${b.server.models.replicaId} could not load ${model}@${v2}`);
    expect(second.outcome).toContain(`access denied reading ${v2Package}`);
    expect(second.outcome).toContain(`${model}@${v1} keeps serving ${environment}`);
    expect(await getDeployment(deps.db, model, environment)).toMatchObject({ stableVersion: v1, canaryVersion: null });
    expect(await servedVersion(a.base, token)).toBe(v1);
    expect(await servedVersion(b.base, token)).toBe(v1);
    const { rows: staged } = await deps.db.query('SELECT * FROM cairn.staged_versions WHERE model = $1', [model]);
    expect(staged).toEqual([]);

    // `cairn deployments status` shows each replica, what it serves, and what it failed to load.
    const status = await runEntry('cli/main.ts', ['deployments', 'status', '--env', environment]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(a.server.models.replicaId);
    expect(status.stdout).toContain(`${model}@${v1} (rev 1)`);
    const replicas = await listReplicas(deps.db, environment);
    expect(replicas.map((r) => r.id).sort()).toEqual([a.server.models.replicaId, b.server.models.replicaId].sort());

    // Once b leaves the fleet, the same version releases, and the replica left serves it when the release ends.
    await b.server.close();
    expect((await listReplicas(deps.db, environment)).map((r) => r.id)).toEqual([a.server.models.replicaId]);
    const third = await release({ version: v2 });
    expect(third.status).toBe('promoted');
    expect(await servedVersion(a.base, token)).toBe(v2);
    expect(await getDeployment(deps.db, model, environment)).toMatchObject({ stableVersion: v2, previousVersion: v1 });
  });
});
