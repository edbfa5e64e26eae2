import { readFile, stat } from 'node:fs/promises';
import { DataReadError } from './table.js';

/** What the readers accept besides the path; each reader documents which fields it uses. */
export interface ReadOptions {
  /** Only these columns, in this order. @default every column, in source order */
  columns?: string[];
  /** Read at most this many rows (from the start). @default every row */
  limit?: number;
}

/** The size of `path`, or a DataReadError that says why it cannot be read. */
export async function fileSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DataReadError(path, 'not a regular file');
    return info.size;
  } catch (err) {
    throw asReadError(path, err);
  }
}

/** The whole file as UTF-8 text without a byte-order mark; an empty file is a DataReadError. */
export async function readText(path: string): Promise<string> {
  if ((await fileSize(path)) === 0) throw new DataReadError(path, 'empty file (0 bytes)');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw asReadError(path, err);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Wraps file-system errors (missing file, no permission) so callers always see the file name. */
export function asReadError(path: string, err: unknown): DataReadError {
  if (err instanceof DataReadError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'ENOENT'
      ? 'file not found'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'not a regular file'
          : err instanceof Error
            ? err.message
            : String(err);
  const error = new DataReadError(path, reason);
  error.cause = err;
  return error;
}

export function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  return limit;
}

/** Resolves `columns` against the names found in the file; an unknown name is a DataReadError listing the real ones. */
export function selectColumns(path: string, available: string[], wanted: string[] | undefined): string[] {
  if (!wanted) return available;
  const known = new Set(available);
  const seen = new Set<string>();
  for (const name of wanted) {
    if (!known.has(name)) {
      throw new DataReadError(path, `no column ${JSON.stringify(name)} (columns: ${available.join(', ')})`, {
        column: name,
      });
    }
    if (seen.has(name)) throw new RangeError(`column ${JSON.stringify(name)} requested twice`);
    seen.add(name);
  }
  return wanted;
}
