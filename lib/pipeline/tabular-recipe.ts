import { z } from 'zod';
import type { ArtifactRef } from '../artifacts/index.js';
import { randomUUID } from 'node:crypto';
import type { PreviousSnapshot, SourceRecord, SourceRequest, Sources } from '../data/sources/index.js';
import type { Ref, PipelineBuilder } from './pipeline.js';
import { PipelineDefinitionError } from './pipeline.js';
import { artifactRef, defineStep, StepValidationError } from './step.js';
import type { VectorServices } from '../embeddings/steps.js';
import type { StepContext } from './step.js';
import { joinSnapshots } from '../features/store/offline.js';
import type { FeatureSnapshot } from '../features/store/offline.js';
import type { FeatureView } from '../features/store/view.js';
import type {
  DatasetRef,
  EvaluationResult,
  GateResult,
  PackageResult,
  RegisterResult,
  RunPlan,
  TrainResult,
  TransformResult,
  ValidationResult,
} from './stage-types.js';
import { defineTabularPipeline, registerTabular, resolveTabular, tabularDigest } from './tabular.js';
import type { Task, TabularPipeline, TabularSpec } from './tabular.js';

/** The source of a table a project step read, recorded in the dataset's manifest. */
export type TableSource = SourceRecord;

/**
 * Cairn's tabular stages as a worker runs them for the `tabular` recipe's steps: the same code as the
 * `trainingPipeline` workflow's stage activities, called inside the step's activity (which tracks and caches it).
 */
export interface TabularStages {
  snapshot(plan: RunPlan, table: ArtifactRef, source: TableSource): Promise<DatasetRef>;
  validate(plan: RunPlan, dataset: DatasetRef): Promise<ValidationResult>;
  transform(plan: RunPlan, dataset: DatasetRef): Promise<TransformResult>;
  train(plan: RunPlan, data: TransformResult): Promise<TrainResult>;
  evaluate(plan: RunPlan, data: TransformResult, trained: TrainResult, dataset: DatasetRef): Promise<EvaluationResult>;
  packageModel(
    plan: RunPlan,
    dataset: DatasetRef,
    data: TransformResult,
    trained: TrainResult,
    evaluation: EvaluationResult
  ): Promise<PackageResult>;
  register(input: {
    plan: RunPlan;
    dataset: DatasetRef;
    packaged: PackageResult;
    evaluation: EvaluationResult;
  }): Promise<RegisterResult>;
}

/** What a Cairn worker lends built-in steps, under a symbol key of their context. */
export interface StepServices {
  stages: TabularStages;
  /** The worker's data sources, behind its allowed roots. */
  sources: Sources;
  /** The last accepted snapshot of a pipeline read from `path`, for incremental sources. */
  previousSnapshot(pipeline: string, path: string): Promise<PreviousSnapshot | undefined>;
  /** The newest offline snapshot of a feature view's current definition (its manifest's digest). */
  latestFeatureSnapshot(view: FeatureView): Promise<string | undefined>;
  /** The run as the step activity knows it. */
  plan: Pick<RunPlan, 'code' | 'configDigest'>;
  /** Embedding models and vector indexes (lib/embeddings/steps.ts). */
  vectors: VectorServices;
}
export const STEP_SERVICES = Symbol.for('cairn.step-services');

/** What the worker lends a built-in step; a built-in step run outside a worker (runLocally) is refused. */
export function services(ctx: StepContext): StepServices {
  const found = (ctx as StepContext & { [STEP_SERVICES]?: StepServices })[STEP_SERVICES];
  if (!found)
    throw new StepValidationError(
      `step ${ctx.node} is a built-in step: it runs on a Cairn worker (runPipeline), not in runLocally`
    );
  return found;
}

/**
 * A tabular model: the contract, features, split, trainer, gate and monitoring of `defineTabularPipeline`, without
 * a name or source (the pipeline that trains it gives both). Every function takes the pipeline's resolved config;
 * `config` must be the schema the pipeline itself declares.
 */
export type TabularModelSpec<R extends z.ZodObject, C extends z.ZodObject, T extends Task> = Omit<
  TabularSpec<R, C, T>,
  'name' | 'description' | 'version' | 'source'
