// Orchestration overhead: STAGES no-op stages through Cairn's stage machinery (StageTracker.run with the status query
// and search attributes, as trainingPipeline runs its stages) against a bare Temporal workflow running the same
// no-op activities. One worker (same settings) serves both on the same server; the benchmark process is pinned to
// one core and the server to the other. Uses the stack's Temporal server when it answers on temporal.address, else
// starts a dev server. BENCH_REPS (default 5), BENCH_STAGES (default 40), BENCH_WORKFLOWS (per repetition, default 3);
// --smoke: 1 repetition of 1 workflow of 5 stages.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../lib/config/index.js';
import { runMain } from '../lib/process/main.js';
import { pinApart } from './cores.js';
import { interleave, report, sized, stats } from './harness.js';
import type { Sample } from './harness.js';
import { benchTemporal } from './temporal-server.js';
import type { NoopActivities } from './workflows/orchestration.js';

const REPS = sized('BENCH_REPS', 5, 1);
const STAGES = sized('BENCH_STAGES', 40, 5);
const WORKFLOWS = sized('BENCH_WORKFLOWS', 3, 1);
const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/orchestration.ts', import.meta.url));

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await benchTemporal(config);
  const pinning = pinApart(server.pid ? [{ name: 'temporal', pid: server.pid }] : [], {
    startedOnServerCore: server.origin === 'own' ? ['temporal'] : [],
  });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: server.namespace });
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-orchestration-${randomUUID()}`;
    const activities: NoopActivities = { noop: async () => undefined };
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue,
      workflowBundle: { code },
      activities,
    });

    /** WORKFLOWS workflows one after another; the sample is the mean wall time of one, start to result. */
    const workflows = (type: 'cairnStages' | 'bareStages') => async (): Promise<Sample> => {
      const started = performance.now();
      for (let i = 0; i < WORKFLOWS; i++) {
        await client.workflow.execute(type, { taskQueue, workflowId: `bench-${type}-${randomUUID()}`, args: [STAGES] });
      }
      return { ms: (performance.now() - started) / WORKFLOWS };
    };
    const results = await worker.runUntil(
      interleave({ cairn: workflows('cairnStages'), bare: workflows('bareStages') }, REPS)
    );

    const ours = stats(results.cairn!.map((s) => s.ms));
    const peer = stats(results.bare!.map((s) => s.ms));
    const perStage = (xs: Sample[]) => stats(xs.map((s) => s.ms / STAGES));
    const addedPerStageMs = (ours.median - peer.median) / STAGES;
    report(
      'orchestration',
      [
        {
          metric: `${STAGES} no-op stages, one workflow`,
          ours,
          peer,
          peerName: 'bare Temporal workflow',
          unit: 'ms',
          ratio: ours.median / peer.median,
          ratioMeaning: 'time ours/peer, target <= 1.05',
        },
        {
          metric: 'per stage',
          ours: perStage(results.cairn!),
          peer: perStage(results.bare!),
          peerName: 'bare Temporal workflow',
          unit: 'ms',
          ratio: ours.median / peer.median,
          ratioMeaning: `added ${addedPerStageMs.toFixed(2)} ms per stage, target <= 5`,
        },
      ],
      {
        stages: STAGES,
        workflowsPerSample: WORKFLOWS,
        server: server.origin,
        pinning: pinning.description,
        addedPerStageMs,
      }
    );
    process.stdout.write(
      `added per stage ${addedPerStageMs.toFixed(2)} ms; each sample the mean of ${WORKFLOWS} workflows; ` +
        `Temporal server: ${server.origin === 'stack' ? `the stack's at ${server.address}` : 'a dev server started here'}; ` +
        `${pinning.description}\n`
    );
    pinning.restore();
  } finally {
    await connection.close();
    await nativeConnection.close();
    await server.teardown();
  }
}

runMain('bench', main);
