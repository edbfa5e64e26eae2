import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { sha256 } from '../lib/artifacts/digest.js';
import type { CairnConfig } from '../lib/config/index.js';
import { loadConfig } from '../lib/config/index.js';
import type { Pool } from '../lib/db/pool.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { projectDir } from '../lib/pipeline/bundle.js';
import { loadProject } from '../lib/pipeline/project.js';
import type { Project } from '../lib/pipeline/project.js';
import { parseSets, resolveRunConfig } from '../lib/pipeline/run-config.js';
import { ModelRefError } from '../lib/registry/model-ref.js';
import { statusQuery } from '../workflows/messages.js';
import type { StepStatus } from '../workflows/messages.js';
import type { runPipeline, RunPipelineResult } from '../workflows/run-pipeline.js';
import { CairnPipeline, CairnTrigger } from '../workflows/search-attributes.js';
import { initProject } from './init.js';
import { print } from './io.js';
import { requireRun } from './registry.js';

/** The project the CLI works on: `project` in the config (CAIRN_PROJECT), else the working directory. */
export async function cliProject(config: CairnConfig): Promise<Project> {
  return loadProject(await projectDir(config.project, createArtifactStore(config), config.home));
}

/** Starts `runPipeline` for a project pipeline, after checking its config the way the run will (exit 2 if bad). */
export async function startPipelineRun(
  client: Client,
  config: CairnConfig,
  project: Project,
  name: string,
  sets: string[],
  extra: {
    requestedBy: string;
    noCache?: boolean;
    trigger?: string;
    parentRunId?: string;
    config?: Record<string, unknown>;
  }
): Promise<WorkflowHandle<typeof runPipeline>> {
  const pipeline = project.pipeline(name);
  const overrides = { ...extra.config, ...parseSets(sets, pipeline.name) };
  resolveRunConfig(pipeline, overrides, [], {});
  const trigger = extra.trigger ?? 'manual';
  return client.workflow.start<typeof runPipeline>('runPipeline', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `${trigger === 'reproduce' ? 'reproduce' : 'run'}-${pipeline.name}-${randomUUID().slice(0, 8)}`,
    args: [
      {
        pipeline: pipeline.name,
        config: overrides,
        trigger,
        requestedBy: extra.requestedBy,
        trainTaskQueue: config.temporal.trainTaskQueue,
        ...(extra.noCache ? { noCache: true } : {}),
        ...(extra.parentRunId ? { parentRunId: extra.parentRunId } : {}),
      },
    ],
    typedSearchAttributes: [
      { key: CairnPipeline, value: pipeline.name },
      { key: CairnTrigger, value: trigger },
    ],
  });
}

export function describeStep(id: string, s: StepStatus): string {
  const items = s.items
    ? ` ${s.items.done}/${s.items.total}${s.items.running ? ` (${s.items.running} running)` : ''}`
    : '';
  const cache = s.cacheHit ? ' (cached)' : s.items?.cacheHits ? ` (${s.items.cacheHits} cached)` : '';
  return `  ${id} [${s.queue}] ${s.state}${items}${cache}`;
}

/** Follows a pipeline run: a line whenever a step changes state (or a foreach finishes an item); the result. */
export async function watchPipelineRun(handle: WorkflowHandle<typeof runPipeline>): Promise<RunPipelineResult> {
  const shown = new Map<string, string>();
  const done = handle.result();
  let finished = false;
  const settle = () => (finished = true);
  void done.then(settle, settle);
  const poll = async () => {
    const status = await handle.query(statusQuery).catch(() => undefined);
    for (const [id, s] of Object.entries(status?.steps ?? {})) {
      const line = describeStep(id, s);
      if (s.state !== 'pending' && shown.get(id) !== line) print(line);
      shown.set(id, line);
    }
  };
  while (!finished) {
    await poll();
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 300))]);
  }
  await poll();
  return done;
}

