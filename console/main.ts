import { ConfigError } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { preflight } from '../lib/health/probes.js';
import { connectClient } from '../lib/temporal/connection.js';
import { temporalUiBase } from '../lib/temporal/ui.js';
import { createLogger } from '../lib/logging/logger.js';
import { stopRequested } from '../serving/cluster.js';
import { ensureBuilt, startConsole } from './server.js';

/** Runs the console (`cairn ui`) at `console.url` until SIGINT/SIGTERM. */
export async function runConsole(config: CairnConfig): Promise<void> {
  const logger = createLogger(config);
  await preflight(config, ['postgres', 'temporal']);
  const { hostname, port } = new URL(config.console.url);
  await ensureBuilt(logger);
  const db = createPool(config, logger);
  const client = await connectClient(config);
  try {
    const { app } = await startConsole({
      db,
      logger,
      links: { temporal: temporalUiBase(config) },
      host: hostname.replace(/^\[|\]$/g, ''),
      port: Number(port) || 80,
      client,
    }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') throw err;
      throw new ConfigError(`console.url (CAIRN_CONSOLE_URL): ${config.console.url} is already in use`, 'console.url');
    });
    process.stdout.write(`Cairn console: ${config.console.url}\n`);
    const signal = await stopRequested();
    logger.info({ signal }, 'console stopping');
    await app.close();
  } finally {
    await client.connection.close();
    await db.end();
  }
}
