import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protos from '@temporalio/proto';
import { S3ArtifactStore } from '../../lib/artifacts/index.js';
import type { CairnConfig } from '../../lib/config/index.js';
import { requireS3Secret } from '../../lib/config/index.js';
import { ensureDatabase, migrate } from '../../lib/db/migrate.js';
import { probeObjectStore, probePostgres, probeTemporal } from '../../lib/health/probes.js';
import type { ProbeResult } from '../../lib/health/probes.js';
import { connectClient } from '../../lib/temporal/connection.js';
import { CAIRN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { ensureBinaries } from './binaries.js';
import { ownedPid, startDetached, waitUntil } from './processes.js';
import type { StackDirs } from './processes.js';

export type Say = (line: string) => void;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const isLoopback = (host: string) => ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

async function upWith(
  name: string,
  probe: () => Promise<ProbeResult>,
  start: () => void,
  dirs: StackDirs,
  timeoutMs: number,
  say: Say
): Promise<'running' | 'started'> {
  const first = await probe();
  if (first.ok) {
    say(`${name}: already running at ${first.address}${ownedPid(dirs, name) ? ' (started by this stack)' : ''}`);
    return 'running';
  }
  start();
  let last = first;
  await waitUntil(
    `${name} at ${first.address}`,
    async () => (last = await probe()).ok,
    timeoutMs,
    join(dirs.logs, `${name}.log`)
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last check: ${last.detail})`);
  });
  say(`${name}: started at ${first.address} (pid ${ownedPid(dirs, name)}, log ${join(dirs.logs, `${name}.log`)})`);
  return 'started';
}

/** Starts `temporal server start-dev` on loopback (state in `<home>/temporal.db`) unless one answers already. */
export async function temporalUp(config: CairnConfig, dirs: StackDirs, say: Say): Promise<void> {
  const host = config.temporal.address.slice(0, config.temporal.address.lastIndexOf(':'));
  await upWith(
    'temporal',
    () => probeTemporal(config),
    () => {
      if (!isLoopback(host))
        throw new Error(
          `Temporal at ${config.temporal.address} (TEMPORAL_ADDRESS) does not answer, and it is not local to start`
        );
      const { temporal } = ensureBinaries(dirs.home, ['temporal'], say);
      startDetached(dirs, 'temporal', temporal, [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(portOf(config.temporal.address)),
        '--ui-port',
        String(config.temporal.uiPort),
        '--namespace',
        config.temporal.namespace,
        '--db-filename',
        join(dirs.home, 'temporal.db'),
        '--log-level',
        'warn',
      ]);
    },
    dirs,
    60_000,
    say
  );
  await registerSearchAttributes(config, say);
}

/** Adds the Cairn search attributes that the namespace lacks (idempotent). */
export async function registerSearchAttributes(config: CairnConfig, say: Say): Promise<void> {
  const client = await connectClient(config);
  try {
    const { namespace } = config.temporal;
    const operator = client.connection.operatorService;
    const existing = await operator.listSearchAttributes({ namespace });
    const known = { ...existing.customAttributes, ...existing.systemAttributes };
    const missing = CAIRN_SEARCH_ATTRIBUTES.filter((k) => !(k.name in known));
    if (missing.length > 0) {
      const keyword = protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
      await operator.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((k) => [k.name, keyword])),
      });
    }
    say(
      `temporal: search attributes ${CAIRN_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')} registered${missing.length ? ` (${missing.length} added)` : ''}`
    );
  } finally {
    await client.connection.close();
  }
}

/**
 * Creates the database if missing and applies migrations. When no PostgreSQL answers on a loopback address,
 * starts the embedded fallback there: PGlite behind pglite-socket (a laptop with nothing installed; demo only).
 */
