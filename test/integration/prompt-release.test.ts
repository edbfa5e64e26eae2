import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../../infra/stack/binaries.js';
import { listAudit } from '../../lib/audit/log.js';
import { createToken } from '../../lib/auth/tokens.js';
import type { Server } from '../../serving/server.js';
import type { AliasReleaseResult } from '../../workflows/release-alias.js';
import { runEntry } from '../helpers/cli.js';
import { STAND_IN_KEY, startStandIn, writeIslandDataset } from '../helpers/llm-stand-in.js';
import { services } from '../helpers/services.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;
const run = promisify(execFile);
const data = join(mkdtempSync(join(tmpdir(), 'cairn-prompt-release-')), 'islands.jsonl');
const VARIABLES = { species: 'Adelie', beak: 39.1, mass: 3750 };

let provider: Awaited<ReturnType<typeof startStandIn>>;
let server: Server;
let base: string;
beforeAll(async () => {
  provider = await startStandIn();
  writeIslandDataset(data);
  ({ server, base } = await startTestServer(deps, { reloadInterval: 200 }));
});
afterAll(async () => {
  provider.close();
  await server?.close();
});

async function render(name: string, token: string, key: string) {
  const res = await fetch(`${base}/v1/prompts/${name}/render`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-cairn-key': key },
    body: JSON.stringify({ variables: VARIABLES }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { version: number; served?: 'stable' | 'canary' };
}

describe('prompt release', () => {
  it('create, evaluate against production, approve, canary by sticky key, promoted: by the CLI and the temporal CLI', async () => {
    const name = `island-${randomUUID().slice(0, 8)}`;
    const tokens = {
      releaser: (await createToken(deps.db, 'rita', [`release:${name}`])).token,
      approver: (await createToken(deps.db, 'alice', [`approver:${name}`])).token,
      client: (await createToken(deps.db, 'app', [`render:${name}`])).token,
    };
    const llm = { baseUrl: provider.baseUrl, apiKey: STAND_IN_KEY, timeoutMs: 10_000, concurrency: 4 };
    await withWorker({ ...deps, llm }, async (taskQueue) => {
      const cairn = (args: string[], token?: string) =>
        runEntry('cli/main.ts', args, { CAIRN_TASK_QUEUE: taskQueue, ...(token ? { CAIRN_TOKEN: token } : {}) });
      for (const v of [1, 2])
        await cairn(['prompts', 'create', name, '--file', `test/fixtures/prompts/island-v${v}.json`, '-m', `v${v}`]);
      const evaluate = (version: number) =>
        cairn(['prompts', 'evaluate', `${name}@${version}`, '--data', data, '--scorer', 'exact']);

      // The first release: no production yet, so the evaluation has no baseline; approved by the temporal CLI.
      expect((await evaluate(1)).code).toBe(0);
      const first = await cairn(['prompts', 'release', `${name}@1`], tokens.releaser);
      expect(first.code, first.stderr).toBe(0);
      const firstId = `release-prompt-${name}-v1-production`;
      expect(first.stdout).toContain(`cairn approve ${firstId}`);
      const s = services();
      const { temporal } = ensureBinaries(s.home, ['temporal']);
      await expect
        .poll(async () => (await ctx.client.workflow.getHandle(firstId).query<{ stage: string }>('status')).stage, {
          timeout: 20_000,
        })
        .toBe('awaiting-approval');
      await run(temporal, [
        'workflow',
        'signal',
        '--workflow-id',
        firstId,
        '--name',
        'approve',
        '-i',
        JSON.stringify({ token: tokens.approver }),
        '--address',
        s.temporalAddress,
      ]);
      const firstResult = (await ctx.client.workflow.getHandle(firstId).result()) as AliasReleaseResult;
      expect(firstResult).toMatchObject({ status: 'promoted', previousVersion: null });
      expect(firstResult.decisions).toEqual([
        expect.objectContaining({ decision: 'approve', by: 'alice', accepted: true }),
      ]);
      await expect.poll(async () => (await render(name, tokens.client, 'k')).version, { timeout: 5000 }).toBe(1);

      // v2 without an evaluation against production v1: the checklist refuses it.
      const unevaluated = await cairn(['prompts', 'release', `${name}@2`, '--wait'], tokens.releaser);
      expect(unevaluated.code).toBe(1);
      expect(unevaluated.stderr).toContain(`evaluation-passed: no passing evaluation of v2 against production v1`);

      // Evaluated against v1 (exact 1 vs 0): released as a canary taking half of the keys, approved by `cairn approve`.
      expect((await evaluate(2)).code).toBe(0);
      const canary = await cairn(
        ['prompts', 'release', `${name}@2`, '--strategy', 'canary', '--steps', '0.5', '--observation', '15s'],
        tokens.releaser
      );
      expect(canary.code, canary.stderr).toBe(0);
      const canaryId = `release-prompt-${name}-v2-production`;
      await expect
        .poll(async () => (await ctx.client.workflow.getHandle(canaryId).query<{ stage: string }>('status')).stage, {
          timeout: 20_000,
        })
        .toBe('awaiting-approval');
      const self = await cairn(['approve', canaryId], tokens.releaser);
      expect(self.code).toBe(4);
      const approved = await cairn(['approve', canaryId, '-c', 'exact 1.0 vs 0.0'], tokens.approver);
      expect(approved.stdout).toContain(`${canaryId}: approved by alice`);

      const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
      await expect
        .poll(async () => (await render(name, tokens.client, 'user-0')).served, { timeout: 5000 })
        .toBeDefined();
      const served = await Promise.all(keys.map((k) => render(name, tokens.client, k)));
      const onCanary = served.filter((r) => r.served === 'canary');
      expect(onCanary.length).toBeGreaterThan(5);
      expect(onCanary.length).toBeLessThan(35);
      expect(served.every((r) => r.version === (r.served === 'canary' ? 2 : 1))).toBe(true);
      // Sticky: the same key gets the same version again.
      const again = await Promise.all(keys.map((k) => render(name, tokens.client, k)));
      expect(again.map((r) => r.version)).toEqual(served.map((r) => r.version));

      const result = (await ctx.client.workflow.getHandle(canaryId).result()) as AliasReleaseResult;
      expect(result).toMatchObject({ status: 'promoted', previousVersion: 1 });
      expect(result.checklist.every((i) => i.ok)).toBe(true);
      await expect.poll(async () => (await render(name, tokens.client, 'user-1')).version, { timeout: 5000 }).toBe(2);
      expect(await render(name, tokens.client, 'user-2')).not.toHaveProperty('served');
      const actions = (await listAudit(deps.db, { subject: `${name}@production` })).map((e) => e.action).reverse();
      expect(actions).toEqual(['prompt.alias.promote', 'prompt.alias.canary', 'prompt.alias.promote']);

      // Back to the version production served before, by someone holding release:<prompt> only.
      expect((await cairn(['prompts', 'rollback', name], tokens.approver)).code).toBe(4);
      const rolledBack = await cairn(['prompts', 'rollback', name, '-r', 'answers too terse'], tokens.releaser);
      expect(rolledBack.stdout).toContain(`${name}@production -> 1 (was 2), by rita: answers too terse`);
      await expect.poll(async () => (await render(name, tokens.client, 'user-1')).version, { timeout: 5000 }).toBe(1);
    });
  });
});
