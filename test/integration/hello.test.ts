import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { hello } from '../../workflows/hello.js';
import { statusQuery } from '../../workflows/messages.js';
import { CairnStage } from '../../workflows/search-attributes.js';

import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

describe('hello workflow through Temporal, PostgreSQL and S3', () => {
  it('writes an artifact and a row and returns references to both', async () => {
    const workflowId = `hello-${randomUUID()}`;
    const { result, status, stage } = await withWorker(deps, async (taskQueue) => {
      const handle = await ctx.client.workflow.start(hello, { taskQueue, workflowId, args: [{ name: 'Ada' }] });
      const result = await handle.result();
      const description = await handle.describe();
      return {
        result,
        status: await handle.query(statusQuery),
        stage: description.typedSearchAttributes.get(CairnStage),
      };
    });

    expect(result.greeting).toBe('Hello, Ada!');
    const document = await deps.store.getJson(result.artifact.digest);
    expect(document).toMatchObject({ kind: 'cairn.greeting/v1', name: 'Ada', greeting: 'Hello, Ada!', workflowId });

    const { rows } = await deps.db.query(
      `SELECT g.name, g.workflow_id, a.bytes, a.uri FROM cairn.greetings g JOIN cairn.artifacts a ON a.digest = g.artifact_digest
       WHERE g.id = $1 AND g.artifact_digest = $2`,
      [result.row.id, result.artifact.digest]
    );
    expect(rows).toEqual([
      { name: 'Ada', workflow_id: workflowId, bytes: result.artifact.bytes, uri: result.artifact.uri },
    ]);

    expect(status.stage).toBe('done');
    expect(status.results.write).toEqual(result);
    expect(stage).toBe('done');
  });

  it('fails at once, without retrying, on an input that does not fit, naming the field', async () => {
    const err = await withWorker(deps, (taskQueue) =>
      ctx.client.workflow.execute('hello', { taskQueue, workflowId: `hello-${randomUUID()}`, args: [{ nmae: 'x' }] })
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('InvalidWorkflowInput');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain('name: ');
    expect(cause.message).toContain('nmae');
  });
});
