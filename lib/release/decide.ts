import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { decideUpdate } from '../../workflows/messages.js';
import type { DecideInput, DecideResult } from '../../workflows/messages.js';

export type DecisionOutcome =
  | { ok: true; result: DecideResult }
  /** `refused`: the token or its role (DecisionRefused); otherwise a malformed decision or a release not waiting. */
  | { ok: false; refused: boolean; message: string };

/**
 * Approves or rejects a release waiting for a decision: the `decide` update of its releaseModel workflow, which
 * checks the token (`cairn approve|reject` and the console's approval form both come here).
 */
export async function decideRelease(client: Client, workflowId: string, input: DecideInput): Promise<DecisionOutcome> {
  try {
    const result = await client.workflow.getHandle(workflowId).executeUpdate(decideUpdate, { args: [input] });
    return { ok: true, result };
  } catch (err) {
    // Ended (approved, rejected, timed out or failed) or never started: nothing waits for a decision.
    if (err instanceof WorkflowNotFoundError)
      return { ok: false, refused: false, message: `${workflowId} is not waiting for a decision: ${err.message}` };
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    return {
      ok: false,
      refused: (err.cause as { type?: string } | undefined)?.type === 'DecisionRefused',
      message: err.cause?.message ?? err.message,
    };
  }
}
