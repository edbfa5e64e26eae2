import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CodeVersion {
  /** The git commit the code was built from, or 'unknown' outside a git checkout. */
  commit: string;
  /** True when tracked files differ from that commit (or when it cannot be told). */
  dirty: boolean;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Reads the code version once, at worker start; every run the worker executes records it. */
export function readCodeVersion(cwd = ROOT): CodeVersion {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', 'HEAD');
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: true };
  }
}
