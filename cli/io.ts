import { createArtifactStore } from '../lib/artifacts/index.js';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { preflight } from '../lib/health/probes.js';
import { connectClient } from '../lib/temporal/connection.js';
import { temporalUiBase } from '../lib/temporal/ui.js';
import type { Client } from '@temporalio/client';

export const print = (line = '') => process.stdout.write(`${line}\n`);

/** Opens PostgreSQL (and the store) for a command and closes them after. */
export async function withDb<T>(fn: (db: Pool, store: ArtifactStore, config: CairnConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  await preflight(config, ['postgres']);
  const db = createPool(config);
  try {
    return await fn(db, createArtifactStore(config), config);
  } finally {
    await db.end();
  }
}

export const json = (value: unknown) => print(JSON.stringify(value, null, 2));
export const when = (d: Date | null) => (d ? d.toISOString().replace(/\.\d+Z$/, 'Z') : '-');

/** A command used wrongly: printed as one line, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly userFacing = true;
}

/** Connects to Temporal for a command and closes the connection after. */
export async function withClient<T>(fn: (client: Client, config: CairnConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  await preflight(config, ['temporal']);
  const client = await connectClient(config);
  try {
    return await fn(client, config);
  } finally {
    await client.connection.close();
  }
}

/** What a static report needs besides its data: where the console and the Temporal UI are, for its links. */
export function reportContext(db: Pool) {
  const config = loadConfig();
  return { db, links: { temporal: temporalUiBase(config) }, console: config.console.url };
}
