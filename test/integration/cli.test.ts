import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../../infra/stack/binaries.js';
import { listAudit } from '../../lib/audit/log.js';
import { createToken } from '../../lib/auth/tokens.js';
import { registerVersion, resolveVersion } from '../../lib/registry/models.js';
import { testRun } from '../helpers/records.js';
import { getRun } from '../../lib/tracking/queries.js';
import { startRun } from '../../lib/tracking/runs.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { runEntry } from '../helpers/cli.js';
import { services, testDeps } from '../helpers/services.js';
import { testClient, withWorker } from '../helpers/temporal.js';

const run = promisify(execFile);
const deps = testDeps();
afterAll(() => deps.close());

describe('cairn CLI', () => {
  const oneLine = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0]!;
  };

  it('lists its commands', async () => {
    const { code, stdout } = await runEntry('cli/main.ts', ['--help']);
    expect(code).toBe(0);
    for (const command of ['hello', 'check', 'config']) expect(stdout).toContain(command);
  });

  it('runs hello through the worker and prints the references', async () => {
    const out = await withWorker(deps, (taskQueue) =>
      runEntry('cli/main.ts', ['hello', 'Lin'], { CAIRN_TASK_QUEUE: taskQueue })
    );
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout.slice(out.stdout.indexOf('{')));
    expect(result.greeting).toBe('Hello, Lin!');
    expect((await deps.store.stat(result.artifact.digest))?.bytes).toBe(result.artifact.bytes);
  });

  it.each([
    [['run', 'pengiuns'], /^cairn: unknown pipeline "pengiuns" \(known: flight-delays, penguins\)$/],
    [['run', 'penguins', '--set', 'roundz=3'], /^cairn: pipeline penguins: invalid config: unknown config key roundz$/],
    [
      ['run', 'penguins', '--set', 'rounds=many'],
      /^cairn: pipeline penguins: invalid config: config key rounds: .*expected number/,
    ],
  ])('cairn %j fails at start with one line and exit 2, starting no workflow', async (args, expected) => {
    const { code, stdout, stderr } = await runEntry('cli/main.ts', args);
    expect(code).toBe(2);
    expect(stdout).not.toContain('started');
    expect(oneLine(stderr)).toMatch(expected);
  });

  it('cairn run --watch trains penguins and prints the result table', async () => {
    const out = await withWorker(deps, (taskQueue) =>
      runEntry('cli/main.ts', ['run', 'penguins', '--set', 'rounds=30', '--watch'], {
        CAIRN_TASK_QUEUE: taskQueue,
        CAIRN_TRAIN_TASK_QUEUE: `${taskQueue}-train`,
      })
    );
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^started train-penguins-/);
    for (const stage of ['prepare', 'ingest', 'validate', 'transform', 'train', 'evaluate', 'package']) {
      expect(out.stdout).toContain(`  ${stage}\n`);
    }
    expect(out.stdout).toMatch(/^accuracy\s+(0\.9[5-9]\d*|1)$/m);
    expect(out.stdout).toMatch(/^gate\s+passed$/m);
    const runId = /^run\s+(\S+)$/m.exec(out.stdout)![1]!;
    // Started as the principal of the token the CLI presented (the tests' `tester`), not as the machine's user.
    expect((await getRun(deps.db, runId))?.requestedBy).toBe('tester');
    const anonymous = await runEntry('cli/main.ts', ['run', 'penguins'], { CAIRN_TOKEN: '' });
    expect(anonymous.code).toBe(4);
    expect(oneLine(anonymous.stderr)).toBe(
      'cairn: this command needs a token (any role): set CAIRN_TOKEN or --token-file'
    );
    const status = await runEntry('cli/main.ts', ['status', runId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('COMPLETED');
    expect(status.stdout).toMatch(/^model package\s+sha256:[0-9a-f]{64}$/m);
  });

  it('lineage, models, runs and compare print what the registry holds (after the run above registered penguins)', async () => {
    const lineage = await runEntry('cli/main.ts', ['lineage', 'penguins@champion']);
    expect(lineage.code).toBe(0);
    expect(lineage.stdout).toMatch(/^penguins@\d+ {2}package sha256:[0-9a-f]{64}$/m);
    expect(lineage.stdout).toMatch(/config sha256:[0-9a-f]{64} {2}.*\brounds=30\b/);
    expect(lineage.stdout).toMatch(/code [0-9a-f]{40}|code unknown/);
    expect(lineage.stdout).toMatch(/manifest sha256:[0-9a-f]{64} {2}readable: Species, Island/);
    const asJson = JSON.parse((await runEntry('cli/main.ts', ['lineage', 'penguins@champion', '--json'])).stdout);
    expect(asJson.dataset.manifest.readable).toBe(true);
    const models = await runEntry('cli/main.ts', ['models', 'list', '--json']);
    expect(
      JSON.parse(models.stdout).find((m: { name: string }) => m.name === 'penguins').aliases.champion
    ).toBeGreaterThan(0);
    const runs = JSON.parse(
      (await runEntry('cli/main.ts', ['runs', 'list', '--pipeline', 'penguins', '--json'])).stdout
    );
    const [a, b] = runs.filter((r: { status: string }) => r.status === 'succeeded');
    if (a && b) {
      const compared = await runEntry('cli/main.ts', ['compare', a.id, b.id]);
      expect(compared.code).toBe(0);
      expect(compared.stdout).toMatch(/^metric\s+accuracy\s/m);
    }
  });

  it.each([
    [
      ['lineage', 'penguins'],
      /^cairn: malformed model reference "penguins": expected <model>@<version> or <model>@<staging\|production\|champion>$/,
    ],
    [['lineage', 'no-such-model@1'], /^cairn: unknown model no-such-model \(registered: .*\)$/],
    [['reproduce', 'penguins@999'], /^cairn: penguins@999 does not exist$/],
    [['lineage', 'penguins@newest'], /^cairn: unknown alias "newest" in penguins@newest/],
    [['runs', 'show', 'no-such-run'], /^cairn: unknown run no-such-run/],
  ])('cairn %j fails with one clear line and exit 2', async (args, expected) => {
    const { code, stderr } = await runEntry('cli/main.ts', args);
    expect(code).toBe(2);
    expect(oneLine(stderr)).toMatch(expected);
  });

  it('refuses to compare runs of different pipelines', async () => {
    const ids = [`cmp-a-${Date.now()}`, `cmp-b-${Date.now()}`];
    for (const [i, id] of ids.entries()) {
      await startRun(deps.db, {
        workflowId: id,
        executionId: 'test',
        pipeline: i ? 'flight-delays' : 'penguins',
        pipelineVersion: '1',
        trigger: 'test',
        config: {},
        configDigest: 'sha256:x',
        code: deps.code,
      });
    }
    const { code, stderr } = await runEntry('cli/main.ts', ['compare', ...ids]);
    expect(code).toBe(2);
    expect(oneLine(stderr)).toBe(
      `cairn: cannot compare runs of different pipelines: ${ids[0]} is penguins, ${ids[1]} is flight-delays`
    );
  });

  it('passes check when every service answers', async () => {
    const { code, stdout } = await runEntry('cli/main.ts', ['check']);
    expect(code).toBe(0);
    expect(stdout.match(/^ok /gm)).toHaveLength(3);
  });

  it.each([
    [
      'Temporal',
      { TEMPORAL_ADDRESS: '127.0.0.1:1' },
      /^cairn: cannot reach temporal at 127\.0\.0\.1:1 \(temporal\.address \/ TEMPORAL_ADDRESS\): /,
    ],
    [
      'PostgreSQL',
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/cairn' },
      /^cairn: cannot reach postgres at 127\.0\.0\.1:1\/cairn \(database\.url \/ DATABASE_URL\): /,
    ],
    [
      'the object store',
      { S3_ENDPOINT: 'http://127.0.0.1:1' },
      /^cairn: cannot reach object-store at http:\/\/127\.0\.0\.1:1 \(store\.endpoint \/ S3_ENDPOINT\): /,
    ],
  ])('an unreachable %s gives one line naming the endpoint and exit 2', async (_name, env, expected) => {
    const { code, stderr } = await runEntry('cli/main.ts', ['check'], env);
    expect(code).toBe(2);
    expect(oneLine(stderr)).toMatch(expected);
  });

  it('bad config gives one line naming the key and exit 2, for the CLI and the workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-yaml-'));
    writeFileSync(join(dir, 'cairn.yaml'), 'store:\n  buckett: x\n');
    const unknown = await runEntry('cli/main.ts', ['check'], { CAIRN_CONFIG: join(dir, 'cairn.yaml') });
    expect(unknown.code).toBe(2);
    expect(oneLine(unknown.stderr)).toBe(`cairn: ${join(dir, 'cairn.yaml')}: unknown key store.buckett`);

    const wrongType = await runEntry('workers/cairn.ts', [], { CAIRN_DB_POOL_SIZE: 'many' });
    expect(wrongType.code).toBe(2);
    expect(oneLine(wrongType.stderr)).toMatch(
      /^cairn-worker: database\.poolSize \(from CAIRN_DB_POOL_SIZE\): .*got "many"$/
    );

    const unreachable = await runEntry('workers/cairn-train.ts', [], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/cairn',
    });
    expect(unreachable.code).toBe(2);
    expect(oneLine(unreachable.stderr)).toMatch(/^cairn-train-worker: cannot reach postgres at 127\.0\.0\.1:1\/cairn/);
  });

  it('releases from the CLI with tokens: issued by an admin, release, a refused approve, approval by `temporal workflow signal`, rollback', async () => {
    const model = `cli-${Date.now().toString(36)}`;
    const client = await testClient();
    try {
      await withWorker(deps, async (taskQueue) => {
        const env = { CAIRN_TASK_QUEUE: taskQueue };
        await client.workflow.execute(trainingPipeline, {
          taskQueue,
          workflowId: `${model}-train`,
          args: [{ pipeline: 'penguins', model, config: { rounds: 5 } }],
        });
        const as = (token: string) => ({ ...env, CAIRN_TOKEN: token });
        // Tokens are issued by an admin only; the first admin comes from `tokens bootstrap`, refused once one exists.
        const issue = ['tokens', 'create', '--principal', 'alice', '--role', `approver:${model}`];
        const anonymous = await runEntry('cli/main.ts', issue, { ...env, CAIRN_TOKEN: '' });
        expect(anonymous.code).toBe(4);
        expect(oneLine(anonymous.stderr)).toBe(
          'cairn: this command needs a token with the role admin: set CAIRN_TOKEN or --token-file'
        );
        const admin = (await createToken(deps.db, 'root', ['admin'])).token;
        const bootstrap = await runEntry('cli/main.ts', ['tokens', 'bootstrap', '--principal', 'eve'], env);
        expect(bootstrap.code).toBe(4);
        expect(oneLine(bootstrap.stderr)).toContain('a live admin token exists');
        const issued = await runEntry('cli/main.ts', [...issue, '--expires', '1d'], as(admin));
        expect(issued.stdout).toMatch(
          new RegExp(
            `^token \\w+ for alice \\(approver:${model}\\), expires \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z; shown once:\\ncairn_`
          )
        );
        const alice = issued.stdout.trim().split('\n')[1]!;
        const rita = (await createToken(deps.db, 'rita', [`release:${model}`])).token;
        const mallory = (await createToken(deps.db, 'mallory', ['predict:*'])).token;
        // The token file is read the same way as CAIRN_TOKEN.
        const ritaFile = join(services().home, `rita-${model}`);
        writeFileSync(ritaFile, `${rita}\n`, { mode: 0o600 });

        const unauthenticated = await runEntry('cli/main.ts', ['release', `${model}@1`, '--first'], {
          ...env,
          CAIRN_TOKEN: '',
        });
        expect(unauthenticated.code).toBe(4);
        const started = await runEntry(
          'cli/main.ts',
          ['--token-file', ritaFile, 'release', `${model}@1`, '--first'],
          env
        );
        expect(started.code).toBe(0);
        const workflowId = `release-${model}-v1-production`;
        expect(started.stdout).toContain(`started ${workflowId}`);
        const handle = client.workflow.getHandle(workflowId);
        for (
          let i = 0;
          i < 100 && (await handle.query<{ stage: string }>('status')).stage !== 'awaiting-approval';
          i++
        ) {
          await new Promise((r) => setTimeout(r, 100));
        }
        const refused = await runEntry('cli/main.ts', ['approve', workflowId], as(mallory));
        expect(refused.code).toBe(4);
        expect(oneLine(refused.stderr)).toBe(
          `cairn: approve refused: mallory does not hold the role approver:${model} (has: predict:*)`
        );

        const s = services();
        const { temporal } = ensureBinaries(s.home, ['temporal']);
        await run(temporal, [
          'workflow',
          'signal',
          '--workflow-id',
          workflowId,
          '--name',
          'approve',
          '-i',
          JSON.stringify({ token: alice }),
          '--address',
          s.temporalAddress,
        ]);
        expect(await handle.result()).toMatchObject({ status: 'promoted' });

        const listed = await runEntry('cli/main.ts', ['deployments', 'list', '--model', model], env);
        expect(listed.stdout).toMatch(new RegExp(`${model}\\s+production\\s+v1\\s+-`));
        const notReleaser = await runEntry('cli/main.ts', ['rollback', model], as(alice));
        expect(notReleaser.code).toBe(4);
        expect(oneLine(notReleaser.stderr)).toBe(
          `cairn: refused: alice does not hold the role release:${model} (has: approver:${model})`
        );
        const rollback = await runEntry('cli/main.ts', ['rollback', model], as(rita));
        expect(rollback.code).toBe(2);
        expect(oneLine(rollback.stderr)).toBe('cairn: no previous version to roll back to');
      });
    } finally {
      await client.connection.close();
    }
  });

  it('changes schedules only with an admin token, and audits each change with the principal', async () => {
    const id = `sched-${Date.now().toString(36)}`;
    const create = ['schedule', 'create', 'penguins', '--cron', '0 3 * * 1', '--id', id, '--paused'];
    const refused = await runEntry('cli/main.ts', create, { CAIRN_TOKEN: '' });
    expect(refused.code).toBe(4);
    expect(oneLine(refused.stderr)).toBe(
      'cairn: this command needs a token with the role admin: set CAIRN_TOKEN or --token-file'
    );
    const admin = { CAIRN_TOKEN: (await createToken(deps.db, 'root', ['admin'])).token };
    expect((await runEntry('cli/main.ts', create, admin)).stdout).toContain(`created schedule ${id}`);
    expect((await runEntry('cli/main.ts', ['schedule', 'delete', id], admin)).stdout).toContain(`${id} deleted`);
    const audited = await listAudit(deps.db, { subject: id });
    expect(audited.map((e) => `${e.actor} ${e.action}`)).toEqual(['root schedule.deleted', 'root schedule.created']);
  });

  it('manages signing keys as files, with an admin token, and signs a registered version again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-keys-'));
    const keyFile = join(dir, 'secrets', 'key.json');
    const env = { CAIRN_TRUST_DIR: join(dir, 'keys'), CAIRN_SIGNING_KEY_FILE: keyFile };
    const create = ['keys', 'create', '--signer', 'release-team'];
    expect((await runEntry('cli/main.ts', create, { ...env, CAIRN_TOKEN: '' })).code).toBe(4);
    const admin = { ...env, CAIRN_TOKEN: (await createToken(deps.db, 'root', ['admin'])).token };
    const created = await runEntry('cli/main.ts', create, admin);
    expect(created.code).toBe(0);
    const keyId = /^key (\w+) for release-team: private key in /.exec(created.stdout)![1]!;
    expect((await runEntry('cli/main.ts', ['keys', 'list'], env)).stdout).toMatch(
      new RegExp(`${keyId}\\s+release-team\\s+\\S+\\s+-\\s+yes`)
    );
    // A version of a model of its own (its package any stored bytes), signed again with the new key.
    const model = `keys-${Date.now().toString(36)}`;
    const pkg = await deps.store.putBytes(JSON.stringify({ model }));
    const runId = await startRun(deps.db, testRun(deps, `keys-run-${model}`));
    await registerVersion(deps.db, {
      model,
      pipeline: 'penguins',
      runId,
      packageDigest: pkg.digest,
      datasetDigest: 'sha256:d',
      metrics: {},
      gate: {},
      lineage: {},
    });
    const signed = await runEntry('cli/main.ts', ['keys', 'sign', `${model}@1`], admin);
    expect(signed.stdout).toBe(`${model}@1 (package ${pkg.digest}) signed with key ${keyId} (release-team)\n`);
    expect((await resolveVersion(deps.db, { model, version: 1 })).signature).toMatchObject({ keyId });
    expect((await runEntry('cli/main.ts', ['keys', 'revoke', keyId], admin)).code).toBe(0);
    expect((await runEntry('cli/main.ts', ['keys', 'list'], env)).stdout).toMatch(
      new RegExp(`${keyId}\\s+release-team\\s+\\S+\\s+\\d{4}-\\d\\d-\\d\\dT`)
    );
    const audited = await listAudit(deps.db, { action: 'key.', limit: 1000 });
    expect(audited.filter((e) => e.subject === keyId || e.details.key === keyId).map((e) => e.action)).toEqual([
      'key.revoked',
      'key.signed',
      'key.created',
    ]);
  });
});
