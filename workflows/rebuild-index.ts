import { executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { parseInput } from './input.js';
import { retrainRequestSignal, statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { runPipeline } from './run-pipeline.js';
import type { RunPipelineResult } from './run-pipeline.js';

export const rebuildIndexInput = z.strictObject({
  index: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected an index name'),
  /** The pipeline that built the index, and its config (the served version's run). */
  pipeline: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
  reason: z.string().min(1).default('manual'),
});
export type RebuildIndexInput = z.input<typeof rebuildIndexInput>;

/**
 * Rebuilds an index on its corpus as it is now (the pipeline's steps read their sources again; unchanged inputs come
 * from the step cache): a new version when the corpus or the model changed, registered with its gate. Never a release:
 * that stays a person's decision (`cairn indexes release`). Alerts reach it by signal-with-start on one workflow id per
 * index, so a burst of them while it runs gives one rebuild.
 */
export async function rebuildIndex(raw: RebuildIndexInput): Promise<{ reasons: string[]; run: RunPipelineResult }> {
  const input = parseInput('rebuildIndex', rebuildIndexInput, raw);
  const reasons = [input.reason];
  const status: WorkflowStatus = { stage: 'rebuilding', results: { reasons } };
  setHandler(statusQuery, () => status);
  setHandler(retrainRequestSignal, ({ reason }) => {
    if (!reasons.includes(String(reason))) reasons.push(String(reason));
  });
  const { workflowId, runId } = workflowInfo();
  const run = await executeChild(runPipeline, {
    workflowId: `${workflowId}-run-${runId.slice(0, 8)}`,
    args: [{ pipeline: input.pipeline, config: input.config, trigger: 'drift', requestedBy: 'monitor' }],
  });
  status.stage = 'done';
  status.results.run = run.outputs;
  return { reasons, run };
}
