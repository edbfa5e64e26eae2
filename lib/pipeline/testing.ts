import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LocalArtifactStore } from '../artifacts/local-store.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { configFor, invokeStep, parseStepInput, stepStore } from './invoke.js';
import type { AnyPipeline, PlanNode } from './pipeline.js';
import type { AnyStep, StepContext, StepInput, StepOutput, StepStore } from './step.js';
import { resolveTemplate } from './template.js';

export interface LocalRunOptions {
  /** Config overrides, checked against the pipeline's config schema. */
  config?: Record<string, unknown>;
  /** Where artifacts go. @default a local store in a fresh temporary directory */
  store?: ArtifactStore;
}

export interface LocalRun {
  outputs: Record<string, unknown>;
  /** Every node's output by id (a foreach's is the list of its items' outputs). */
  steps: Record<string, unknown>;
  store: ArtifactStore;
}

/**
 * Runs a pipeline in this process, step after step in plan order, with the same input and output checks as
 * `runPipeline`: for a project's unit tests. No Temporal, no database, no cache; durability is the workflow's job.
 */
export async function runLocally(pipeline: AnyPipeline, options: LocalRunOptions = {}): Promise<LocalRun> {
  const store = localStore(options);
  const config = pipeline.config.parse(options.config ?? {}) as Record<string, unknown>;
  const { plan, steps } = pipeline.plan(config);
  const outputs: Record<string, unknown> = {};
  const checkpoints = new Map<string, unknown>();
  const local = { name: pipeline.name, version: pipeline.version, config, store, checkpoints };
  const call = (node: PlanNode, input: unknown, name: string) =>
    invokeLocally(steps.get(node.step)!, input, name, local);

  for (const node of plan.nodes) {
    if (!node.foreach) {
      outputs[node.id] = await call(node, resolveTemplate(node.input, outputs), node.id);
      continue;
    }
    const list = resolveTemplate(node.foreach.over, outputs);
    if (!Array.isArray(list)) throw new TypeError(`foreach ${node.id}: expected a list to fan out over`);
    const results: unknown[] = [];
    for (const [i, value] of list.entries())
      results.push(await call(node, resolveTemplate(node.input, outputs, { value }), `${node.id}[${i}]`));
    outputs[node.id] = results;
  }
  return { outputs: resolveTemplate(plan.outputs, outputs) as Record<string, unknown>, steps: outputs, store };
}

/**
 * Runs one step in this process on an input, with the checks `runPipeline` makes: for a project's unit tests of a
 * step (Cairn's built-in tabular steps need a worker, so pipelines that use them are tested step by step).
 */
export async function runStepLocally<S extends AnyStep>(
  step: S,
  input: StepInput<S>,
  options: LocalRunOptions = {}
): Promise<{ output: StepOutput<S>; store: StepStore }> {
  const store = localStore(options);
  const config = { ...options.config };
  const local = { name: 'local', version: '0', config, store, checkpoints: new Map<string, unknown>() };
  const output = (await invokeLocally(step, input, step.name, local)) as StepOutput<S>;
  return { output, store: stepStore(store) };
}

const localStore = (options: LocalRunOptions) =>
  options.store ?? new LocalArtifactStore(mkdtempSync(join(tmpdir(), 'cairn-local-')));

async function invokeLocally(
  step: AnyStep,
  input: unknown,
  node: string,
  run: {
    name: string;
    version: string;
    config: Record<string, unknown>;
    store: ArtifactStore;
    checkpoints: Map<string, unknown>;
  }
): Promise<unknown> {
  const context: StepContext = {
    runId: `local-${run.name}`,
    pipeline: { name: run.name, version: run.version },
    node,
    attempt: 1,
    config: configFor(step, run.config),
    store: stepStore(run.store),
    log: pino({ level: 'silent' }),
    progress: () => undefined,
    checkpoint: async (value) => void run.checkpoints.set(node, value),
    resume: async <T>() => run.checkpoints.get(node) as T | undefined,
    signal: new AbortController().signal,
  };
  return invokeStep(step, context, parseStepInput(step, node, input));
}
