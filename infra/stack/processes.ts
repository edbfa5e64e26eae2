import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where a stack keeps its processes' pid files and logs: `<home>/pids`, `<home>/logs`. */
export interface StackDirs {
  home: string;
  pids: string;
  logs: string;
}

export function stackDirs(home: string): StackDirs {
  const dirs = { home, pids: join(home, 'pids'), logs: join(home, 'logs') };
  mkdirSync(dirs.pids, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  return dirs;
}

interface PidRecord {
  pid: number;
  command: string;
  startedAt: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a process this stack started and that still runs, else undefined (a stale pid file is removed). */
export function ownedPid(dirs: StackDirs, name: string): number | undefined {
  const file = join(dirs.pids, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
  if (isAlive(record.pid)) return record.pid;
  rmSync(file, { force: true });
  return undefined;
}

export function ownedNames(dirs: StackDirs): string[] {
  return readdirSync(dirs.pids)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => f.slice(0, -4));
}

/**
 * Starts a long-running process in its own process group, detached from this one, with output appended to
 * `<logs>/<name>.log`, and records its pid.
 */
export function startDetached(
  dirs: StackDirs,
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}
): number {
  const log = openSync(join(dirs.logs, `${name}.log`), 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], ...options });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    const record: PidRecord = {
      pid: child.pid,
      command: [command, ...args].join(' '),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(join(dirs.pids, `${name}.pid`), JSON.stringify(record));
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Stops a process this stack started: SIGTERM to its group, SIGKILL after `graceMs`. Returns whether one ran. */
export async function stopOwned(dirs: StackDirs, name: string, graceMs = 15_000): Promise<boolean> {
  const pid = ownedPid(dirs, name);
  if (pid === undefined) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
  rmSync(join(dirs.pids, `${name}.pid`), { force: true });
  return true;
}

/** Polls `check` until it returns true or `timeoutMs` passes; throws with `what` and the log to read. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  logFile?: string
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000}s${logFile ? `; see ${logFile}` : ''}`);
}
