import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LocalArtifactStore } from '../artifacts/local-store.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { configFor, invokeStep, parseStepInput, stepStore } from './invoke.js';
import type { AnyPipeline, PlanNode } from './pipeline.js';
import type { StepContext } from './step.js';
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
  const store = options.store ?? new LocalArtifactStore(mkdtempSync(join(tmpdir(), 'cairn-local-')));
  const view = stepStore(store);
  const config = pipeline.config.parse(options.config ?? {}) as Record<string, unknown>;
  const { plan, steps } = pipeline.plan(config);
  const outputs: Record<string, unknown> = {};
  const checkpoints = new Map<string, unknown>();

  const call = async (node: PlanNode, input: unknown, name: string) => {
    const step = steps.get(node.step)!;
    const context: StepContext = {
      runId: `local-${pipeline.name}`,
      pipeline: { name: pipeline.name, version: pipeline.version },
      node: name,
      attempt: 1,
      config: configFor(step, config),
      store: view,
      log: pino({ level: 'silent' }),
      progress: () => undefined,
      checkpoint: async (value) => void checkpoints.set(name, value),
      resume: async <T>() => checkpoints.get(name) as T | undefined,
      signal: new AbortController().signal,
    };
    return invokeStep(step, context, parseStepInput(step, name, input));
  };

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
