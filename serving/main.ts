import { pathToFileURL } from 'node:url';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { ConfigError, loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { preflight } from '../lib/health/probes.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { startServer } from './server.js';

/**
 * Runs the online server (`cairn serve`) until SIGINT/SIGTERM: then it stops taking requests, lets those in flight
 * finish, writes the rest of the monitoring feed and closes its connections.
 */
export async function serve(config: CairnConfig): Promise<void> {
  const logger = createLogger(config);
  await preflight(config, ['postgres', 'object-store']);
  const db = createPool(config, logger);
  try {
    const store = createArtifactStore(config);
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({ db, store, logger, config });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      throw new ConfigError(
        `serving.port (CAIRN_SERVING_PORT): ${config.serving.host}:${config.serving.port} is already in use`,
        'serving.port'
      );
    }
    logger.info(
      { address: server.address, environment: config.serving.environment, models: server.models.models().length },
      'serving'
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    logger.info({ signal }, 'stopping: finishing requests in flight');
    await server.close();
    logger.info('stopped');
  } finally {
    await db.end();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain('cairn-serve', () => serve(loadConfig()));
}
