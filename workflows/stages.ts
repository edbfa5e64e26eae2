import { upsertSearchAttributes } from '@temporalio/workflow';
import type { WorkflowStatus } from './messages.js';
import { CairnStage } from './search-attributes.js';

/**
 * The stage bookkeeping every Cairn workflow shares: the `status` query's stage and results, and the `CairnStage`
 * search attribute, kept current as each stage starts, finishes or fails.
 */
export class StageTracker {
  constructor(readonly status: WorkflowStatus) {}

  enter(stage: string): void {
    this.status.stage = stage;
    upsertSearchAttributes([{ key: CairnStage, value: stage }]);
  }

  /** Runs one stage: marks it current, records its result under its name, returns the result. */
  async run<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    this.enter(stage);
    const result = await fn();
    this.status.results[stage] = result;
    return result;
  }

  /** Marks the workflow failed at the current stage; rethrow the error after calling this. */
  fail(): void {
    this.status.results.failedAt = this.status.stage;
    this.enter('failed');
  }
}
