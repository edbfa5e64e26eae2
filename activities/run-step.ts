import { Context } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import { configFor, invokeStep, parseStepInput, stepStore } from '../lib/pipeline/invoke.js';
import type { AnyPipeline, PlanNode } from '../lib/pipeline/pipeline.js';
import type { AnyStep, StepContext } from '../lib/pipeline/step.js';
import { StepValidationError } from '../lib/pipeline/step.js';
import { resolveRunConfig } from '../lib/pipeline/run-config.js';
import { STEP_SERVICES } from '../lib/pipeline/tabular-recipe.js';
import type { StepServices, TabularStages } from '../lib/pipeline/tabular-recipe.js';
import { startRun } from '../lib/tracking/runs.js';
import type { ActivityDeps } from './deps.js';
import { execution } from './tracked-stage.js';
import { failFast } from './failures.js';
import { previousSnapshot } from './ingest.js';
import { latestSnapshot } from '../lib/features/store/registry.js';
import { trackedStage } from './tracked-stage.js';
import { vectorServices } from './vectors.js';

export interface PlanPipelineInput {
  pipeline: string;
  config?: Record<string, unknown>;
  trigger?: string;
  requestedBy?: string;
  parentRunId?: string;
  noCache?: boolean;
}

/** What a step activity needs to know about its run. JSON, small. */
export interface StepRunPlan {
  runId: string;
  pipeline: string;
  pipelineVersion: string;
  config: Record<string, unknown>;
  configDigest: string;
  noCache: boolean;
}

/** A planned run of a DAG pipeline: the run and the nodes `runPipeline` interprets. */
export interface PipelineRunPlan extends StepRunPlan {
  code: ActivityDeps['code'];
  nodes: PlanNode[];
  outputs: Record<string, unknown>;
}

export interface RunStepInput {
  plan: StepRunPlan;
  node: string;
  step: string;
  /** The index of the `foreach` item this run is for. */
  item?: number;
  /** The resolved input: references already replaced by the values they name. */
  input: unknown;
}

export interface RunStepResult {
  output: unknown;
  cacheHit: boolean;
}

const isRef = (v: unknown): v is ArtifactRef =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as ArtifactRef).digest === 'string' &&
  /^sha256:[0-9a-f]{64}$/.test((v as ArtifactRef).digest) &&
  typeof (v as ArtifactRef).bytes === 'number' &&
  typeof (v as ArtifactRef).uri === 'string';

/** Every artifact reference in a value, by its path (`model`, `parts.3`): recorded and verified before a cache hit. */
export function artifactsIn(value: unknown, path = '', out: Record<string, ArtifactRef> = {}) {
  if (isRef(value)) out[path || 'output'] = value;
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) artifactsIn(v, path ? `${path}.${k}` : k, out);
  return out;
}

