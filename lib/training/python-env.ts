import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from '../artifacts/digest.js';
import { CairnError } from '../errors.js';
import { canonicalJson } from '../ml/canonical-json.js';

const run = promisify(execFile);

/** A requirements file that does not pin an exact set of packages, or an environment that cannot be built from it. */
export class PythonEnvError extends CairnError {
  override readonly name = 'PythonEnvError';
  readonly type = 'PythonEnvError';
  constructor(
    message: string,
    readonly file: string
  ) {
    super(message);
  }
  override failureDetails() {
    return { file: this.file };
  }
}

/** What an environment is made of: the interpreter's version and every package pinned. Its digest names it. */
export interface PythonLock {
  digest: string;
  python: string;
  packages: string[];
}

export interface PythonEnvironment extends PythonLock {
  /** The virtualenv's `bin`, put first on the command's PATH. */
  bin: string;
}

const PIN = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*(?:;.*)?$/;

/** `Scikit_Learn==1.9.1` → `scikit-learn==1.9.1`: the form pip freeze prints, so the two compare. */
const normalized = (name: string, version: string) => `${name.toLowerCase().replace(/[-_.]+/g, '-')}==${version}`;

/**
 * Reads a requirements file that pins every package as `name==version` (comments, blank lines and `--hash` options
 * allowed; anything else is refused, naming the line). The lock digest covers the interpreter's version too.
 */
export async function pythonLock(file: string, python = 'python3'): Promise<PythonLock> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PythonEnvError(`cannot read requirements ${file}: ${(err as Error).message}`, file);
  }
  const packages: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw
      .replace(/(^|\s)#.*$/, '')
      .replace(/\s+--hash=\S+/g, '')
      .trim();
    if (!line) return;
    const pin = PIN.exec(line);
    if (!pin)
      throw new PythonEnvError(
        `${file}:${i + 1}: ${JSON.stringify(line)} is not pinned; write every package as name==version (pip freeze)`,
        file
      );
    packages.push(normalized(pin[1]!, pin[3]!));
  });
  if (!packages.length) throw new PythonEnvError(`${file} pins no packages`, file);
  packages.sort();
  const version = await run(python, ['-c', 'import sys; print(".".join(map(str, sys.version_info[:3])))']).catch(
    (err: Error) => {
      throw new PythonEnvError(`cannot run ${python}: ${err.message}`, file);
    }
  );
  const lock = { python: version.stdout.trim(), packages };
  return { digest: sha256(canonicalJson(lock)), ...lock };
}

/** Where `ensurePythonEnv` keeps the environment of `lock`. */
export const pythonEnvDir = (envs: string, lock: PythonLock): string =>
  join(envs, lock.digest.slice('sha256:'.length, 'sha256:'.length + 24));

/**
 * The virtualenv of a requirements file, under `<envs>/<lock digest>`: made once with `python -m venv` and pip from
 * the configured index, then reused by every run with the same lock. It is built in a scratch directory and renamed
 * into place only once pip succeeded and `pip freeze` shows exactly the pinned set, so a crash or a concurrent build
 * never leaves a half-made environment in use. A package pulled in without a pin is refused, named. `lock` is the
 * file's `pythonLock`.
 */
export async function ensurePythonEnv(
  file: string,
  lock: PythonLock,
  envs: string,
  python = 'python3'
): Promise<PythonEnvironment> {
  const dir = pythonEnvDir(envs, lock);
  const bin = join(dir, 'bin');
  if (existsSync(join(dir, 'cairn-lock.json'))) return { ...lock, bin };

  await mkdir(envs, { recursive: true });
  const scratch = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await run(python, ['-m', 'venv', scratch]);
    const pip = (...args: string[]) =>
      run(join(scratch, 'bin', 'python'), ['-m', 'pip', '--disable-pip-version-check', '--no-input', ...args], {
        maxBuffer: 64 * 1024 * 1024,
      });
    await pip('install', '--quiet', '-r', file).catch((err: Error & { stderr?: string }) => {
      const tail = (err.stderr ?? err.message).trim().split('\n').slice(-8).join('\n  ');
      throw new PythonEnvError(`pip could not install ${file}:\n  ${tail}`, file);
    });
    const frozen = (await pip('freeze')).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const [name, version] = l.split('==');
        return version ? normalized(name!, version) : l;
      });
    const unpinned = frozen.filter((p) => !lock.packages.includes(p));
    if (unpinned.length)
      throw new PythonEnvError(
        `${file} does not pin everything it installs: add ${unpinned.join(', ')} (or pin what pulled them in)`,
        file
      );
    await writeFile(join(scratch, 'cairn-lock.json'), canonicalJson(lock));
    await rename(scratch, dir).catch((err: NodeJS.ErrnoException) => {
      // Another worker built the same environment first: use theirs.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { ...lock, bin };
}
