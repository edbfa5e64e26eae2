import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleProject } from './bundle.js';
import type { AnyPipeline } from './pipeline.js';
import { CairnError } from '../errors.js';
import type { FeatureView } from '../features/store/view.js';
import type { ProjectScorer } from '../prompts/evaluation.js';
import type { PromptDefinition } from '../prompts/prompt.js';

/** What a project's `cairn.config.ts` exports by default. */
export interface ProjectSpec {
  /** The project's pipelines; names must be unique. */
  pipelines: AnyPipeline[];
  /** The project's feature views (`defineFeatureView`); names must be unique. */
  featureViews?: FeatureView[];
  /** The project's prompts (`definePrompt`), pushed as versions by `cairn prompts create <name>`. */
  prompts?: PromptDefinition[];
  /** Scorers of prompt evaluations (`defineScorer`), used as `project:<name>`. */
  scorers?: ProjectScorer[];
}

export interface Project {
  /** The project's root directory, or undefined for a project made in code (tests). */
  readonly dir: string | undefined;
  readonly pipelines: ReadonlyMap<string, AnyPipeline>;
  /** The pipeline by name; UnknownPipelineError names the known ones. */
  pipeline(name: string): AnyPipeline;
  readonly featureViews: ReadonlyMap<string, FeatureView>;
  /** The feature view by name; UnknownFeatureViewError names the known ones. */
  featureView(name: string): FeatureView;
  readonly prompts: ReadonlyMap<string, PromptDefinition>;
  readonly scorers: ReadonlyMap<string, ProjectScorer>;
  /** The project's code as loaded (see `bundleProject`): recorded in the packages its pipelines make. */
  readonly bundle?: { digest: string; bytes: Buffer };
}

export class UnknownPipelineError extends CairnError {
  override readonly name = 'UnknownPipelineError';
  readonly type = 'UnknownPipeline';
  constructor(
    readonly pipeline: string,
    known: string[]
  ) {
    super(`unknown pipeline ${JSON.stringify(pipeline)} (known: ${known.sort().join(', ') || 'none'})`);
  }
  override failureDetails() {
    return { pipeline: this.pipeline };
  }
}

export class UnknownFeatureViewError extends CairnError {
  override readonly name = 'UnknownFeatureViewError';
  readonly type = 'UnknownFeatureView';
  constructor(view: string, known: string[]) {
    super(`unknown feature view ${JSON.stringify(view)} (known: ${known.sort().join(', ') || 'none'})`);
  }
}

export class ProjectLoadError extends CairnError {
  override readonly name = 'ProjectLoadError';
  readonly type = 'ProjectLoadError';
}

/** A project's items by name; two of a kind with one name are refused. */
function byName<T extends { name: string }>(items: readonly T[] | undefined, kind: string): Map<string, T> {
  const named = new Map<string, T>();
  for (const item of items ?? []) {
    if (named.has(item.name)) throw new ProjectLoadError(`two ${kind} are named ${item.name}`);
    named.set(item.name, item);
  }
  return named;
}

/** Declares a project: `export default defineProject({ pipelines: [...] })` in `cairn.config.ts`. */
export function defineProject(spec: ProjectSpec, dir?: string, bundle?: Project['bundle']): Project {
  const pipelines = byName(spec.pipelines, 'pipelines');
  const featureViews = byName(spec.featureViews, 'feature views');
  const prompts = byName(spec.prompts, 'prompts');
  const scorers = byName(spec.scorers, 'scorers');
  return {
    dir,
    prompts,
    scorers,
    ...(bundle ? { bundle } : {}),
    pipelines,
    pipeline(name) {
      const found = pipelines.get(name);
      if (!found) throw new UnknownPipelineError(name, [...pipelines.keys()]);
      return found;
    },
    featureViews,
    featureView(name) {
      const found = featureViews.get(name);
      if (!found) throw new UnknownFeatureViewError(name, [...featureViews.keys()]);
      return found;
    },
  };
}

export const PROJECT_FILES = ['cairn.config.ts', 'cairn.config.mts', 'cairn.config.js', 'cairn.config.mjs'];

/** The project's config file in `dir`, if it has one. */
export function projectFile(dir: string): string | undefined {
  return PROJECT_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
}

/**
 * Loads the project in `dir` (its `cairn.config.ts`). TypeScript loads as it is: Cairn's processes run under tsx.
 * A directory without a project file gives an empty project, so workers without one still serve built-ins.
 */
export async function loadProject(dir: string): Promise<Project> {
  const root = resolve(dir);
  const file = projectFile(root);
  if (!file) return defineProject({ pipelines: [] }, undefined);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new ProjectLoadError(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const project = mod.default as Project | ProjectSpec | undefined;
  if (!project || !('pipelines' in project))
    throw new ProjectLoadError(`${file}: expected \`export default defineProject({ pipelines: [...] })\``);
  const listed = <T>(items: ReadonlyMap<string, T> | T[] | undefined) =>
    items instanceof Map ? [...items.values()] : ((items ?? []) as T[]);
  // Bundled as loaded: an edit after the process started is not the code it runs.
  const { digest, bytes } = bundleProject(root);
  return defineProject(
    {
      pipelines: listed(project.pipelines as Project['pipelines'] | AnyPipeline[]),
      featureViews: listed(project.featureViews as Project['featureViews'] | FeatureView[]),
      prompts: listed(project.prompts as Project['prompts'] | PromptDefinition[]),
      scorers: listed(project.scorers as Project['scorers'] | ProjectScorer[]),
    },
    root,
    { digest, bytes }
  );
}
