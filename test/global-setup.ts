import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureSigningKey } from '../lib/signing/packages.js';
import { createToken } from '../lib/auth/tokens.js';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import './helpers/services.js';
import { loadConfig } from '../lib/config/index.js';
import { migrate } from '../lib/db/migrate.js';
import { ensureBinaries } from '../infra/stack/binaries.js';
import { ensureLocalS3Secret, objectStoreUp } from '../infra/stack/components.js';
import { ownedPid, stackDirs, stopOwned } from '../infra/stack/processes.js';
import { WORKFLOWS_PATH } from '../workers/run-worker.js';
import { CAIRN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

const quiet = () => undefined;

/** A fresh database `<name>_test` on the configured server, migrated. */
async function freshDatabase(url: string): Promise<string> {
  const test = new URL(url);
  test.pathname = `/${test.pathname.slice(1)}_test`;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    const name = pg.escapeIdentifier(test.pathname.slice(1));
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  await migrate(test.href);
  return test.href;
}

/**
 * Starts one Temporal dev server from the installed `temporal` binary (no download), a fresh test database,
 * and the object store (reusing a running one), and bundles the workflows once.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const dirs = stackDirs(config.home);
  const { temporal } = ensureBinaries(config.home, ['temporal', 'weed']);

  const testStore = { ...config, store: { ...config.store, bucket: `${config.store.bucket}-test` } };
  ensureLocalS3Secret(testStore);
  ensureSigningKey(config);
  const storeWasOurs = ownedPid(dirs, 'seaweedfs') !== undefined;

  const [env, databaseUrl, { code }] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: temporal }, searchAttributes: CAIRN_SEARCH_ATTRIBUTES },
    }),
    freshDatabase(config.database.url),
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      // Every activity a test schedules is checked for a bounded retry policy.
      workflowInterceptorModules: [fileURLToPath(new URL('./helpers/bounded-retries.ts', import.meta.url))],
      logger: new DefaultLogger('WARN'),
    }),
    objectStoreUp(testStore, dirs, quiet),
  ]);
  const startedStore = !storeWasOurs && ownedPid(dirs, 'seaweedfs') !== undefined;

  const testDir = join(config.home, 'test');
  mkdirSync(testDir, { recursive: true });
  // One bundle per test run, so two runs on one machine (each with its own DATABASE_URL) do not share it.
  const workflowBundlePath = resolve(testDir, `workflow-bundle-${process.pid}.js`);
  writeFileSync(workflowBundlePath, code);

  // The principal the CLI runs as in tests (`serviceEnv`): a token without roles, enough to start runs.
  const pool = new pg.Pool({ connectionString: databaseUrl });
  const cliToken = (await createToken(pool, 'tester', [], { lifetimeMs: null })).token;
  await pool.end();

  const { store } = testStore;
  project.provide('services', {
    cliToken,
    temporalAddress: env.address,
    namespace: env.namespace ?? 'default',
    databaseUrl,
    s3: {
      endpoint: store.endpoint,
      bucket: store.bucket,
      region: store.region,
      accessKey: store.accessKey,
      secretKey: store.secretKey!,
    },
    workflowBundlePath,
    home: config.home,
  });

  return async () => {
    await env.teardown();
    rmSync(workflowBundlePath, { force: true });
    if (startedStore) await stopOwned(dirs, 'seaweedfs');
  };
}