export async function postgresUp(config: CairnConfig, dirs: StackDirs, say: Say): Promise<void> {
  const server = { database: { ...config.database, url: serverUrl(config.database.url) } };
  const url = new URL(config.database.url);
  let probe = await probePostgres(server);
  if (!probe.ok && !/ECONNREFUSED/.test(probe.detail)) {
    // Something listens but is slow to answer (a server still starting, a busy machine): wait for it rather than
    // start the embedded fallback on a port that is taken.
    await waitUntil('PostgreSQL', async () => (probe = await probePostgres(server)).ok, 30_000).catch(() => undefined);
  }
  if (!probe.ok && isLoopback(url.hostname) && !ownedPid(dirs, 'postgres')) {
    say(
      `postgres: nothing answers at ${url.host} (${probe.detail}); starting embedded PGlite there (demo only, see README)`
    );
    startDetached(dirs, 'postgres', process.execPath, [
      join(ROOT, 'node_modules', '@electric-sql', 'pglite-socket', 'dist', 'scripts', 'server.js'),
      `--db=${join(dirs.home, 'pglite')}`,
      `--host=${url.hostname}`,
      `--port=${url.port || 5432}`,
      '--max-connections=16',
    ]);
    await waitUntil(
      'embedded PostgreSQL',
      async () => (probe = await probePostgres(server)).ok,
      60_000,
      join(dirs.logs, 'postgres.log')
    );
  }
  if (!probe.ok)
    throw new Error(`cannot reach PostgreSQL at ${probe.address} (database.url / DATABASE_URL): ${probe.detail}`);
  const created = await ensureDatabase(config.database.url);
  const applied = await migrate(config.database.url);
  say(
    `postgres: ${probe.detail} at ${url.host}, database ${url.pathname.slice(1)} ${created}, ` +
      (applied.length ? `migrations applied: ${applied.join(', ')}` : 'schema up to date')
  );
}

function serverUrl(url: string): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.href;
}

/** For a local gateway: uses the configured S3 secret, else one generated once into `<home>/secrets/s3-secret-key`. */
export function ensureLocalS3Secret(config: CairnConfig): void {
  if (config.store.secretKey) return;
  const file = join(config.home, 'secrets', 's3-secret-key');
  if (!existsSync(file)) {
    mkdirSync(join(config.home, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  config.store.secretKey = readFileSync(file, 'utf8').trim();
}

/**
 * Makes the object store ready: a local directory, an S3 endpoint from S3_ENDPOINT, or SeaweedFS (`weed mini`)
 * started on loopback with the S3 gateway and the configured credentials; then creates the bucket.
 */
export async function objectStoreUp(config: CairnConfig, dirs: StackDirs, say: Say): Promise<void> {
  const { store } = config;
  if (store.kind === 'local') {
    mkdirSync(store.localDir!, { recursive: true });
    say(`object-store: local directory ${store.localDir}`);
    return;
  }
  const url = new URL(store.endpoint);
  await upWith(
    'seaweedfs',
    () => probeObjectStore(config),
    () => {
      if (!isLoopback(url.hostname))
        throw new Error(
          `object store at ${store.endpoint} (S3_ENDPOINT) does not answer, and it is not local to start`
        );
      const { weed } = ensureBinaries(dirs.home, ['weed'], say);
      const dataDir = join(dirs.home, 'seaweedfs');
      mkdirSync(dataDir, { recursive: true });
      const s3Config = join(dataDir, 's3.json');
      const identity = {
        name: 'cairn',
        credentials: [{ accessKey: store.accessKey, secretKey: store.secretKey }],
        actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
      };
      writeFileSync(s3Config, JSON.stringify({ identities: [identity] }), { mode: 0o600 });
      startDetached(dirs, 'seaweedfs', weed, [
        'mini',
        `-dir=${dataDir}`,
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-s3.port=${url.port || 80}`,
        `-s3.config=${s3Config}`,
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
        '-webdav=false',
        '-admin.ui=false',
      ]);
    },
    dirs,
    90_000,
    say
  );
  const s3 = new S3ArtifactStore({ ...store, secretKey: requireS3Secret(config) });
  await s3.ensureBucket();
  say(`object-store: bucket ${store.bucket} ready at ${store.endpoint}`);
}
