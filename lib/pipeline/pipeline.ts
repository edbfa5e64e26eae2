import { z } from 'zod';
import type { AnyStep, QueueProfile, StepInput, StepOutput } from './step.js';
import { refsIn } from './template.js';
import type { RefTarget } from './template.js';
import { CairnError } from '../errors.js';

declare const valueType: unique symbol;

/**
 * A typed reference to a value another step produces. It is plain JSON (`{"$ref": …}`) in the plan the workflow
 * interprets; its type parameter only exists for the compiler, so wiring a `Ref<string>` into a `number[]` input
 * fails `npm run typecheck`.
 */
export interface Ref<T> {
  readonly [valueType]?: T;
  readonly $ref: RefTarget;
}

/** A step's input as wiring supplies it: each field a constant or a reference of that field's type. */
export type Wired<T> = T extends object ? { [K in keyof T]: T[K] | Ref<T[K]> } : T | Ref<T>;

type Fields<O> = O extends object ? { readonly [K in keyof O]-?: Ref<O[K]> } : never;

/** One step in the pipeline; `out.x` references field `x` of its output, `output` the whole output. */
export interface StepNode<O> {
  readonly id: string;
  readonly output: Ref<O>;
  readonly out: Fields<O>;
}

/** A step run once per item of a list; `output` is the outputs in the list's order (the typed join). */
export interface ForeachNode<O> {
  readonly id: string;
  readonly output: Ref<O[]>;
}

export interface StepOptions {
  /** The node's id in the run (status, run_stages, cache records). @default the step name, suffixed when reused */
  id?: string;
}

export interface ForeachOptions extends StepOptions {
  /** At most this many items run at once. @default 4 */
  concurrency?: number;
}

/** The calls a pipeline's `steps` function wires its DAG with. */
export interface PipelineBuilder {
  /** The pipeline being wired (recipes such as `trainTabular` read it). */
  readonly pipeline: { name: string; version: string; config: z.ZodObject };
  step<S extends AnyStep>(
    step: S,
    input: Wired<StepInput<S>> | Ref<StepInput<S>>,
    options?: StepOptions
  ): StepNode<StepOutput<S>>;
  foreach<T, S extends AnyStep>(
    over: Ref<readonly T[]> | readonly T[],
    step: S,
    input: (item: Ref<T>) => Wired<StepInput<S>> | Ref<StepInput<S>>,
    options?: ForeachOptions
  ): ForeachNode<StepOutput<S>>;
}

/** A node of the plan `runPipeline` interprets: JSON, with `{"$ref": …}` where a value comes from another node. */
export interface PlanNode {
  id: string;
  step: string;
  version: string;
  queue: QueueProfile;
  /** The input template. */
  input: unknown;
  /** Nodes whose outputs the input reads. */
  after: string[];
  foreach?: { over: unknown; concurrency: number };
}

export interface PipelinePlan {
  nodes: PlanNode[];
  /** What the run returns: a template over node outputs. */
  outputs: Record<string, unknown>;
}

export interface PipelineSpec<C extends z.ZodObject> {
  /** kebab-case, unique in the project: what runs are started by. */
  name: string;
  description?: string;
  /** Bump when the pipeline's wiring changes what it produces; part of lineage. */
  version: string;
  /** Every tunable with its default; the run input and `--set k=v` override it. @default no config */
  config?: C;
  /** Wires the DAG for a resolved config. Returns the run's named outputs. */
  steps(p: PipelineBuilder, config: z.output<C>): Record<string, Ref<unknown>> | void;
}

export interface Pipeline<C extends z.ZodObject = z.ZodObject> {
  readonly kind: 'dag';
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly config: C;
  /** The plan for a resolved config, and the steps it uses by name. */
  plan(config: z.output<C>): { plan: PipelinePlan; steps: Map<string, AnyStep> };
}

export type AnyPipeline = Pipeline<z.ZodObject>;

const NAME = /^[a-z][a-z0-9-]*$/;

export class PipelineDefinitionError extends CairnError {
  override readonly name = 'PipelineDefinitionError';
  readonly type = 'PipelineDefinitionError';
}

const ref = <T>(target: RefTarget): Ref<T> => ({ $ref: target }) as Ref<T>;