>;

export interface TabularModel {
  readonly spec: TabularModelSpec<z.ZodObject, z.ZodObject, Task>;
  /** sha256 of the spec's code and settings: part of every recipe step's cache key, so an edit misses the cache. */
  readonly digest: string;
}

/** Declares a tabular model for a pipeline to train with `trainTabular`. Checked like `defineTabularPipeline`. */
export function tabularModel<const R extends z.ZodObject, const C extends z.ZodObject, const T extends Task>(
  spec: TabularModelSpec<R, C, T>
): TabularModel {
  const described = { ...spec, name: 'tabular-model', description: '', version: '0', source: () => ({ path: '-' }) };
  const pipeline = defineTabularPipeline(described as TabularSpec<R, C, T>) as unknown as TabularPipeline;
  return { spec: spec as unknown as TabularModel['spec'], digest: tabularDigest(pipeline) };
}

const datasetRef = z.object({
  digest: z.string(),
  rowCount: z.number(),
  schemaDigest: z.string(),
  data: artifactRef,
  manifest: artifactRef,
});
const transformResult = z.object({
  train: artifactRef,
  test: artifactRef,
  features: artifactRef,
  rows: z.object({ train: z.number(), test: z.number(), dropped: z.number() }),
  classes: z.array(z.string()).optional(),
});
const trainResult = z.object({
  model: artifactRef,
  rounds: z.number().optional(),
  resumedFromRound: z.number(),
  environment: z.string().optional(),
  agreement: z.object({ rows: z.number(), maxDeviation: z.number(), predictions: z.string() }).optional(),
  curves: artifactRef.optional(),
});
const gate = z.custom<GateResult>(
  (v) => typeof v === 'object' && v !== null && typeof (v as GateResult).passed === 'boolean',
  'expected a gate result'
);
const evaluationResult = z.object({ metrics: z.record(z.string(), z.number()), gate, thresholds: gate });
const modelDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** The plan the tabular stages expect, for the run this step belongs to. */
function runPlan(ctx: StepContext): RunPlan {
  const { plan } = services(ctx);
  return {
    runId: ctx.runId,
    pipeline: ctx.pipeline.name,
    model: ctx.pipeline.name,
    pipelineVersion: ctx.pipeline.version,
    task: resolveTabular(ctx.pipeline.name).target.task,
    config: { ...ctx.config },
    configDigest: plan.configDigest,
    code: plan.code,
    noCache: false,
    nested: true,
  };
}

// Built-in steps: each one of today's stages, on the queue the trainingPipeline workflow runs it on. They read the
// config (the model's functions take it), so its digest is part of their cache key; `model` is the spec's digest.
const common = { version: '1', usesConfig: true } as const;

const sourceRecord = z.object({
  path: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  parts: z.array(z.object({ key: z.string(), bytes: z.number(), etag: z.string() })).optional(),
  newParts: z.array(z.string()).optional(),
  features: z.array(z.object({ view: z.string(), snapshot: z.string() })).optional(),
});

/** The model's feature views, each with the newest snapshot of its definition; refused when one has none. */
async function featureSnapshots(ctx: StepContext) {
  const joins = resolveTabular(ctx.pipeline.name).featureViews ?? [];
  return Promise.all(
    joins.map(async ({ view, at }) => {
      const snapshot = await services(ctx).latestFeatureSnapshot(view);
      if (!snapshot)
        throw new StepValidationError(
          `feature view ${view.name} (version ${view.digest.slice(7, 19)}) has no snapshot yet: cairn features materialize ${view.name}`
        );
      return { view, at, snapshot };
    })
  );
}

