import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { preflight } from '../lib/health/probes.js';
import { DependencyWatch, objectStoreCheck, postgresCheck, roundTripCheck, serveHealth } from '../lib/health/watch.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { startStreamConsumer } from './stream.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Runs streaming inference (`cairn serve --stream`) until SIGINT/SIGTERM: then it stops pulling, answers the
 * messages it holds and closes its connections. A second signal closes at once; what was in flight is delivered
 * again to the next consumer and answered once.
 */
export async function runStreamConsumer(config: CairnConfig): Promise<void> {
  const logger = createLogger(config, { component: 'stream' });
  await preflight(config, ['postgres', 'object-store']);
  const db = createPool(config, logger);
  const store = createArtifactStore(config);
  let watch: DependencyWatch | undefined;
  let health: Server | undefined;
  try {
    const consumer = await startStreamConsumer({ config, db, store, logger });
    // NATS, the database and the store, checked every 2 s: one log line per outage and per recovery, and /readyz
    // (with nats.healthPort) says 503 meanwhile. The NATS client reconnects on its own, for as long as it takes.
    watch = new DependencyWatch(
      {
        nats: roundTripCheck(() => consumer.ping()),
        postgres: postgresCheck(db),
        'object-store': objectStoreCheck(store),
      },
      logger
    );
    watch.start(2000);
    if (config.nats.healthPort) {
      const w = watch;
      health = await serveHealth(config.nats.healthPort, () => w.problems());
      logger.info({ health: `http://127.0.0.1:${config.nats.healthPort}/readyz` }, 'health endpoints serving');
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      for (const s of SIGNALS) process.once(s, resolve);
    });
    logger.info({ signal }, 'stopping: answering the messages in flight (signal again to stop at once)');
    const abort = () => {
      logger.warn('stopping at once: messages in flight will be delivered again');
      void consumer.abort();
    };
    for (const s of SIGNALS) process.once(s, abort);
    await consumer.stop();
    for (const s of SIGNALS) process.off(s, abort);
    logger.info({ stats: consumer.stats }, 'stopped');
  } finally {
    watch?.stop();
    health?.close();
    await db.end();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain('cairn-stream', () => runStreamConsumer(loadConfig()));
}
