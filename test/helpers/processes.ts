import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll } from 'vitest';
import { services } from './services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts the real `cairn-train` worker entry point as a separate process on a queue, so a test can `kill -9` it;
 * whatever is still running is killed after the file's tests.
 */
export function trainWorkerProcesses(): (queue: string) => Promise<ChildProcess> {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  return async (queue) => {
    const s = services();
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/cairn-train.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env.PATH,
        CAIRN_HOME: s.home,
        CAIRN_LOG_LEVEL: 'warn',
        CAIRN_TRAIN_TASK_QUEUE: queue,
        CAIRN_METRICS_PORT: String(await freePort()),
        TEMPORAL_ADDRESS: s.temporalAddress,
        DATABASE_URL: s.databaseUrl,
        S3_ENDPOINT: s.s3.endpoint,
        S3_BUCKET: s.s3.bucket,
        S3_SECRET_KEY: s.s3.secretKey,
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
