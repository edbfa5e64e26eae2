import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Pool } from '../db/pool.js';
import { finishRun } from './runs.js';
import type { RunEnd } from './runs.js';

/**
 * Closes run records that say `running` although their workflow has ended without running its own bookkeeping:
 * terminated (`temporal workflow terminate`), timed out, or gone from the server. Returns the runs it closed.
 */
export async function reconcileRuns(client: Client, db: Pool): Promise<{ id: string; end: RunEnd }[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM cairn.runs WHERE status = 'running' ORDER BY started_at`
  );
  const closed: { id: string; end: RunEnd }[] = [];
  for (const { id } of rows) {
    let end: RunEnd | undefined;
    try {
      const { status } = await client.workflow.getHandle(id).describe();
      const ends: Record<string, RunEnd> = {
        TERMINATED: { status: 'failed', error: 'the workflow was terminated' },
        TIMED_OUT: { status: 'failed', error: 'the workflow timed out' },
        CANCELLED: { status: 'cancelled', error: 'the run was cancelled' },
        FAILED: { status: 'failed', error: 'the workflow failed before closing its run record' },
        COMPLETED: { status: 'failed', error: 'the workflow completed without closing its run record' },
      };
      end = ends[status.name];
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      end = { status: 'failed', error: 'the workflow no longer exists on the Temporal server' };
    }
    if (end) {
      await finishRun(db, id, end);
      closed.push({ id, end });
    }
  }
  return closed;
}
