import { fileURLToPath } from 'node:url';
import { onlineStoreOf } from '../lib/features/store/online.js';
import { llmSettingsOf } from '../lib/prompts/llm.js';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { closeRedisConnections } from '../activities/features.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { ConfigError, loadConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { readCodeVersion } from '../lib/lineage/code-version.js';
import { preflight } from '../lib/health/probes.js';
import { signingOf } from '../lib/signing/packages.js';
import { dataConverterOf } from '../lib/temporal/codec.js';
import { DependencyWatch, objectStoreCheck, postgresCheck, serveHealth, temporalCheck } from '../lib/health/watch.js';
import { createLogger } from '../lib/logging/logger.js';
import { installTemporalRuntime } from '../lib/logging/temporal-runtime.js';
import { projectDir } from '../lib/pipeline/bundle.js';
import { loadProject } from '../lib/pipeline/project.js';
import { notificationsOf } from '../lib/notifications/webhooks.js';
import { connectWorker } from '../lib/temporal/connection.js';
import { sourcesOf } from '../lib/pipeline/run-config.js';
import { tracingOf } from '../lib/telemetry/tracing.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export type WorkerRole = 'cairn' | 'cairn-train';

/**
 * Runs one worker until SIGINT/SIGTERM (the Temporal Runtime shuts workers down on those signals and gives
 * running activities `worker.shutdownGraceTime` to finish), then closes its connections.
 */
export async function runWorker(role: WorkerRole): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config, { worker: role });
  await preflight(config, ['temporal', 'postgres', 'object-store']);
  const metricsPort = config.worker.metricsPort && config.worker.metricsPort + (role === 'cairn-train' ? 1 : 0);
  try {
    installTemporalRuntime({ logger, metricsPort });
  } catch (err) {
    if (!/address already in use/i.test(String(err))) throw err;
    throw new ConfigError(
      `worker.metricsPort (CAIRN_METRICS_PORT): 127.0.0.1:${metricsPort} is already in use`,
      'worker.metricsPort'
    );
  }

  const store = createArtifactStore(config);
  const project = await loadProject(await projectDir(config.project, store, config.home));
  const connection = await connectWorker(config);
  const db = createPool(config, logger);
  // Every dependency checked every 5 s: one log line per outage and recovery, and /readyz (with worker.healthPort).
  const watch = new DependencyWatch(
    { temporal: temporalCheck(config), postgres: postgresCheck(db), 'object-store': objectStoreCheck(store) },
    logger
  );
  watch.start(5000);
  const healthPort = config.worker.healthPort && config.worker.healthPort + (role === 'cairn-train' ? 1 : 0);
  const tracing = tracingOf(config, role);
  const health = healthPort ? await serveHealth(healthPort, () => watch.problems()) : undefined;
  try {
    const taskQueue = role === 'cairn' ? config.temporal.taskQueue : config.temporal.trainTaskQueue;
    const dataConverter = dataConverterOf(config);
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      ...(dataConverter ? { dataConverter } : {}),
      taskQueue,
      // The `cairn` queue runs workflows and light activities; `cairn-train` only CPU-heavy activities.
      // Training heartbeats reach the server every second: live progress, and a fresh checkpoint after a crash.
      ...(role === 'cairn'
        ? { workflowsPath: WORKFLOWS_PATH }
        : { maxConcurrentActivityTaskExecutions: 1, maxHeartbeatThrottleInterval: '1s' }),
      activities: createActivities({
        db,
        store,
        sources: sourcesOf(config, store, project.dir),
        logger,
        code: readCodeVersion(),
        home: config.home,
        pythonEnvs: config.pythonEnvs!,
        cpuSecondPrice: config.tracking.cpuSecondPrice,
        selfApproval: config.release.selfApproval,
        ...signingOf(config),
        notifications: notificationsOf(config),
        onlineStore: onlineStoreOf(config),
        llm: llmSettingsOf(config),
        project,
      }),
      shutdownGraceTime: config.worker.shutdownGraceTime,
      ...(tracing ? { plugins: [tracing.plugin] } : {}),
    });
    logger.info(
      {
        taskQueue,
        project: project.dir ?? 'none',
        bundle: project.bundle?.digest ?? 'none',
        pipelines: [...project.pipelines.keys()],
        metrics: metricsPort ? `http://127.0.0.1:${metricsPort}/metrics` : 'off',
        health: healthPort ? `http://127.0.0.1:${healthPort}/readyz` : 'off',
        tracing: config.telemetry.otlpEndpoint ?? 'off',
      },
      'worker running'
    );
    await worker.run();
    logger.info({ taskQueue }, 'worker stopped');
  } finally {
    await tracing?.shutdown();
    await closeRedisConnections();
    watch.stop();
    health?.close();
    await db.end();
    await connection.close();
  }
}