export const tabularFeatures = defineStep({
  ...common,
  name: 'tabular-features',
  description:
    "Joins the model's feature views onto the rows, point in time: each row gets its entity's latest values at or before its own time, within the TTL.",
  queue: 'heavy',
  input: z.object({ model: modelDigest, table: artifactRef, source: sourceRecord.optional() }),
  output: z.object({ table: artifactRef, source: sourceRecord }),
  // The snapshots joined key the cache: a new materialisation misses it.
  fingerprint: async (_input, ctx) => (await featureSnapshots(ctx)).map((j) => j.snapshot),
  async run(ctx, { table, source }) {
    const joins = await featureSnapshots(ctx);
    const rows = await ctx.store.getTable(table);
    const joined = await joinSnapshots(
      ctx.store,
      rows,
      await Promise.all(
        joins.map(async (j) => ({ ...j, snapshot: await ctx.store.getJson<FeatureSnapshot>(j.snapshot) }))
      )
    );
    return {
      table: await ctx.store.putTable(joined),
      source: {
        ...(source ?? { path: table.uri, bytes: table.bytes, sha256: table.digest }),
        features: joins.map((j) => ({ view: j.view.name, snapshot: j.snapshot })),
      },
    };
  },
});

export const tabularRead = defineStep({
  name: 'tabular-read',
  version: '1',
  description:
    'Reads a source into a stored table: a Parquet, CSV or JSON file (a path, or npm:<package>/<file>), an s3:// prefix of Parquet parts, a postgres:// query or an http(s) URL.',
  queue: 'heavy',
  input: z.object({
    path: z.string().min(1),
    format: z.enum(['parquet', 'csv', 'json']).optional(),
    limit: z.number().int().positive().optional(),
    query: z.string().min(1).optional(),
    incremental: z.boolean().optional(),
  }),
  output: z.object({ table: artifactRef, source: sourceRecord }),
  // The content, not the name, keys the cache: a changed file or prefix misses it. A query or URL is read every
  // time (what it gives is only known by reading it); the steps after it hit the cache when the rows are the same.
  fingerprint: async (input, ctx) =>
    (await services(ctx).sources.fingerprint(input as SourceRequest))?.digest ?? `read-every-time:${randomUUID()}`,
  async run(ctx, input) {
    const { sources, previousSnapshot } = services(ctx);
    const previous = input.incremental ? await previousSnapshot(ctx.pipeline.name, input.path) : undefined;
    const { table, source } = await sources.read(input as SourceRequest, previous);
    return { table: await ctx.store.putTable(table), source };
  },
});

export const tabularDataset = defineStep({
  ...common,
  name: 'tabular-dataset',
  description: 'Snapshots a table as a dataset version: canonical encoding, manifest with schema and statistics.',
  queue: 'heavy',
  input: z.object({
    model: modelDigest,
    table: artifactRef,
    source: sourceRecord.optional(),
  }),
  output: datasetRef,
  run: (ctx, { table, source }) =>
    services(ctx).stages.snapshot(
      runPlan(ctx),
      table,
      source ?? { path: table.uri, bytes: table.bytes, sha256: table.digest }
    ),
});

export const tabularValidate = defineStep({
  ...common,
  name: 'tabular-validate',
  description: 'Checks the dataset against the data contract and the last accepted snapshot.',
  queue: 'heavy',
  input: z.object({ model: modelDigest, dataset: datasetRef }),
  output: z.object({ report: artifactRef, anomalies: z.number(), reference: z.string().optional() }),
  run: (ctx, { dataset }) => services(ctx).stages.validate(runPlan(ctx), dataset),
});

export const tabularTransform = defineStep({
  ...common,
  name: 'tabular-transform',
  description: 'Splits the dataset, fits the features on the training rows and writes both matrices.',
  queue: 'heavy',
  // Validation must pass first: its report is an input, though the transform does not read it.
  input: z.object({ model: modelDigest, dataset: datasetRef, validated: artifactRef }),
  output: transformResult,
  run: (ctx, { dataset }) => services(ctx).stages.transform(runPlan(ctx), dataset),
});

export const tabularTrain = defineStep({
  ...common,
  name: 'tabular-train',
  description:
    'Trains the model in a worker thread (or an external command), checkpointing as it goes; a retry resumes.',
  queue: 'heavy',
  selfHeartbeat: true,
  input: z.object({ model: modelDigest, data: transformResult }),
  output: trainResult,
  run: (ctx, { data }) => services(ctx).stages.train(runPlan(ctx), data),
});

