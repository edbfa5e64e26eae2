import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { keyOf } from '../../lib/artifacts/digest.js';
import { createS3Client } from '../../lib/artifacts/s3-store.js';
import { createToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { listReplicas } from '../../lib/release/fleet.js';
import { resolveVersion, setSignature } from '../../lib/registry/models.js';
import { createSigningKey, PackageSigner, revokeSigningKey } from '../../lib/signing/packages.js';
import type { Server } from '../../serving/server.js';
import { releaseModel } from '../../workflows/release-model.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { releaseTokens } from '../helpers/records.js';
import { startTestServer } from '../helpers/serving.js';
import { services, testConfig } from '../helpers/services.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;
const environment = `signing-env-${randomUUID().slice(0, 8)}`;
const model = `signed-${randomUUID().slice(0, 8)}`;
const { Species: _species, ...PENGUIN } = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Record<
    string,
    unknown
  >[]
)[0]!;
let server: Server | undefined;
afterAll(() => server?.close());

async function train(rounds: number): Promise<number> {
  return withWorker(deps, async (taskQueue) => {
    const result = await ctx.client.workflow.execute(trainingPipeline, {
      taskQueue,
      workflowId: `signing-train-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds } }],
    });
    return result.model.version!;
  });
}

const activities = createActivities(deps);
const request = (version: number) => ({
  releaseId: `signing-${randomUUID()}`,
  model,
  version,
  environment,
  strategy: { kind: 'direct' },
  first: false,
});
const signedItem = async (version: number) =>
  (await activities.releaseChecklist(request(version))).items.find((i) => i.item === 'package-signed')!;

describe('signed model packages', () => {
  it('releases and serves only packages whose signature verifies under a trusted, live key', async () => {
    const v1 = await train(5);
    const v2 = await train(6);
    const original = await resolveVersion(deps.db, { model, version: v2 });
    expect(original.signature).toMatchObject({ keyId: deps.signer!.keyId, signer: deps.signer!.signer });
    expect(await signedItem(v2)).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^signed by .* trusted here$/),
    });

    // v1 serves; the server is the loader under test (the stream consumer shares its ModelSet code).
    await changeDeployment(deps.db, model, environment, moves.promote(v1, null), {
      action: 'promote',
      by: 'test',
      reason: 'test',
    });
    const started = await startTestServer(deps, { environment });
    server = started.server;
    const token = (await createToken(deps.db, 'signing-client', [`predict:${model}`])).token;
    const served = async () => {
      const res = await fetch(`${started.base}/v1/models/${model}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ row: PENGUIN }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { predictions: { version: number }[] }).predictions[0]!.version;
    };
    expect(await served()).toBe(v1);

    /** Refused by the checklist, the online loader and batch inference, with production left on v1. */
    const refusedEverywhere = async (problem: RegExp) => {
      const item = await signedItem(v2);
      expect(item.ok).toBe(false);
      expect(item.detail).toMatch(problem);

      await changeDeployment(deps.db, model, environment, moves.promote(v2, null), {
        action: 'promote',
        by: 'test',
        reason: 'test',
      });
      await server!.models.refresh();
      expect(await served()).toBe(v1);
      const [replica] = await listReplicas(deps.db, environment);
      expect(replica!.errors).toEqual([{ model, version: v2, error: expect.stringMatching(problem) }]);
      await changeDeployment(deps.db, model, environment, moves.rollback(), {
        action: 'rollback',
        by: 'test',
        reason: 'test',
      });
      await server!.models.refresh();

      const batch = await activities
        .resolveBatchInference({ model: `${model}@${v2}`, input: original.datasetDigest })
        .catch((e: unknown) => e);
      expect(batch).toBeInstanceOf(ApplicationFailure);
      expect(batch).toMatchObject({
        type: 'UntrustedPackage',
        nonRetryable: true,
        message: expect.stringMatching(problem),
      });
    };
    const setRow = (signature: unknown, packageDigest = original.packageDigest) =>
      deps.db.query(
        'UPDATE cairn.model_versions SET signature = $3, package_digest = $4 WHERE model = $1 AND version = $2',
        [model, v2, signature === null ? null : JSON.stringify(signature), packageDigest]
      );

    // Not signed at all.
    await setRow(null);
    await refusedEverywhere(new RegExp(`${model}@${v2} is not signed`));
    // The signature altered.
    const sig = original.signature!.signature;
    await setRow({ ...original.signature, signature: `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}` });
    await refusedEverywhere(/the signature of key \w+ does not match package/);
    // The row pointed at another package (v1's, bytes intact and digest-verified): its signature no longer matches.
    const v1Package = (await resolveVersion(deps.db, { model, version: v1 })).packageDigest;
    await setRow(original.signature, v1Package);
    await refusedEverywhere(new RegExp(`the signature of key \\w+ does not match package ${v1Package}`));
    await setRow(original.signature);

    // The package's bytes changed in the store (same key, other content): its digest no longer matches, so the
    // checklist and the loader refuse it before its signature is even relevant.
    const s3 = createS3Client(services().s3);
    const bytes = await deps.store.getBytes(original.packageDigest);
    const tampered = Buffer.from(bytes.toString('utf8').replace('"rounds":6', '"rounds":7'));
    expect(tampered.equals(bytes)).toBe(false);
    await s3.putObject(services().s3.bucket, keyOf(original.packageDigest), tampered);
    const registered = (await activities.releaseChecklist(request(v2))).items.find(
      (i) => i.item === 'version-registered'
    )!;
    expect(registered).toMatchObject({ ok: false, detail: expect.stringMatching(/does not match|integrity|digest/i) });
    await changeDeployment(deps.db, model, environment, moves.promote(v2, null), {
      action: 'promote',
      by: 'test',
      reason: 'test',
    });
    await server.models.refresh();
    expect(await served()).toBe(v1);
    await changeDeployment(deps.db, model, environment, moves.rollback(), {
      action: 'rollback',
      by: 'test',
      reason: 'test',
    });
    await s3.putObject(services().s3.bucket, keyOf(original.packageDigest), bytes);

    // Signed by another team's key: trusted while it lives, refused once it is revoked.
    const keyFile = join(mkdtempSync(join(tmpdir(), 'cairn-key-')), 'key.json');
    const trustDir = testConfig().signing.trustDir!;
    const other = createSigningKey(keyFile, trustDir, `other-team-${randomUUID().slice(0, 4)}`);
    await setSignature(deps.db, original, PackageSigner.load(keyFile)!);
    expect(await signedItem(v2)).toMatchObject({
      ok: true,
      detail: `signed by ${other.signer} (key ${other.keyId}), trusted here`,
    });
    revokeSigningKey(trustDir, other.keyId);
    await new Promise((r) => setTimeout(r, 1100)); // the trust directory is read again at most every second
    await refusedEverywhere(new RegExp(`signed by key ${other.keyId} \\(${other.signer}\\), revoked`));

    // The release workflow ends at its checklist, naming the item.
    const { rita } = await releaseTokens(deps.db, model);
    const err = await withWorker(
      deps,
      (taskQueue) =>
        ctx.client.workflow.execute(releaseModel, {
          taskQueue,
          workflowId: `signing-release-${randomUUID().slice(0, 8)}`,
          args: [{ model, version: v2, environment, token: rita, monitor: false }],
        }),
      { trainWorker: false }
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as Error).message).toMatch(
      new RegExp(`package-signed: ${model}@${v2} is signed by key ${other.keyId} .*revoked`)
    );
    expect(await served()).toBe(v1);
    rmSync(join(trustDir, `${other.keyId}.json`));
  });
});
