import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { DataReadError } from '../table.js';

/** A source or root URI's kind, by its scheme: a path (or `npm:`) is a local file. */
export type SourceKind = 'file' | 's3' | 'postgres' | 'http';

export function kindOf(uri: string): SourceKind {
  if (uri.startsWith('s3://')) return 's3';
  if (/^postgres(ql)?:\/\//.test(uri)) return 'postgres';
  if (/^https?:\/\//.test(uri)) return 'http';
  return 'file';
}

/** A database URL as its identity: scheme, user, host, port and database, without the password or parameters. */
function databaseOf(uri: string): string {
  const url = new URL(uri);
  return `postgres://${url.username ? `${url.username}@` : ''}${url.hostname}:${url.port || '5432'}${url.pathname}`;
}

/** The real path of a file (symlinks followed where it exists), so a link cannot lead out of a root. */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

const inside = (path: string, root: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** Whether `uri` (a file as resolved, or a URL) lies under `root`. */
function under(uri: string, root: string): boolean {
  const kind = kindOf(uri);
  if (kindOf(root) !== kind) return false;
  switch (kind) {
    case 'file':
      return inside(realPath(uri), realPath(root));
    case 'postgres': {
      // A root without a user admits every user of that database.
      const [source, allowed] = [databaseOf(uri), databaseOf(root)];
      return source === allowed || (!new URL(root).username && source.replace(/\/\/[^@/]*@/, '//') === allowed);
    }
    default: {
      // s3://bucket/prefix and http(s)://host/path: the same bucket or origin, and a path within the root's.
      const base = root.endsWith('/') ? root : `${root}/`;
      return uri === root || uri.startsWith(base);
    }
  }
}

/**
 * Refuses a source outside the allowed roots: a DataReadError (not retryable) naming the root list. `resolved` is
 * the local file a path or `npm:` path resolves to; `roots` are `npm:`, absolute directories, `s3://`, `postgres://` and
 * `http(s)://` prefixes.
 */
export function checkRoots(uri: string, resolved: string, roots: readonly string[]): void {
  // `npm:` admits the files of installed packages (an `npm:` path cannot leave its package: see npmPath).
  if (uri.startsWith('npm:') && roots.includes('npm:')) return;
  const target = kindOf(uri) === 'file' ? resolved : kindOf(uri) === 'postgres' ? uri : uri.replace(/\/+$/, '');
  if (roots.some((root) => under(target, root))) return;
  const shown = kindOf(uri) === 'postgres' ? databaseOf(uri) : uri;
  throw new DataReadError(
    shown,
    `outside the allowed data roots (${roots.join(', ') || 'none'}); add a root to data.roots (CAIRN_DATA_ROOTS) to read it`
  );
}

/** The package directory an `npm:` path points into, and the file; a path that leaves its package is refused. */
export function npmPath(dir: string, rest: string, uri: string): string {
  const file = resolve(dir, rest);
  if (!inside(file, dir) || file === dir) throw new DataReadError(uri, `the path leaves its package (${dir})`);
  return file;
}
