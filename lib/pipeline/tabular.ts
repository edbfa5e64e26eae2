import type { z } from 'zod';
import { PipelineDefinitionError } from './pipeline.js';
import { UnknownPipelineError } from './project.js';
import { sourceOf } from './step.js';
import { sha256 } from '../artifacts/digest.js';
import { canonicalJson } from '../ml/canonical-json.js';
import { compileContract } from '../validate/contract.js';
import type { FeatureDef } from '../features/feature.js';
import type { FeatureView } from '../features/store/view.js';
import { trainerParams, trainerTasks } from '../ml/index.js';
import type { Trainer } from '../ml/index.js';
import type { MonitoringPolicy } from '../monitoring/policy.js';
import { logPolicyProblems } from '../monitoring/log-policy.js';

/** What a pipeline learns. */
export type Task = 'regression' | 'binary' | 'multiclass';

/** Metrics each task can report and gate on. */
export const METRICS = {
  regression: ['rmse', 'mae', 'r2'],
  binary: ['accuracy', 'macroF1', 'rocAuc', 'logLoss'],
  multiclass: ['accuracy', 'macroF1', 'rocAuc', 'logLoss'],
} as const;
export type MetricName<T extends Task> = (typeof METRICS)[T][number];

/** A bound a metric must meet on the held-out split for the model to pass the gate. */
export interface Threshold {
  min?: number;
  max?: number;
}

/**
 * Where a pipeline's data comes from, chosen by `path`: a Parquet, CSV or JSON file (relative to Cairn's directory,
 * or `npm:<package>/<path>` for a file a package ships), `s3://bucket/prefix` (every Parquet part under the prefix,
 * in key order, as one dataset), `postgres://user@host:port/db` with a `query`, or an `http(s)://` URL of a file.
 * Workers read only under their allowed roots (`data.roots`).
 */
export interface DataSource {
  path: string;
  format?: 'parquet' | 'csv' | 'json';
  /** Read only the first N rows (a subset for quick runs). */
  limit?: number;
  /** The SQL of a `postgres://` source, read through a cursor in batches. */
  query?: string;
  /**
   * An `s3://` prefix of partitions (keys that sort by time, `month=2001-07/…`): read only the parts newer than the
   * last accepted snapshot's and append them to it. The dataset is the same as reading every part.
   */
  incremental?: boolean;
}

export type Split =
  /** The last `testFraction` of rows by `column` (a timestamp) is held out: train on the past, test on the future. */
  | { kind: 'time'; column: string; testFraction: number }
  /** A seeded random `testFraction` of rows is held out. */
  | { kind: 'random'; testFraction: number; seed: number };

/** A trainer of the registry (lib/ml/trainers) and its parameters: `{ kind: 'gbdt', rounds: 100, … }`. */
export type { Trainer };

type RowSchema = z.ZodObject;
type Columns<R extends RowSchema> = keyof z.output<R> & string;

/**
 * A pipeline as code. `contract` is the data contract: a zod object describing one row; it is compiled to
 * column-wise checks (type, range, allowed values, nullability, and uniqueness via `.meta({ unique: true })`).
 * `config` holds every tunable with its default; YAML beside the pipeline, `--set k=v` and the workflow input
 * override it. The other fields are functions of the parsed config so that config can change them.
 */
export interface TabularSpec<R extends RowSchema, C extends z.ZodObject, T extends Task> {
  /** kebab-case, unique; the name runs are started by. */
  name: string;
  description: string;
  /** Bump when the pipeline's code changes what it produces; part of every model's lineage. */
  version: string;
  config: C;
  source: (config: z.output<C>) => DataSource;
  contract: R;
  features: (config: z.output<C>) => FeatureDef[];
  target: { column: Columns<R>; task: T };
  split: (config: z.output<C>) => Split;
  trainer: (config: z.output<C>) => Trainer;
  evaluation: {
    metrics: MetricName<T>[];
    /** Absolute bounds the candidate must meet. */
    gate: (config: z.output<C>) => Partial<Record<MetricName<T>, Threshold>>;
    /**
     * The comparison with the registered champion on the same held-out rows: the candidate must beat it on `metric`,
     * or be worse by at most `maxRegression` (in the metric's units). @default the first metric, 0
     */
    champion?: { metric: MetricName<T>; maxRegression: number };
  };
  /** How a deployed model is watched for drift, decay, latency and cost; a release needs one. */
  monitoring?: MonitoringPolicy;
  /** What the prediction log may keep: PII columns to drop or hash, and how long rows live. @default all, '30d' */
  predictionLog?: { drop?: Columns<R>[]; hash?: Columns<R>[]; retention?: string };
  /**
   * Feature views joined onto the rows before anything else, as of each row's `at` (a timestamp column): their
   * features become columns (declare them in the contract). Online, the server looks them up by entity key. Only
   * project pipelines (`trainTabular`) join them.
   */
  featureViews?: { view: FeatureView; at: Columns<R> }[];
}

