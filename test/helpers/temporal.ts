import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import type { ActivityDeps } from '../../activities/index.js';
import { services } from './services.js';

/** A client on the test Temporal server; close `client.connection` when done. */
export async function testClient(): Promise<Client> {
  const s = services();
  const connection = await Connection.connect({ address: s.temporalAddress });
  return new Client({ connection, namespace: s.namespace });
}

/**
 * Runs a real worker (the pre-built workflow bundle, real activities over `deps`) on a fresh task queue
 * while `fn` runs, then shuts it down.
 */
export async function withWorker<T>(deps: ActivityDeps, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const s = services();
  const connection = await NativeConnection.connect({ address: s.temporalAddress });
  try {
    const taskQueue = `test-${randomUUID()}`;
    const worker = await Worker.create({
      connection,
      namespace: s.namespace,
      taskQueue,
      workflowBundle: { codePath: s.workflowBundlePath },
      activities: createActivities(deps),
    });
    return await worker.runUntil(fn(taskQueue));
  } finally {
    await connection.close();
  }
}
