import { defineQuery } from '@temporalio/workflow';

/** What every Cairn workflow answers to the `status` query. */
export interface WorkflowStatus {
  stage: string;
  /** 0..1 within the current stage, when known. */
  progress?: number;
  /** Results of the stages finished so far, by stage name (references, never data). */
  results: Record<string, unknown>;
}

export const statusQuery = defineQuery<WorkflowStatus>('status');
