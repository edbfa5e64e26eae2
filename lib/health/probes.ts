import pg from 'pg';
import { Connection } from '@temporalio/client';
import { createS3Client } from '../artifacts/s3-store.js';
import type { CairnConfig } from '../config/index.js';
import { ENV_KEYS, redactSecrets } from '../config/index.js';

export interface ProbeResult {
  component: 'temporal' | 'postgres' | 'object-store';
  address: string;
  /** The config key (and its environment variable) that points there. */
  setting: string;
  ok: boolean;
  detail: string;
}

const envOf = (key: string) => Object.entries(ENV_KEYS).find(([, k]) => k === key)?.[0];
const setting = (key: string) => `${key} / ${envOf(key)}`;
const reason = (err: unknown) => ((err as Error).message || String(err)).split('\n')[0]!;

export async function probeTemporal(config: Pick<CairnConfig, 'temporal'>): Promise<ProbeResult> {
  const base = {
    component: 'temporal',
    address: config.temporal.address,
    setting: setting('temporal.address'),
  } as const;
  try {
    const connection = await Connection.connect({
      address: config.temporal.address,
      tls: config.temporal.tls || undefined,
      apiKey: config.temporal.apiKey,
      connectTimeout: '3s',
    });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      return {
        ...base,
        ok: true,
        detail: `server ${info.serverVersion || 'up'}, namespace ${config.temporal.namespace}`,
      };
    } finally {
      await connection.close();
    }
  } catch (err) {
    return { ...base, ok: false, detail: reason(err) };
  }
}

export async function probePostgres(config: Pick<CairnConfig, 'database'>): Promise<ProbeResult> {
  const url = new URL(config.database.url);
  const base = {
    component: 'postgres',
    address: `${url.host}${url.pathname}`,
    setting: setting('database.url'),
  } as const;
  const client = new pg.Client({ connectionString: config.database.url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return { ...base, ok: true, detail: `PostgreSQL ${rows[0]!.v}` };
  } catch (err) {
    return { ...base, ok: false, detail: reason(err).replace(config.database.url, redactSecrets(config.database.url)) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function probeObjectStore(config: Pick<CairnConfig, 'store'>): Promise<ProbeResult> {
  const { store } = config;
  if (store.kind === 'local') {
    return {
      component: 'object-store',
      address: store.localDir!,
      setting: setting('store.localDir'),
      ok: true,
      detail: 'local directory',
    };
  }
  const base = { component: 'object-store', address: store.endpoint, setting: setting('store.endpoint') } as const;
  const client = createS3Client({ ...store, secretKey: store.secretKey ?? '' });
  try {
    const exists = await Promise.race([
      client.bucketExists(store.bucket),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 3s')), 3000).unref()),
    ]);
    return {
      ...base,
      ok: true,
      detail: exists ? `bucket ${store.bucket}` : `reachable; bucket ${store.bucket} missing`,
    };
  } catch (err) {
    return { ...base, ok: false, detail: reason(err) };
  }
}

/** Error for an endpoint that cannot be reached at start: one line naming the component, address and setting. */
export class EndpointUnreachableError extends Error {
  override readonly name = 'EndpointUnreachableError';
  readonly userFacing = true;
  constructor(readonly probe: ProbeResult) {
    super(`cannot reach ${probe.component} at ${probe.address} (${probe.setting}): ${probe.detail}`);
  }
}

/** Checks the named services concurrently; throws for the first one that is down. */
export async function preflight(config: CairnConfig, components: ProbeResult['component'][]): Promise<ProbeResult[]> {
  const probes = { temporal: probeTemporal, postgres: probePostgres, 'object-store': probeObjectStore } as const;
  const results = await Promise.all(components.map((c) => probes[c](config)));
  const down = results.find((r) => !r.ok);
  if (down) throw new EndpointUnreachableError(down);
  return results;
}
