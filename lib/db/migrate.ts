import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logging/logger.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../infra/migrations', import.meta.url));

/** Creates the database named in `url` when it is missing (connecting to the server's `postgres` database). */
export async function ensureDatabase(url: string): Promise<'created' | 'exists'> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return 'exists';
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (err) {
      // Another process created it between the check and the create.
      if ((err as { code?: string }).code !== '42P04') throw err;
    }
    return 'created';
  } finally {
    await client.end();
  }
}

/** Applies pending migrations from infra/migrations (idempotent; an advisory lock serializes concurrent callers). */
export async function migrate(url: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl: url,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'migrations',
    migrationsSchema: 'cairn',
    createMigrationsSchema: true,
    checkOrder: true,
    log: (msg: string) => logger?.debug(msg),
  });
  return applied.map((m) => m.name);
}