export const tabularEvaluate = defineStep({
  ...common,
  name: 'tabular-evaluate',
  description: 'Scores the held-out rows, checks the gate and compares with the champion on the same rows.',
  queue: 'heavy',
  input: z.object({ model: modelDigest, dataset: datasetRef, data: transformResult, trained: trainResult }),
  output: evaluationResult,
  run: (ctx, { dataset, data, trained }) => services(ctx).stages.evaluate(runPlan(ctx), data, trained, dataset),
});

export const tabularPackage = defineStep({
  ...common,
  name: 'tabular-package',
  description: 'Writes the self-contained model package (canonical JSON): what scoring needs, and its lineage.',
  usesProjectCode: true,
  input: z.object({
    model: modelDigest,
    dataset: datasetRef,
    data: transformResult,
    trained: trainResult,
    evaluation: evaluationResult,
  }),
  output: z.object({ package: artifactRef }),
  run: (ctx, { dataset, data, trained, evaluation }) =>
    services(ctx).stages.packageModel(runPlan(ctx), dataset, data, trained, evaluation),
});

export const tabularRegister = defineStep({
  ...common,
  name: 'tabular-register',
  description: 'Registers the package as the next version of the model; champion if it passed its gate.',
  input: z.object({
    model: modelDigest,
    dataset: datasetRef,
    packaged: z.object({ package: artifactRef }),
    evaluation: evaluationResult,
  }),
  output: z.object({
    model: z.string(),
    version: z.number(),
    champion: z.boolean(),
    package: artifactRef,
    metrics: z.record(z.string(), z.number()),
  }),
  run: async (ctx, { dataset, packaged, evaluation }) => ({
    ...(await services(ctx).stages.register({ plan: runPlan(ctx), dataset, packaged, evaluation })),
    package: packaged.package,
    metrics: evaluation.metrics,
  }),
});

export interface TrainTabularInputs {
  /** The table to train on (`ctx.store.putTable` in a step of the project). */
  table: Ref<ArtifactRef>;
  /** Where the table came from, recorded in the dataset manifest. @default the table artifact itself */
  source?: Ref<TableSource>;
}

/**
 * The `tabular` recipe: wires Cairn's built-in steps (dataset → validate → transform → train → evaluate → package
 * → register) after the project's own steps, and returns the registered version's reference. The model is
 * registered under the pipeline's name; `cairn release` and monitors then treat it like any other.
 */
export function trainTabular(p: PipelineBuilder, model: TabularModel, inputs: TrainTabularInputs) {
  const { name, version, config } = p.pipeline;
  if (model.spec.config !== config)
    throw new PipelineDefinitionError(
      `pipeline ${name}: the tabular model's config must be the pipeline's own config schema`
    );
  const pipeline = { ...model.spec, name, version, description: '', source: () => ({ path: '-' }) } as TabularPipeline;
  // The spec's digest, computed once by tabularModel: wiring runs on every plan.
  registerTabular(pipeline, model.digest);

  const m = model.digest;
  let read: { table: Ref<ArtifactRef>; source?: Ref<TableSource> } = {
    table: inputs.table,
    ...(inputs.source ? { source: inputs.source } : {}),
  };
  if (pipeline.featureViews?.length) {
    const joined = p.step(tabularFeatures, { model: m, ...read });
    read = { table: joined.out.table, source: joined.out.source };
  }
  const dataset = p.step(tabularDataset, { model: m, ...read });
  const validated = p.step(tabularValidate, { model: m, dataset: dataset.output });
  const data = p.step(tabularTransform, { model: m, dataset: dataset.output, validated: validated.out.report });
  const trained = p.step(tabularTrain, { model: m, data: data.output });
  const evaluation = p.step(tabularEvaluate, {
    model: m,
    dataset: dataset.output,
    data: data.output,
    trained: trained.output,
  });
  const packaged = p.step(tabularPackage, {
    model: m,
    dataset: dataset.output,
    data: data.output,
    trained: trained.output,
    evaluation: evaluation.output,
  });
  return p.step(tabularRegister, {
    model: m,
    dataset: dataset.output,
    packaged: packaged.output,
    evaluation: evaluation.output,
  });
}
