import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import { withTransaction } from '../lib/db/transaction.js';
import type { ActivityDeps } from './deps.js';

export interface HelloResult {
  greeting: string;
  artifact: ArtifactRef;
  row: { table: 'cairn.greetings'; id: number };
}

export function createHelloActivities({ db, store }: ActivityDeps) {
  return {
    /**
     * Writes a greeting document to the artifact store and records it in PostgreSQL. Idempotent: the document
     * is a function of the execution, so a retry stores the same digest and finds the same row.
     */
    async writeGreeting({ name }: { name: string }): Promise<HelloResult> {
      const execution = Context.current().info.workflowExecution;
      if (!execution) throw ApplicationFailure.nonRetryable('writeGreeting must run inside a workflow', 'NoWorkflow');
      const { workflowId, runId } = execution;
      const greeting = `Hello, ${name}!`;
      const document = JSON.stringify({ kind: 'cairn.greeting/v1', greeting, name, workflowId, runId });
      const artifact = await store.putBytes(document, { mediaType: 'application/json' });
      const id = await withTransaction(db, async (tx) => {
        await tx.query(
          `INSERT INTO cairn.artifacts (digest, bytes, media_type, uri) VALUES ($1, $2, 'application/json', $3)
           ON CONFLICT (digest) DO NOTHING`,
          [artifact.digest, artifact.bytes, artifact.uri]
        );
        const { rows } = await tx.query<{ id: number }>(
          `INSERT INTO cairn.greetings (workflow_id, run_id, name, artifact_digest) VALUES ($1, $2, $3, $4)
           ON CONFLICT (workflow_id, run_id) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
          [workflowId, runId, name, artifact.digest]
        );
        return rows[0]!.id;
      });
      Context.current().log.info('greeting written', { digest: artifact.digest, row: id });
      return { greeting, artifact, row: { table: 'cairn.greetings', id } };
    },
  };
}
