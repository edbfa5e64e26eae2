import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { PipelineRunPlan, RunStepResult } from '../activities/run-step.js';
import type { PlanNode } from '../lib/pipeline/pipeline.js';
import { resolveTemplate } from '../lib/pipeline/template.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { StepStatus, WorkflowStatus } from './messages.js';
import { boundedRetry } from './retry.js';
import { notify } from './notify.js';

/** A step is retried 5 times at most (about 15 s of backoff); validation failures never. */
const STEP_RETRY = boundedRetry({ maximumAttempts: 5 });
import { CairnPipeline, CairnStage, CairnTrigger } from './search-attributes.js';

export const runPipelineInput = z.strictObject({
  /** A pipeline of the worker's project (`cairn.config.ts`), e.g. `hello-steps`. */
  pipeline: z.string().min(1),
  /** Config overrides, merged over the pipeline's defaults. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** What started the run: `manual`, `schedule`, `drift`, `reproduce`… */
  trigger: z.string().min(1).default('manual'),
  requestedBy: z.string().optional(),
  /** Recompute every step instead of reusing cached results. */
  noCache: z.boolean().default(false),
  /** The run this one reproduces or follows from, for lineage. */
  parentRunId: z.string().optional(),
  /** Queue of `heavy` steps. @default '<this workflow's task queue>-train' (`cairn-train`) */
  trainTaskQueue: z.string().min(1).optional(),
});
export type RunPipelineInput = z.input<typeof runPipelineInput>;

export interface RunPipelineResult {
  runId: string;
  pipeline: string;
  configDigest: string;
  /** The pipeline's named outputs. */
  outputs: Record<string, unknown>;
  /** Nodes whose result came from the step cache. */
  cached: string[];
}

/**
 * Runs any pipeline of the project: plans it (an activity: wiring is user code), then interprets the plan, one
 * activity per step, every step whose inputs are ready started at once (independent branches run in parallel),
 * `foreach` items at most `concurrency` at a time, outputs joined in item order. Each step is cached and tracked by
 * its activity; a crashed worker costs only the steps it was running.
 */