/** Metrics where smaller is better; the rest are better larger. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['rmse', 'mae', 'logLoss']);

export type TabularPipeline = TabularSpec<RowSchema, z.ZodObject, Task>;

const NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Declares a pipeline. Type errors catch a target that is not a contract column, a metric the task cannot report
 * or a gate on an unknown metric; the rest is checked here, when the pipeline index loads.
 */
export function defineTabularPipeline<const R extends RowSchema, const C extends z.ZodObject, const T extends Task>(
  spec: TabularSpec<R, C, T>
): TabularSpec<R, C, T> {
  const problems: string[] = [];
  if (!NAME.test(spec.name)) problems.push(`name ${JSON.stringify(spec.name)} must be kebab-case`);
  const defaults = spec.config.safeParse({});
  if (!defaults.success)
    problems.push(`config: every key needs a default (${defaults.error.issues[0]?.path.join('.')})`);
  const columns = Object.keys(spec.contract.shape);
  if (!columns.includes(spec.target.column)) problems.push(`target ${spec.target.column} is not a contract column`);
  if (defaults.success) {
    const config = defaults.data;
    for (const feature of spec.features(config)) {
      for (const input of feature.inputs) {
        if (!columns.includes(input))
          problems.push(`feature ${feature.name} reads ${input}, which is not a contract column`);
      }
    }
    const split = spec.split(config);
    if (split.kind === 'time' && !columns.includes(split.column))
      problems.push(`split column ${split.column} is not a contract column`);
    if (!(split.testFraction > 0 && split.testFraction < 1))
      problems.push('split.testFraction must be between 0 and 1');
    const trainer = spec.trainer(config);
    try {
      const tasks = trainerTasks(trainer.kind);
      if (!tasks.includes(spec.target.task))
        problems.push(
          `a ${trainer.kind} trainer cannot learn a ${spec.target.task} task (it learns ${tasks.join(', ')})`
        );
      else trainerParams(trainer);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (spec.predictionLog) problems.push(...logPolicyProblems(spec.predictionLog, columns));
  for (const { view, at } of spec.featureViews ?? []) {
    for (const column of [at, ...view.entities, ...view.features.map((f) => f.name)])
      if (!columns.includes(column)) problems.push(`feature view ${view.name}: ${column} is not a contract column`);
  }
  if (problems.length) throw new PipelineDefinitionError(`pipeline ${spec.name}: ${problems.join('; ')}`);
  return spec;
}

/**
 * sha256 of what a tabular pipeline trains (contract, features, split, trainer, gate, monitoring: their code and
 * settings), leaving out its name, description, version, source and config schema (runs key on the config's digest).
 */
export function tabularDigest(spec: TabularPipeline): string {
  const { features, target, split, trainer, evaluation, monitoring, predictionLog, featureViews } = spec;
  const code = (v: unknown): unknown =>
    typeof v === 'function'
      ? sourceOf(v as () => unknown)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, code(x)]))
        : v;
  const contract = compileContract(spec.contract);
  // The log policy counts only where declared: pipelines without one keep the digests they had.
  const logged = predictionLog ? { predictionLog } : {};
  const joined = featureViews ? { featureViews: featureViews.map(({ view, at }) => ({ view: view.digest, at })) } : {};
  // Functions count by their source, which misses what they close over (`trainer: () => trainer`): the trainer
  // as the default config makes it counts too.
  const defaults = spec.config.safeParse({});
  const made = defaults.success ? { trainerMade: spec.trainer(defaults.data) } : {};
  return sha256(
    canonicalJson(
      code({ contract, features, target, split, trainer, evaluation, monitoring, ...logged, ...joined, ...made })
    )
  );
}

const TABULAR = new Map<string, { pipeline: TabularPipeline; digest: string }>();

/**
 * Makes a tabular pipeline resolvable by name in this process: the built-in ones, and those a project's pipelines
 * train with `trainTabular` (registered when the project loads). Stage activities resolve them here. The same model
 * under the same name and version registers once (the first stays); a different one under a taken name is refused.
 */
export function registerTabular(pipeline: TabularPipeline, digest = tabularDigest(pipeline)): void {
  const known = TABULAR.get(pipeline.name);
  if (!known) TABULAR.set(pipeline.name, { pipeline, digest });
  else if (known.digest !== digest || known.pipeline.version !== pipeline.version)
    throw new PipelineDefinitionError(`two different tabular pipelines are named ${pipeline.name}`);
}

export function resolveTabular(name: string): TabularPipeline {
  const known = TABULAR.get(name);
  if (!known) throw new UnknownPipelineError(name, [...TABULAR.keys()]);
  return known.pipeline;
}