/** A reference whose fields are references: `node.out.values` is `{ $ref: { node, path: ['values'] } }`. */
function fieldsOf(node: string): Fields<never> {
  return new Proxy({} as Fields<never>, {
    get: (_, key) => (typeof key === 'string' ? ref({ node, path: [key] }) : undefined),
  });
}

function build(pipeline: PipelineBuilder['pipeline'], wire: PipelineSpec<z.ZodObject>['steps'], config: unknown) {
  const { name } = pipeline;
  const nodes: PlanNode[] = [];
  const steps = new Map<string, AnyStep>();
  const ids = new Set<string>();
  const problems: string[] = [];

  const add = (step: AnyStep, input: unknown, options: StepOptions, foreach?: PlanNode['foreach']): string => {
    const known = steps.get(step.name);
    if (known && known !== step) problems.push(`two different steps are named ${step.name}`);
    steps.set(step.name, step);
    let id = options.id ?? step.name;
    if (!NAME.test(id)) problems.push(`node id ${JSON.stringify(id)} must be kebab-case`);
    if (ids.has(id)) {
      if (options.id) problems.push(`two nodes have the id ${id}`);
      let n = 2;
      while (ids.has(`${id}-${n}`)) n++;
      id = `${id}-${n}`;
    }
    ids.add(id);
    const after = [
      ...new Set(
        refsIn([input, foreach?.over]).flatMap((r) => {
          if ('node' in r) return [r.node];
          if (!foreach) problems.push(`${id}: a foreach item is referenced outside its foreach`);
          return [];
        })
      ),
    ];
    for (const dep of after)
      if (!ids.has(dep)) problems.push(`${id} reads ${dep}, which is not a node of this pipeline`);
    nodes.push({
      id,
      step: step.name,
      version: step.version,
      queue: step.queue,
      input,
      after,
      ...(foreach ? { foreach } : {}),
    });
    return id;
  };

  const builder: PipelineBuilder = {
    pipeline,
    step(step, input, options = {}) {
      const id = add(step, input, options);
      return { id, output: ref({ node: id, path: [] }), out: fieldsOf(id) };
    },
    foreach(over, step, input, options = {}) {
      const concurrency = options.concurrency ?? 4;
      if (!Number.isInteger(concurrency) || concurrency < 1)
        problems.push(`foreach ${options.id ?? step.name}: concurrency must be a positive integer`);
      const id = add(step, input(ref({ item: true, path: [] })), options, { over, concurrency });
      return { id, output: ref({ node: id, path: [] }) };
    },
  };
  const outputs = wire(builder, config as Record<string, unknown>) ?? {};
  for (const r of refsIn(outputs)) {
    if (!('node' in r) || !ids.has(r.node)) problems.push('the pipeline returns a reference to no node');
  }
  if (!nodes.length) problems.push('it has no steps');
  if (problems.length) throw new PipelineDefinitionError(`pipeline ${name}: ${[...new Set(problems)].join('; ')}`);
  return { plan: { nodes, outputs }, steps };
}

/**
 * Declares a pipeline as a typed DAG of steps. The `steps` function only wires: it runs where the pipeline is
 * planned (never inside the workflow), and `runPipeline` interprets the resulting plan, one activity per step.
 */
export function definePipeline<const C extends z.ZodObject = z.ZodObject>(spec: PipelineSpec<C>): Pipeline<C> {
  if (!NAME.test(spec.name))
    throw new PipelineDefinitionError(`pipeline name ${JSON.stringify(spec.name)} must be kebab-case`);
  const config = (spec.config ?? z.strictObject({})) as C;
  const defaults = config.safeParse({});
  if (!defaults.success)
    throw new PipelineDefinitionError(
      `pipeline ${spec.name}: config: every key needs a default (${defaults.error.issues[0]?.path.join('.')})`
    );
  const pipeline: Pipeline<C> = {
    kind: 'dag',
    name: spec.name,
    description: spec.description ?? '',
    version: spec.version,
    config,
    plan: (resolved) =>
      build(
        { name: spec.name, version: spec.version, config },
        spec.steps as PipelineSpec<z.ZodObject>['steps'],
        resolved
      ),
  };
  // Wiring mistakes the compiler cannot see (duplicate ids, dangling references) fail when the project loads.
  pipeline.plan(defaults.data);
  return pipeline;
}
