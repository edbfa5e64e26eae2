import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactRef, ArtifactStore } from '../artifacts/index.js';
import { sha256 } from '../artifacts/digest.js';
import { canonicalJson } from '../ml/canonical-json.js';
import { ProjectLoadError } from './project.js';

export const BUNDLE_FORMAT = 'cairn.project-bundle/v1';

/** Directories a bundle leaves out: installed packages, VCS, Cairn's local state, build output. */
const SKIP_DIRS = new Set(['node_modules', '.git', '.cairn', 'dist', 'coverage']);
/** Files larger than this are data, not code: they belong in the store, read by a step. */
const MAX_FILE_BYTES = 1024 * 1024;

interface BundleDoc {
  format: typeof BUNDLE_FORMAT;
  /** Relative path (with `/`) → file content, base64. */
  files: Record<string, string>;
}

/**
 * A project's code as one canonical document: every file under `dir` but installed packages, VCS and local state
 * (and files over 1 MiB), by relative path. Its digest is the project's code version, recorded in every package its
 * pipelines make; the same files give the same bytes wherever and whenever they are bundled.
 */
export function bundleProject(dir: string): { digest: string; bytes: Buffer; files: number } {
  const root = resolve(dir);
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && statSync(path).size <= MAX_FILE_BYTES) {
        files[relative(root, path).split(sep).join('/')] = readFileSync(path).toString('base64');
      }
    }
  };
  walk(root);
  const bytes = Buffer.from(canonicalJson({ format: BUNDLE_FORMAT, files } satisfies BundleDoc));
  return { digest: sha256(bytes), bytes, files: Object.keys(files).length };
}

/** Puts a project's bundle in the store (content-addressed: a no-op when it is there already). */
export function storeBundle(store: ArtifactStore, bundle: { bytes: Buffer }): Promise<ArtifactRef> {
  return store.putBytes(bundle.bytes, { mediaType: 'application/vnd.cairn.project-bundle+json' });
}

const CAIRN_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Writes the bundle `digest` from the store into `<home>/bundles/<hex>` (once: a complete directory is reused) and
 * returns that directory, ready for `loadProject`: its `cairn` dependency resolves to this Cairn. A worker started
 * with `CAIRN_PROJECT=bundle:sha256:…` runs the exact code that made a package.
 */
export async function materializeBundle(store: ArtifactStore, digest: string, home: string): Promise<string> {
  const dir = resolve(home, 'bundles', digest.replace(/^sha256:/, ''));
  if (existsSync(dir)) return dir;
  const doc = JSON.parse((await store.getBytes(digest)).toString('utf8')) as Partial<BundleDoc>;
  if (doc.format !== BUNDLE_FORMAT || typeof doc.files !== 'object' || doc.files === null)
    throw new ProjectLoadError(`${digest} is not a Cairn project bundle (${BUNDLE_FORMAT})`);
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  for (const [path, content] of Object.entries(doc.files)) {
    const target = resolve(partial, path);
    if (!target.startsWith(partial + sep))
      throw new ProjectLoadError(`${digest}: bundle path ${path} leaves the bundle`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, Buffer.from(content, 'base64'));
  }
  mkdirSync(join(partial, 'node_modules'), { recursive: true });
  symlinkSync(CAIRN_ROOT, join(partial, 'node_modules', 'cairn'));
  // Nothing half-written becomes visible: the directory appears complete, or not at all.
  try {
    renameSync(partial, dir);
  } catch (err) {
    // Another process materialized it first: theirs is the same bytes.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(dir)) throw err;
  }
  return dir;
}

/**
 * The directory of the project a process runs: `CAIRN_PROJECT` (a directory, or `bundle:sha256:…` for a bundle in
 * the store), else the working directory.
 */
export async function projectDir(project: string | undefined, store: ArtifactStore, home: string): Promise<string> {
  if (!project) return process.cwd();
  return project.startsWith('bundle:') ? materializeBundle(store, project.slice('bundle:'.length), home) : project;
}
