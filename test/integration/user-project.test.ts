import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../../infra/stack/binaries.js';
import { createToken } from '../../lib/auth/tokens.js';
import { releaseTokens } from '../helpers/records.js';
import { getRun } from '../../lib/tracking/queries.js';
import type { Server } from '../../serving/server.js';
import type { RunPipelineResult } from '../../workflows/run-pipeline.js';
import { cairnProcesses, ROOT, runEntry } from '../helpers/cli.js';
import { services } from '../helpers/services.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;
const cairnProcess = cairnProcesses();
const execute = promisify(execFile);

// The online server starts before the project exists, and is never restarted.
let server: Server;
let base: string;
beforeAll(async () => {
  ({ server, base } = await startTestServer(deps));
});
afterAll(() => server?.close());

const RUN_ID = /^run\s+(\S+)$/m;
const STEPS = [
  'measured-penguins',
  'tabular-dataset',
  'tabular-validate',
  'tabular-transform',
  'tabular-train',
  'tabular-evaluate',
  'tabular-package',
  'tabular-register',
];

describe('a project made with `cairn init`, outside the repository, driven through the CLI', () => {
  it('runs from `cairn run` and `temporal workflow start`, caches, reproduces, releases with approval, and is served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-project-'));
    const init = await runEntry('cli/main.ts', ['init', dir]);
    expect(init.code).toBe(0);
    // What `npm install` does for the project's `cairn: file:<repo>` dependency (the test runs offline).
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'cairn'));

    const queue = `project-${Date.now().toString(36)}`;
    const env = { CAIRN_TASK_QUEUE: queue, CAIRN_TRAIN_TASK_QUEUE: `${queue}-train` };
    // Workers and CLI find the project as users do: from the working directory.
    cairnProcess(['worker'], env, dir);
    cairnProcess(['worker', '--heavy'], env, dir);

    const pipelines = await runEntry('cli/main.ts', ['pipelines'], env, dir);
    expect(pipelines.stdout).toContain('penguin-species v1  measured-penguins → tabular-dataset →');

    // 1. `cairn run`: every step computed, the model registered.
    const first = await runEntry('cli/main.ts', ['run', 'penguin-species', '--watch'], env, dir);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^cached\s+-$/m);
    const runId = RUN_ID.exec(first.stdout)![1]!;
    const run = await getRun(deps.db, runId);
    expect(run).toMatchObject({ status: 'succeeded', pipeline: 'penguin-species' });
    expect(run!.stages.map((s) => s.stage)).toEqual(STEPS);
    const outputs = run!.outputs as { model: string; version: number; package: { digest: string }; rows: number };
    expect(outputs).toMatchObject({ model: 'penguin-species', version: 1, rows: 342 });

    // The package records the project's code; a process given that bundle runs the same pipelines, from the store.
    const lineage = await runEntry('cli/main.ts', ['lineage', 'penguin-species@1'], env, dir);
    const bundle = /project bundle (sha256:[0-9a-f]{64})/.exec(lineage.stdout)![1]!;
    const fromStore = await runEntry('cli/main.ts', ['pipelines'], { ...env, CAIRN_PROJECT: `bundle:${bundle}` });
    expect(fromStore.stdout).toMatch(new RegExp(`^project .*/bundles/${bundle.slice(7)}$`, 'm'));
    expect(fromStore.stdout).toContain('penguin-species v1  measured-penguins → tabular-dataset →');

    // 2. `temporal workflow start --type runPipeline`: an identical run, fully cached.
    const s = services();
    const { temporal } = ensureBinaries(s.home, ['temporal']);
    const workflowId = `${queue}-by-temporal`;
    await execute(temporal, [
      'workflow',
      'start',
      '--type',
      'runPipeline',
      '--task-queue',
      queue,
      '--workflow-id',
      workflowId,
      '--input',
      JSON.stringify({ pipeline: 'penguin-species', trainTaskQueue: `${queue}-train` }),
      '--address',
      s.temporalAddress,
    ]);
    const cached = (await ctx.client.workflow.getHandle(workflowId).result()) as RunPipelineResult;
    expect(cached.cached.sort()).toEqual([...STEPS].sort());
    expect(cached.outputs).toEqual(run!.outputs);

    // 3. `cairn reproduce`: every step recomputed, the same bytes.
    const reproduced = await runEntry('cli/main.ts', ['reproduce', runId], env, dir);
    expect(reproduced.code).toBe(0);
    expect(reproduced.stdout).toMatch(/reproduced outputs\s+sha256:[0-9a-f]{64}\s+IDENTICAL/);
    const reproduction = await getRun(deps.db, /reproduced by (\S+)/.exec(reproduced.stdout)![1]!);
    expect(reproduction!.stages.every((stage) => !stage.cacheHit)).toBe(true);

    // 4. Released with an approval, then answered by the server that was running before the project existed.
    const { rita, alice } = await releaseTokens(deps.db, 'penguin-species');
    const release = await runEntry(
      'cli/main.ts',
      ['release', 'penguin-species@1', '--first'],
      { ...env, CAIRN_TOKEN: rita },
      dir
    );
    expect(release.code).toBe(0);
    const releaseId = 'release-penguin-species-v1-production';
    const handle = ctx.client.workflow.getHandle(releaseId);
    for (let i = 0; i < 200 && (await handle.query<{ stage: string }>('status')).stage !== 'awaiting-approval'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const approved = await runEntry('cli/main.ts', ['approve', releaseId], { ...env, CAIRN_TOKEN: alice }, dir);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`${releaseId}: approved by alice`);
    expect(await handle.result()).toMatchObject({ status: 'promoted' });

    const predict = (await createToken(deps.db, 'project-test', ['predict:*'])).token;
    const row = {
      island: 'Biscoe',
      beakLength: 47.5,
      beakDepth: 15,
      beakRatio: 3.1667,
      flipperLength: 220,
      bodyMass: 5200,
    };
    let answer: { status: number; body: { predictions?: { label?: string; version?: number }[] } } | undefined;
    for (let i = 0; i < 50 && answer?.status !== 200; i++) {
      const res = await fetch(`${base}/v1/models/penguin-species/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${predict}` },
        body: JSON.stringify({ row }),
      });
      answer = { status: res.status, body: (await res.json()) as never };
      if (res.status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(answer).toMatchObject({ status: 200 });
    expect(answer!.body.predictions?.[0]).toMatchObject({ label: 'Gentoo' });
  });
});
