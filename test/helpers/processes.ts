import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll } from 'vitest';
import { serviceEnv } from './cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts the real `cairn-train` worker entry point as a separate process on a queue, so a test can `kill -9` it;
 * `env` adds to its environment (e.g. `CAIRN_PROJECT`, the project whose steps it runs). Whatever is still running
 * is killed after the file's tests.
 */
export function trainWorkerProcesses(): (queue: string, env?: Record<string, string>) => Promise<ChildProcess> {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  return async (queue, env = {}) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/cairn-train.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...serviceEnv(),
        CAIRN_LOG_LEVEL: 'warn',
        CAIRN_TRAIN_TASK_QUEUE: queue,
        // No metrics endpoint: a port picked free here could be taken before the worker binds it.
        CAIRN_METRICS_PORT: '0',
        ...env,
      },
    });
    children.push(child);
    return child;
  };
}

/** The last heartbeat of a pending activity as the server has it: what a retry resumes from. */
export async function pendingHeartbeat<T>(handle: WorkflowHandle, activityType: string): Promise<T | undefined> {
  const { raw } = await handle.describe();
  const pending = raw.pendingActivities?.find((a) => a.activityType?.name === activityType);
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<T>(payload) : undefined;
}

/** Kills a worker process with SIGKILL (a crash) and waits until it is gone; one that already exited is left alone. */
export async function crash(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
