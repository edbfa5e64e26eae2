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
