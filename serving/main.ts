import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { ConfigError, loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { preflight } from '../lib/health/probes.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { runPrimary, serveWorkers, stopRequested } from './cluster.js';
import { startServer } from './server.js';
import { tracingOf } from '../lib/telemetry/tracing.js';

/**
 * Runs the online server (`cairn serve`) until SIGINT/SIGTERM: then it stops taking requests, lets those in flight
 * finish, writes the rest of the monitoring feed and closes its connections.
 *
 * `serving.workers` > 1 (`CAIRN_SERVE_WORKERS=<n>|auto`, or `workers:` under `serving` in cairn.yaml) runs that
 * many server processes on the same port with node:cluster: this process becomes their primary
 * (see `runPrimary`) and each of them runs what follows. One event loop parses, scores and answers every request
 * of its process, so one process uses one core; n processes use n. Each loads the deployed models itself and keeps
 * its own token cache, metrics (/metrics answers for the process a connection landed on: scrape each, or sum) and
 * monitoring feed (serving_stats rows per process, `server` = host:pid), and is a replica of its own in the fleet.
 */
export async function serve(config: CairnConfig): Promise<void> {
  const logger = createLogger(config);
  const workers = serveWorkers(config.serving.workers);
  if (workers > 1 && cluster.isPrimary) {
    const code = await runPrimary(workers, logger);
    if (code) process.exitCode = code;
    return;
  }
  // Asked before start-up: a clustered process told to stop while it starts stops once it has started.
  const stop = stopRequested();
  await preflight(config, ['postgres', 'object-store']);
  const db = createPool(config, logger);
  const tracing = tracingOf(config, 'cairn-serve');
  try {
    const store = createArtifactStore(config);
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({ db, store, logger, config, ...(tracing ? { tracer: tracing.tracer } : {}) });
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
    const signal = await stop;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    await server.close();
    logger.info('stopped');
  } finally {
    await tracing?.shutdown();
    await db.end();
    // The IPC channel to the primary would keep this process alive.
    if (cluster.isWorker) process.disconnect?.();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain('cairn-serve', () => serve(loadConfig()));
}
