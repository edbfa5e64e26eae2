// Workflows of the orchestration benchmark (bench/orchestration.ts), bundled by it: the same no-op stages through
// Cairn's stage machinery and through a bare Temporal workflow. Deterministic workflow code, like workflows/.
import { proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { statusQuery } from '../../workflows/messages.js';
import type { WorkflowStatus } from '../../workflows/messages.js';
import { CairnPipeline, CairnStage, CairnTrigger } from '../../workflows/search-attributes.js';
import { StageTracker } from '../../workflows/stages.js';

export interface NoopActivities {
  noop(): Promise<void>;
}

// The same activity options for both workflows, those of trainingPipeline's light stages.
const { noop } = proxyActivities<NoopActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
});

/** `stages` no-op stages as trainingPipeline runs its stages: status query, search attributes, StageTracker.run. */
export async function cairnStages(stages: number): Promise<number> {
  const status: WorkflowStatus = { stage: 'prepare', results: {} };
  setHandler(statusQuery, () => status);
  const tracker = new StageTracker(status);
  upsertSearchAttributes([
    { key: CairnPipeline, value: 'bench-orchestration' },
    { key: CairnTrigger, value: 'bench' },
    { key: CairnStage, value: 'prepare' },
  ]);
  try {
    for (let i = 0; i < stages; i++) await tracker.run(`stage-${i}`, () => noop());
    tracker.enter('done');
  } catch (err) {
    tracker.fail();
    throw err;
  }
  return stages;
}

/** The peer: a plain Temporal workflow running the same no-op activities one after another. */
export async function bareStages(stages: number): Promise<number> {
  for (let i = 0; i < stages; i++) await noop();
  return stages;
}