export async function runPipeline(input: RunPipelineInput): Promise<RunPipelineResult> {
  const status: WorkflowStatus = { stage: 'plan', results: {}, steps: {} };
  setHandler(statusQuery, () => status);
  const args = parseInput('runPipeline', runPipelineInput, input);
  const info = workflowInfo();
  const light = proxyActivities<Activities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '30 seconds',
    retry: STEP_RETRY,
  });
  // Planning and closing the run record are short database work on this worker: local activities, which skip the
  // server round trips of a scheduled activity (most of runPipeline's fixed cost per run).
  const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '1 minute', retry: STEP_RETRY });
  const heavy = proxyActivities<Activities>({
    taskQueue: args.trainTaskQueue ?? `${info.taskQueue}-train`,
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: '30 seconds',
    // A cancelled run ends at once, even when the worker that ran the step is gone.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry: STEP_RETRY,
  });
  upsertSearchAttributes([
    { key: CairnPipeline, value: args.pipeline },
    { key: CairnTrigger, value: args.trigger },
    { key: CairnStage, value: 'plan' },
  ]);
  const steps = status.steps!;
  const enter = (stage: string) => {
    status.stage = stage;
    upsertSearchAttributes([{ key: CairnStage, value: stage }]);
  };

  let plan: PipelineRunPlan | undefined;
  try {
    plan = await local.planPipeline({
      pipeline: args.pipeline,
      ...(args.config ? { config: args.config } : {}),
      trigger: args.trigger,
      ...(args.requestedBy ? { requestedBy: args.requestedBy } : {}),
      ...(args.parentRunId ? { parentRunId: args.parentRunId } : {}),
      noCache: args.noCache,
    });
    const { nodes, outputs: returned, code: _c, ...stepPlan } = plan;
    for (const node of nodes) steps[node.id] = { step: node.step, queue: node.queue, state: 'pending' };

    const outputs: Record<string, unknown> = {};
    const wiring = <T>(node: PlanNode, fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`step ${node.id}: ${(err as Error).message}`, 'PipelineWiringError');
      }
    };
    const call = (node: PlanNode, input: unknown, item?: number): Promise<RunStepResult> =>
      (node.queue === 'heavy' ? heavy : light).runStep({
        plan: stepPlan,
        node: node.id,
        step: node.step,
        ...(item === undefined ? {} : { item }),
        input,
      });

    async function runNode(node: PlanNode): Promise<unknown> {
      const state: StepStatus = steps[node.id]!;
      state.state = 'running';
      enter(node.id);
      if (!node.foreach) {
        const result = await call(
          node,
          wiring(node, () => resolveTemplate(node.input, outputs))
        );
        state.cacheHit = result.cacheHit;
        return result.output;
      }
      const list = wiring(node, () => resolveTemplate(node.foreach!.over, outputs));
      if (!Array.isArray(list))
        throw ApplicationFailure.nonRetryable(
          `foreach ${node.id}: expected a list to fan out over`,
          'PipelineWiringError'
        );
      const items = { total: list.length, done: 0, running: 0, cacheHits: 0 };
      state.items = items;
      const results: unknown[] = new Array(list.length);
      let next = 0;
      const lane = async () => {
        while (next < list.length) {
          const i = next++;
          items.running++;
          const input = wiring(node, () => resolveTemplate(node.input, outputs, { value: list[i] }));
          const result = await call(node, input, i).finally(() => items.running--);
          results[i] = result.output;
          items.done++;
          if (result.cacheHit) items.cacheHits++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(node.foreach.concurrency, list.length) }, lane));
      state.cacheHit = list.length > 0 && items.cacheHits === list.length;
      return results;
    }

    // Start every node whose inputs are ready; wait for any to finish; repeat. A failure stops new starts.
    const pending = [...nodes];
    const running = new Map<string, Promise<void>>();
    let failure: unknown;
    while (pending.length || running.size) {
      for (const node of [...pending]) {
        if (failure !== undefined || !node.after.every((id) => Object.hasOwn(outputs, id))) continue;
        pending.splice(pending.indexOf(node), 1);
        running.set(
          node.id,
          runNode(node).then(
            (output) => {
              outputs[node.id] = output;
              status.results[node.id] = output;
              steps[node.id]!.state = 'succeeded';
              running.delete(node.id);
            },
            (err: unknown) => {
              failure ??= err;
              steps[node.id]!.state = 'failed';
              running.delete(node.id);
            }
          )
        );
      }
      if (!running.size) break;
      await Promise.race(running.values());
    }
    if (failure !== undefined) throw failure;

    const result = wiring({ id: 'outputs' } as PlanNode, () => resolveTemplate(returned, outputs)) as Record<
      string,
      unknown
    >;
    await local.finishRun(plan.runId, { status: 'succeeded', outputs: result });
    enter('done');
    return {
      runId: plan.runId,
      pipeline: plan.pipeline,
      configDigest: plan.configDigest,
      outputs: result,
      cached: Object.entries(steps)
        .filter(([, s]) => s.cacheHit)
        .map(([id]) => id),
    };
  } catch (err) {
    status.results.failedAt = status.stage;
    enter('failed');
    if (plan) {
      const state = isCancellation(err) ? 'cancelled' : 'failed';
      const message =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      await CancellationScope.nonCancellable(() =>
        local.finishRun(plan!.runId, { status: state, error: message || `the run was ${state}` })
      );
      if (state === 'failed')
        await notify({
          type: 'run_failed',
          pipeline: plan.pipeline,
          runId: plan.runId,
          stage: String(status.results.failedAt),
          summary: message || 'the run failed',
        });
    }
    throw err;
  }
}
