import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TrainHeartbeat } from '../lib/pipeline/stage-types.js';
import type { CairnConfig } from '../lib/config/index.js';
import { parseSets, resolveRunConfig } from '../lib/pipeline/run-config.js';
import { PIPELINES, resolvePipeline, UnknownPipelineError } from '../pipelines/index.js';
import type { Project } from '../lib/pipeline/project.js';
import { statusQuery } from '../workflows/messages.js';
import { CairnPipeline, CairnTrigger } from '../workflows/search-attributes.js';
import { STAGES } from '../workflows/training-pipeline.js';
import { temporalUiBase } from '../lib/temporal/ui.js';
import type { trainingPipeline, TrainingPipelineResult } from '../workflows/training-pipeline.js';

/** Exit codes of `cairn run`: 0 the model passed its gate, 3 it did not, 1 the run failed, 2 a bad request. */
export const EXIT = { ok: 0, failed: 1, badRequest: 2, gateFailed: 3, denied: 4 } as const;

const print = (line = '') => process.stdout.write(`${line}\n`);

/** A page of the console (`cairn ui`), e.g. consolePage(config, 'runs', id). */
export function consolePage(config: CairnConfig, ...parts: string[]): string {
  return `${config.console.url.replace(/\/+$/, '')}/${parts.map(encodeURIComponent).join('/')}`;
}

export function uiLink(config: CairnConfig, workflowId: string): string {
  return `${temporalUiBase(config)}/workflows/${workflowId}`;
}

/**
 * Checks the request the way the workflow will (pipeline name, config keys and types) so a bad request fails here,
 * before any workflow exists; then starts `trainingPipeline`.
 */
export async function startRun(
  client: Client,
  config: CairnConfig,
  pipelineName: string,
  sets: string[],
  options: { noCache?: boolean; project?: Project; requestedBy: string }
) {
  const pipeline = resolveBuiltIn(pipelineName, options.project);
  const overrides = parseSets(sets, pipeline.name);
  resolveRunConfig(pipeline, overrides);
  const workflowId = `train-${pipeline.name}-${randomUUID().slice(0, 8)}`;
  return client.workflow.start<typeof trainingPipeline>('trainingPipeline', {
    taskQueue: config.temporal.taskQueue,
    workflowId,
    args: [
      {
        pipeline: pipeline.name,
        config: overrides,
        trigger: 'manual',
        requestedBy: options.requestedBy,
        trainTaskQueue: config.temporal.trainTaskQueue,
        ...(options.noCache ? { noCache: true } : {}),
      },
    ],
    typedSearchAttributes: [
      { key: CairnPipeline, value: pipeline.name },
      { key: CairnTrigger, value: 'manual' },
    ],
  });
}

/** A built-in (tabular) pipeline; an unknown name lists the project's pipelines too. */
function resolveBuiltIn(name: string, project?: Project) {
  if (PIPELINES[name] || !project) return resolvePipeline(name);
  throw new UnknownPipelineError(name, [...Object.keys(PIPELINES), ...project.pipelines.keys()]);
}

async function trainProgress(handle: WorkflowHandle): Promise<TrainHeartbeat | undefined> {
  const { raw } = await handle.describe();
  for (const activity of raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name === 'train' && payload)
      return defaultPayloadConverter.fromPayload<TrainHeartbeat>(payload);
  }
  return undefined;
}

function bar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / Math.max(total, 1)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** Follows a run: one line per stage as it starts, a progress bar while training; returns the result. */
export async function watchRun(handle: WorkflowHandle<typeof trainingPipeline>): Promise<TrainingPipelineResult> {
  const tty = process.stdout.isTTY;
  let shown = -1;
  let lastBar = '';
  let lastFifth = -1;
  const done = handle.result();
  let finished = false;
  void done.then(
    () => (finished = true),
    () => (finished = true)
  );
  const endBar = () => {
    if (lastBar && tty) process.stdout.write('\n');
    lastBar = '';
  };
  while (!finished) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    const current = status ? (STAGES as readonly string[]).indexOf(status.stage) : -1;
    // Stages can pass between two polls: list every one started since the last poll.
    while (shown < current) {
      endBar();
      print(`  ${STAGES[++shown]}`);
    }
    if (status?.stage === 'train') {
      const beat = await trainProgress(handle).catch(() => undefined);
      if (beat) {
        const line = `    ${bar(beat.round, beat.total)}${beat.checkpointRound ? ` (checkpoint at ${beat.checkpointRound})` : ''}`;
        const fifth = Math.floor((beat.round / Math.max(beat.total, 1)) * 5);
        if (tty && line !== lastBar) process.stdout.write(`\r${line}`);
        else if (!tty && fifth > lastFifth) print(line);
        lastBar = line;
        lastFifth = fifth;
      }
    }
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  endBar();
  try {
    const result = await done;
    while (shown < STAGES.length - 1) print(`  ${STAGES[++shown]}`);
    return result;
  } catch (err) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    const failedAt = (STAGES as readonly string[]).indexOf(String(status?.results.failedAt));
    while (shown < failedAt) print(`  ${STAGES[++shown]}`);
    if (failedAt >= 0) print(`  ${STAGES[failedAt]} failed`);
    throw err;
  }
}

export function printResult(result: TrainingPipelineResult): void {
  const rows: [string, string][] = [
    ['run', result.runId],
    ['pipeline', result.pipeline],
    ['dataset', result.dataset],
    [
      'model',
      result.model.version === null
        ? `${result.model.name} (not registered)`
        : `${result.model.name}@${result.model.version}`,
    ],
    ['model package', result.model.digest],
    ...Object.entries(result.metrics).map(([k, v]): [string, string] => [
      k,
      Number.isInteger(v) ? String(v) : v.toFixed(4),
    ]),
    ['gate', result.gate.passed ? 'passed' : `FAILED: ${result.gate.reasons.join('; ')}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) print(`${k.padEnd(width)}  ${v}`);
}

/** A failed run as one readable block: the failure type and message of the stage that failed. */
export function describeFailure(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    let cause: Error | undefined = err.cause;
    while (cause && 'cause' in cause && cause.cause instanceof Error) cause = cause.cause;
    const type = (cause as { type?: string } | undefined)?.type;
    return `run failed${type ? ` (${type})` : ''}: ${cause?.message ?? err.message}`;
  }
  return String(err);
}