export function createRunStepActivities(deps: ActivityDeps, stages: TabularStages) {
  const { db, store, logger, code, project } = deps;
  // Planning a pipeline is pure, but its wiring runs user code: plan once per (pipeline, config) per worker.
  const planned = new Map<string, ReturnType<AnyPipeline['plan']>>();
  const planFor = (pipeline: AnyPipeline, config: Record<string, unknown>, digest: string) => {
    const key = `${pipeline.name}\0${digest}`;
    let p = planned.get(key);
    if (!p) planned.set(key, (p = pipeline.plan(config)));
    return p;
  };

  const storeView = stepStore(store);
  const vectors = vectorServices(deps);

  async function execute(step: AnyStep, plan: StepRunPlan, node: string, input: unknown): Promise<RunStepResult> {
    const services: StepServices = {
      stages,
      sources: deps.sources,
      previousSnapshot: (pipeline, path) => previousSnapshot(deps, pipeline, path),
      latestFeatureSnapshot: async (view) => (await latestSnapshot(db, view))?.snapshot,
      plan: { code, configDigest: plan.configDigest },
      vectors,
    };
    const ctx = Context.current();
    const parsed = parseStepInput(step, node, input);
    let beat: { done?: number; total?: number; checkpoint?: string } = {
      ...(ctx.info.heartbeatDetails as object | undefined),
    };
    const context: StepContext = {
      runId: plan.runId,
      pipeline: { name: plan.pipeline, version: plan.pipelineVersion },
      node,
      attempt: ctx.info.attempt,
      config: configFor(step, plan.config),
      store: storeView,
      log: logger.child({ run: plan.runId, node }),
      progress(done, total) {
        beat = { ...beat, done, ...(total === undefined ? {} : { total }) };
        ctx.heartbeat(beat);
      },
      async checkpoint(value) {
        const ref = await storeView.putJson(value);
        beat = { ...beat, checkpoint: ref.digest };
        ctx.heartbeat(beat);
      },
      resume: async <T>() => (beat.checkpoint ? storeView.getJson<T>(beat.checkpoint) : undefined),
      signal: ctx.cancellationSignal,
    };
    Object.defineProperty(context, STEP_SERVICES, { value: services });
    const result = await trackedStage(
      deps,
      plan,
      node,
      {
        cache: {
          implementation: `step/${step.name}/${step.version}/${step.codeDigest}`,
          inputs: {
            input: parsed,
            ...(step.usesConfig ? { config: plan.configDigest } : {}),
            ...(step.usesProjectCode ? { project: project.bundle?.digest ?? null } : {}),
            ...(step.fingerprint ? { fingerprint: await step.fingerprint(parsed, context) } : {}),
          },
        },
        artifacts: (r: { output: unknown }) => artifactsIn(r.output),
      },
      async () => {
        // Heartbeats keep flowing while the step awaits I/O; a killed worker is noticed within the heartbeat timeout
        // (a step shorter than a second needs none). Built-in training heartbeats its own progress and checkpoints,
        // which these would overwrite.
        const ticker = step.selfHeartbeat ? undefined : setInterval(() => ctx.heartbeat(beat), 1000);
        try {
          return { output: await invokeStep(step, context, parsed) };
        } finally {
          clearInterval(ticker);
        }
      }
    );
    return { output: result.output, cacheHit: result.cacheHit };
  }

  return {
    /** Resolves the pipeline from the project and its config, wires its plan and records the run. */
    async planPipeline(input: PlanPipelineInput): Promise<PipelineRunPlan> {
      return failFast(async () => {
        const pipeline = project.pipeline(input.pipeline);
        const { config, configDigest } = resolveRunConfig(pipeline, input.config ?? {}, [], {});
        const { plan } = planFor(pipeline, config, configDigest);
        const runId = await startRun(db, {
          ...execution(),
          pipeline: pipeline.name,
          pipelineVersion: pipeline.version,
          trigger: input.trigger ?? 'manual',
          ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
          ...(input.parentRunId ? { parentRunId: input.parentRunId } : {}),
          config,
          configDigest,
          code,
        });
        return {
          runId,
          pipeline: pipeline.name,
          pipelineVersion: pipeline.version,
          config,
          configDigest,
          code,
          noCache: input.noCache ?? false,
          ...plan,
        };
      });
    },

    /**
     * Runs one step of a planned run: input checked against the step's schema, cached on (step, version, code
     * digest, input, config digest), tracked in run_stages, output checked and kept small. Validation errors are
     * final; anything else is retried by the workflow's bounded policy.
     */
    async runStep({ plan, node, step: name, item, input }: RunStepInput): Promise<RunStepResult> {
      return failFast(async () => {
        const pipeline = project.pipeline(plan.pipeline);
        const step = planFor(pipeline, plan.config, plan.configDigest).steps.get(name);
        if (!step) throw new StepValidationError(`pipeline ${plan.pipeline} has no step ${name}`);
        return execute(step, plan, item === undefined ? node : `${node}[${item}]`, input);
      });
    },
  };
}
