import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import { services } from './services.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
// tsx by path: a project directory has no tsx of its own to resolve `--import tsx` against.
const TSX = ['--import', pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href];

/** The environment a user's shell would have, pointed at the test services. */
export function serviceEnv(): Record<string, string> {
  const s = services();
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    CAIRN_HOME: s.home,
    TEMPORAL_ADDRESS: s.temporalAddress,
    DATABASE_URL: s.databaseUrl,
    S3_ENDPOINT: s.s3.endpoint,
    S3_BUCKET: s.s3.bucket,
    S3_SECRET_KEY: s.s3.secretKey,
    CAIRN_TOKEN: s.cliToken,
  };
}

export interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an entry point (`cli/main.ts`…) as a user would, with `env` added to the service environment. */
export async function runEntry(
  entry: string,
  args: string[],
  env: Record<string, string> = {},
  cwd = ROOT
): Promise<Exit> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...TSX, join(ROOT, entry), ...args], {
      cwd,
      env: { ...serviceEnv(), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts long-running `cairn` commands (workers) as processes; whatever still runs is killed after the file. */
export function cairnProcesses(): (args: string[], env?: Record<string, string>, cwd?: string) => ChildProcess {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  return (args, env = {}, cwd = ROOT) => {
    const child = spawn(process.execPath, [...TSX, join(ROOT, 'cli/main.ts'), ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...serviceEnv(), CAIRN_LOG_LEVEL: 'warn', CAIRN_METRICS_PORT: '0', ...env },
    });
    children.push(child);
    return child;
  };
}
