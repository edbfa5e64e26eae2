import { randomUUID } from 'node:crypto';
import { createToken } from '../../lib/auth/tokens.js';
import type { Queryable } from '../../lib/db/pool.js';
import { registerVersion } from '../../lib/registry/models.js';
import { startRun } from '../../lib/tracking/runs.js';
import type { NewRun } from '../../lib/tracking/runs.js';
import type { TestDeps } from './services.js';

/** A run record of `penguins` for tests that need one without training (placeholder config and code). */
export const testRun = (deps: Pick<TestDeps, 'code'>, workflowId: string, executionId = 'e1'): NewRun => ({
  workflowId,
  executionId,
  pipeline: 'penguins',
  pipelineVersion: '1',
  trigger: 'test',
  config: { rounds: 3 },
  configDigest: 'sha256:x',
  code: deps.code,
});

/** Records a run and registers its (placeholder) package as the next version of `model`; returns the version. */
export async function registerTestVersion(deps: Pick<TestDeps, 'db' | 'code'>, model: string): Promise<number> {
  const runId = await startRun(deps.db, testRun(deps, `test-run-${randomUUID().slice(0, 8)}`));
  const { version } = await registerVersion(deps.db, {
    model,
    pipeline: 'penguins',
    runId,
    packageDigest: 'sha256:p',
    datasetDigest: 'sha256:d',
    metrics: {},
    gate: {},
    lineage: {},
  });
  return version;
}

/** Tokens for releasing `model` in a test: rita may request releases and roll back, alice may approve. */
export async function releaseTokens(db: Queryable, model: string): Promise<{ rita: string; alice: string }> {
  const rita = (await createToken(db, 'rita', [`release:${model}`])).token;
  const alice = (await createToken(db, 'alice', [`approver:${model}`])).token;
  return { rita, alice };
}
