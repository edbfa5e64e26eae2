import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { secretPaths } from '../config/redact.js';
import type { z } from 'zod';
import type { TabularPipeline } from './tabular.js';
import { npmPath } from '../data/sources/roots.js';
import { createSources, kindOf } from '../data/sources/index.js';
import type { Sources } from '../data/sources/index.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { S3ArtifactStore } from '../artifacts/s3-store.js';
import type { CairnConfig } from '../config/index.js';
import { sha256 } from '../artifacts/digest.js';
import { canonicalJson } from '../ml/canonical-json.js';
import { CairnError } from '../errors.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A run's config that does not fit the pipeline's schema; names the key. Not retryable. */
export class InvalidConfigError extends CairnError {
  override readonly name = 'InvalidConfigError';
  readonly type = 'InvalidConfig';
  constructor(
    readonly pipeline: string,
    readonly problems: string[]
  ) {
    super(`pipeline ${pipeline}: invalid config: ${problems.join('; ')}`);
  }
  override failureDetails() {
    return { problems: this.problems };
  }
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlain(v) && isPlain(out[k]) ? merge(out[k], v) : v;
  return out;
}

/** Keys that would reach an object's prototype when merged: never config. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Every path in `value` through a key that would pollute a prototype (JSON.parse makes `__proto__` an own key). */
function forbiddenPaths(value: unknown, path: string[] = []): string[] {
  if (!isPlain(value)) return [];
  return Object.keys(value).flatMap((k) =>
    FORBIDDEN_KEYS.has(k) ? [[...path, k].join('.')] : forbiddenPaths(value[k], [...path, k])
  );
}

/** `key.sub=value` pairs (values read as YAML scalars: numbers, booleans, strings) into a nested object. */
export function parseSets(sets: string[], pipeline = 'config'): Plain {
  const out: Plain = {};
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new InvalidConfigError(pipeline, [`--set ${JSON.stringify(set)}: expected key=value`]);
    const path = set.slice(0, eq).split('.');
    const bad = path.find((part) => FORBIDDEN_KEYS.has(part));
    if (bad) throw new InvalidConfigError(pipeline, [`--set ${set.slice(0, eq)}: the key "${bad}" is not allowed`]);
    let node = out;
    for (const part of path.slice(0, -1)) node = (node[part] = isPlain(node[part]) ? node[part] : {}) as Plain;
    node[path[path.length - 1]!] = parseYaml(set.slice(eq + 1));
  }
  // Overrides become the workflow's input, stored in Temporal's history for as long as it is kept.
  const leaked = secretPaths(out);
  if (leaked.length)
    throw new InvalidConfigError(
      pipeline,
      leaked.map(
        (key) =>
          `--set ${key}: holds a credential (a URL password, a token or key parameter), which the workflow history would keep; give the pipeline a secret file or environment variable instead`
      )
    );
  return out;
}

/** The config file beside the pipeline, if any. */
export function pipelineDefaults(pipeline: Pick<TabularPipeline, 'name'>): Plain {
  const file = join(ROOT, 'pipelines', pipeline.name, 'config.yaml');
  if (!existsSync(file)) return {};
  const doc: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) throw new InvalidConfigError(pipeline.name, [`${file} must be a mapping`]);
  return doc;
}

export interface RunConfig {
  config: Record<string, unknown>;
  /** sha256 of the canonical JSON of the full config. */
  configDigest: string;
}

/**
 * The full config of a run: the pipeline's defaults, its config.yaml, then `overrides` (the workflow input's
 * `config`), then `sets` (`--set k=v`). Unknown keys and wrong types fail with every problem named.
 */
export function resolveRunConfig(
  pipeline: { name: string; config: z.ZodType },
  overrides: unknown = {},
  sets: string[] = [],
  defaults: Plain = pipelineDefaults(pipeline)
): RunConfig {
  if (!isPlain(overrides)) throw new InvalidConfigError(pipeline.name, ['config must be an object']);
  const polluting = [...forbiddenPaths(defaults), ...forbiddenPaths(overrides)];
  if (polluting.length)
    throw new InvalidConfigError(
      pipeline.name,
      polluting.map((p) => `config key ${p}: "${p.split('.').pop()}" is not allowed`)
    );
  const raw = merge(merge(defaults, overrides), parseSets(sets, pipeline.name));
  const parsed = pipeline.config.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidConfigError(
      pipeline.name,
      parsed.error.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? `unknown config key ${i.keys.map((k) => [...i.path, k].join('.')).join(', ')}`
          : `config key ${i.path.join('.')}: ${i.message}`
      )
    );
  }
  const config = parsed.data as Record<string, unknown>;
  return { config, configDigest: sha256(canonicalJson(config)) };
}

/** A data source path: `npm:<package>/<file>` inside an installed package, else relative to the project root. */
export function resolveSourcePath(path: string): string {
  if (path.startsWith('npm:')) {
    const spec = path.slice(4);
    const parts = spec.split('/');
    const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    const rest = spec.slice(pkg.length + 1);
    // Packages may not export package.json: look for the package folder on Node's search path instead.
    const dirs = createRequire(import.meta.url).resolve.paths(pkg) ?? [];
    const dir = dirs.map((d) => join(d, pkg)).find((d) => existsSync(join(d, 'package.json')));
    return npmPath(dir ?? join(ROOT, 'node_modules', pkg), rest, path);
  }
  return isAbsolute(path) ? path : resolve(ROOT, path);
}

/**
 * The sources workers read pipelines' data from, behind the allowed roots (`data.roots`; by default Cairn's
 * directory, installed packages, the project's directory, `<home>/data` and the store bucket's `data/` prefix).
 * `s3://` sources are read from the artifact store's endpoint with its credentials.
 */
export function sourcesOf(
  config: Pick<CairnConfig, 'data' | 'home' | 'store'>,
  store: ArtifactStore,
  projectDir?: string
): Sources {
  const roots = config.data.roots ?? [
    '.',
    'npm:',
    ...(projectDir ? [projectDir] : []),
    join(config.home, 'data'),
    `s3://${config.store.bucket}/data`,
  ];
  return createSources({
    roots: roots.map((r) => (r !== 'npm:' && kindOf(r) === 'file' ? resolveSourcePath(r) : r)),
    resolvePath: resolveSourcePath,
    ...(store instanceof S3ArtifactStore ? { s3: store.client } : {}),
    tmpDir: join(resolveSourcePath(config.home), 'tmp'),
  });
}
