import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** What every Cairn workflow answers to the `status` query. */
export interface WorkflowStatus {
  stage: string;
  /** 0..1 within the current stage, when known. */
  progress?: number;
  /** Results of the stages finished so far, by stage name (references, never data). */
  results: Record<string, unknown>;
  /** `runPipeline` only: every step of the plan, in plan order. */
  steps?: Record<string, StepStatus>;
}

/** One node of a `runPipeline` run, as the `status` query shows it. */
export interface StepStatus {
  step: string;
  queue: 'light' | 'heavy';
  state: 'pending' | 'running' | 'succeeded' | 'failed';
  cacheHit?: boolean;
  /** For a `foreach`: items in all, finished, running now. */
  items?: { total: number; done: number; running: number; cacheHits: number };
}

export const statusQuery = defineQuery<WorkflowStatus>('status');

/**
 * A human's decision on a release: it presents the token of the principal deciding (needs `approver:<model>`; a
 * rollback `release:<model>`), and the principal recorded is the token's. Histories from before tokens carry a `by`
 * name instead, which only their replay reads.
 */
export interface ApproveInput {
  token: string;
  comment?: string;
}
export interface RejectInput {
  token: string;
  reason?: string;
  comment?: string;
}
export interface RollbackInput {
  token: string;
  reason?: string;
}
export interface DecideInput {
  decision: 'approve' | 'reject';
  token: string;
  comment?: string;
}
export interface DecideResult {
  decision: 'approve' | 'reject';
  by: string;
  at: string;
}

export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[RejectInput]>('reject');
export const rollbackSignal = defineSignal<[RollbackInput]>('rollback');
/**
 * The synchronous form of approve/reject: its validator refuses a bad payload or a release not waiting; the token is
 * then checked by an activity, and a refusal fails the update (and is recorded as a decision not accepted).
 */
export const decideUpdate = defineUpdate<DecideResult, [DecideInput]>('decide');

/** Asks for a retraining; sent with signal-with-start so that requests while one runs join it. */
export const retrainRequestSignal = defineSignal<[{ reason: string }]>('retrainRequested');
