import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import packageJson from '../package.json' with { type: 'json' };
import { resolveSourcePath } from '../lib/pipeline/run-config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TEMPLATES = fileURLToPath(new URL('./templates/project', import.meta.url));

export class InitError extends Error {
  override readonly name = 'InitError';
  readonly userFacing = true;
}

export interface InitOptions {
  /** How the project depends on Cairn. @default `file:<this Cairn's directory>` */
  cairn?: string;
}

/** Every file of the template directory, relative to it. */
function templateFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? templateFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]
  );
}

/**
 * Scaffolds a Cairn project in `dir` (outside Cairn's repository, typically): package.json depending on Cairn,
 * tsconfig, `cairn.config.ts` listing its pipelines, one example pipeline with custom steps over real data (Palmer
 * penguins, copied from the vega-datasets package) and a vitest test of it. Refuses a directory with files in it.
 */
export function initProject(dir: string, options: InitOptions = {}): string[] {
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new InitError(`${root} is not empty; cairn init writes a new project into an empty or new directory`);
  const name =
    basename(root)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'cairn-project';
  const vars: Record<string, string> = {
    NAME: name,
    CAIRN_SPEC: options.cairn ?? `file:${ROOT.replace(/\/$/, '')}`,
    CAIRN_HOME: resolve(ROOT, '.cairn'),
    TYPESCRIPT: packageJson.devDependencies.typescript,
    VITEST: packageJson.devDependencies.vitest,
    TYPES_NODE: packageJson.devDependencies['@types/node'],
  };
  const written: string[] = [];
  for (const file of templateFiles(TEMPLATES)) {
    const text = readFileSync(join(TEMPLATES, file), 'utf8').replace(
      /\{\{(\w+)\}\}/g,
      (m, key: string) => vars[key] ?? m
    );
    // Template files end in .tpl so Cairn's own type check and tests leave them alone.
    const target = join(root, file.replace(/\.tpl$/, ''));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
    written.push(target);
  }
  const penguins = join(root, 'data', 'penguins.json');
  mkdirSync(dirname(penguins), { recursive: true });
  writeFileSync(penguins, readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json')));
  written.push(penguins);
  return written;
}