export function printPipelineResult(result: RunPipelineResult): void {
  const rows: [string, string][] = [
    ['run', result.runId],
    ['pipeline', result.pipeline],
    ['config', result.configDigest],
    ...Object.entries(result.outputs).map(([k, v]): [string, string] => [
      k,
      typeof v === 'object' && v !== null && 'digest' in v ? String(v.digest) : JSON.stringify(v),
    ]),
    ['cached', result.cached.join(', ') || '-'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) print(`${k.padEnd(width)}  ${v}`);
}

export interface PipelineReproduction {
  run: string;
  reproducedBy: string;
  recorded: string;
  reproduced: string;
  identical: boolean;
  /** Outputs whose value differs. */
  differences: string[];
}

/**
 * Re-runs a runPipeline run with its recorded config, cache bypassed, and compares what it returns (every reference
 * is a content digest, so equal outputs mean equal bytes) with what the run recorded.
 */
export async function reproducePipelineRun(
  client: Client,
  db: Pool,
  config: CairnConfig,
  project: Project,
  runId: string,
  requestedBy: string
): Promise<PipelineReproduction> {
  const run = await requireRun(db, runId);
  if (!run.outputs)
    throw new ModelRefError(
      `run ${runId} recorded no pipeline outputs (status ${run.status}); it cannot be reproduced`
    );
  const handle = await startPipelineRun(client, config, project, run.pipeline, [], {
    config: run.config,
    noCache: true,
    trigger: 'reproduce',
    parentRunId: run.id,
    requestedBy,
  });
  const result = await handle.result();
  const digest = (v: unknown) => sha256(canonicalJson(v));
  const keys = [...new Set([...Object.keys(run.outputs), ...Object.keys(result.outputs)])].sort();
  return {
    run: run.id,
    reproducedBy: handle.workflowId,
    recorded: digest(run.outputs),
    reproduced: digest(result.outputs),
    identical: digest(run.outputs) === digest(result.outputs),
    differences: keys.filter((k) => digest(run.outputs![k] ?? null) !== digest(result.outputs[k] ?? null)),
  };
}

export function addProjectCommands(program: Command): void {
  program
    .command('init')
    .description('scaffold a Cairn project: package.json, tsconfig, cairn.config.ts, an example pipeline and its test')
    .argument('<dir>', 'a new or empty directory')
    .option('--cairn <spec>', 'how the project depends on Cairn (npm spec); default: this Cairn, as file:<path>')
    .action((dir: string, o: { cairn?: string }) => {
      const written = initProject(dir, o.cairn ? { cairn: o.cairn } : {});
      for (const file of written) print(`  ${file}`);
      print(`\na Cairn project in ${dir}. Next:\n  cd ${dir} && npm install && npm test`);
      print('  npx cairn worker & npx cairn worker --heavy &');
      print('  npx cairn run penguin-report --watch      # custom steps, a foreach');
      print('  npx cairn run penguin-species --watch     # a custom step, then the tabular recipe: a registered model');
    });

  program
    .command('worker')
    .description("run a worker for the project's pipelines (CAIRN_PROJECT or the working directory)")
    .option('--heavy', 'the CPU queue (cairn-train: training and `heavy` steps) instead of the workflow queue')
    .action(async (o: { heavy?: boolean }) => {
      const { runWorker } = await import('../workers/run-worker.js');
      await runWorker(o.heavy ? 'cairn-train' : 'cairn');
    });

  program
    .command('pipelines')
    .description("the project's pipelines (CAIRN_PROJECT or the working directory)")
    .action(async () => {
      const project = await cliProject(loadConfig());
      print(`project ${project.dir ?? '(none: no cairn.config.ts here)'}`);
      for (const p of project.pipelines.values()) {
        const { plan } = p.plan(p.config.parse({}));
        print(`  ${p.name} v${p.version}  ${plan.nodes.map((n) => (n.foreach ? `${n.id}[…]` : n.id)).join(' → ')}`);
        if (p.description) print(`    ${p.description}`);
      }
    });
}
