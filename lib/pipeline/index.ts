// Cairn's public API for pipelines as code: what a user project imports from 'cairn'.
export { defineStep, artifactRef, StepValidationError, QUEUE_PROFILES } from './step.js';
export type { AnyStep, QueueProfile, Step, StepContext, StepInput, StepOutput, StepSpec, StepStore } from './step.js';
export { definePipeline, PipelineDefinitionError } from './pipeline.js';
export type {
  AnyPipeline,
  ForeachNode,
  ForeachOptions,
  Pipeline,
  PipelineBuilder,
  PipelinePlan,
  PipelineSpec,
  PlanNode,
  Ref,
  StepNode,
  StepOptions,
  Wired,
} from './pipeline.js';
export { defineProject, loadProject, ProjectLoadError, UnknownPipelineError } from './project.js';
export type { Project, ProjectSpec } from './project.js';
export { runLocally, runStepLocally } from './testing.js';
export type { LocalRun, LocalRunOptions } from './testing.js';
export type { ArtifactRef } from '../artifacts/index.js';
export { hashFile } from '../artifacts/digest.js';
export type { Table } from '../data/table.js';
export { tableFromRows } from '../data/read-json.js';
// One zod for schemas and Cairn's checks: `import { z } from 'cairn'`.
export { z } from 'zod';
// The tabular recipe: Cairn's built-in steps that turn a table into a registered, servable model.
export { tabularModel, trainTabular, tabularRead } from './tabular-recipe.js';
export type { TableSource, TabularModel, TabularModelSpec, TrainTabularInputs } from './tabular-recipe.js';
export type { MetricName, Split, TabularSpec, Task, Threshold, Trainer } from './tabular.js';
export { registerTrainer } from '../ml/trainers/index.js';
export type { TrainContext, TrainerDefinition } from '../ml/trainers/index.js';
export type { FeatureMatrix } from '../ml/types.js';
export type { MonitoringPolicy } from '../monitoring/policy.js';
export { bucketize, category, datePart, numeric } from '../features/builders.js';
export { defineFeatureView } from '../features/store/view.js';
export { definePrompt } from '../prompts/prompt.js';
export { defineScorer } from '../prompts/evaluation.js';
export type { EvaluationRow, ProjectScorer } from '../prompts/evaluation.js';
export type { PromptDefinition, PromptModel } from '../prompts/prompt.js';
export type { FeatureView, FeatureViewSpec } from '../features/store/view.js';
export type { FeatureDef } from '../features/feature.js';
// Text search: an embedding model from a Python package, then the vector index recipe (embed, build, gate, register).
export {
  buildVectorIndex,
  embeddingModel,
  embedTexts,
  evaluateVectorIndex,
  registerVectorIndex,
  vectorIndex,
} from '../embeddings/steps.js';
export type { EmbeddingModelRef, VectorIndexInputs } from '../embeddings/steps.js';
