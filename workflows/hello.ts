import { proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { z } from 'zod';
import type { Activities } from '../activities/index.js';
import type { HelloResult } from '../activities/hello.js';
import { parseInput } from './input.js';
import { statusQuery } from './messages.js';
import type { WorkflowStatus } from './messages.js';
import { CairnStage } from './search-attributes.js';
import { boundedRetry } from './retry.js';

export const helloInput = z.strictObject({ name: z.string().trim().min(1).max(200) });
export type HelloInput = z.input<typeof helloInput>;

const { writeGreeting } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: boundedRetry({ maximumAttempts: 10 }),
});

/** Proof of wiring: one activity writes an artifact and a PostgreSQL row and returns their references. */
export async function hello(input: HelloInput): Promise<HelloResult> {
  const status: WorkflowStatus = { stage: 'validate', results: {} };
  setHandler(statusQuery, () => status);
  const { name } = parseInput('hello', helloInput, input);

  status.stage = 'write';
  upsertSearchAttributes([{ key: CairnStage, value: 'write' }]);
  const result = await writeGreeting({ name });
  status.results.write = result;

  status.stage = 'done';
  upsertSearchAttributes([{ key: CairnStage, value: 'done' }]);
  return result;
}
