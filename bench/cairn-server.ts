// Cairn's online server for the serving benchmarks, as `cairn serve` starts it (serving/server.ts `startServer`), in
// a process that loads nothing else: started from a benchmark's own file, it shared its heap with the benchmark's
// modules (the Temporal worker and client, webpack, every activity), whose garbage collections and memory then
// counted against the server. `npx tsx bench/cairn-server.ts <name> <model>`: the configuration from the
// environment (the benchmark's DATABASE_URL, CAIRN_ENVIRONMENT, CAIRN_SAMPLE_RATE), on a free port of 127.0.0.1;
// sends `{ port }` over IPC once it serves <model>, then answers the benchmark's profile, event-loop and GC asks.
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { startServer } from '../serving/server.js';
import { answerGcAsks, answerLoopAsks, answerProfileAsks } from './load.js';

const [name, model] = process.argv.slice(2) as [string, string];

runMain(name, async () => {
  const loaded = loadConfig({ overrides: { logLevel: 'warn' } });
  const config: CairnConfig = { ...loaded, serving: { ...loaded.serving, host: '127.0.0.1', port: 0 } };
  const db = createPool(config);
  const server = await startServer({
    db,
    store: createArtifactStore(config),
    logger: createLogger(config),
    config,
    server: name,
  });
  const { environment } = config.serving;
  if (!server.models.get(model)) throw new Error(`the server does not serve ${model} in ${environment}`);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await server.close();
      await db.end();
      process.exit(0);
    })());
  process.once('SIGTERM', () => void stop());
  process.once('disconnect', () => void stop());
  answerProfileAsks();
  answerLoopAsks();
  answerGcAsks();
  process.send?.({ port: server.port });
});
