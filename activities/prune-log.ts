import { ArtifactNotFoundError } from '../lib/artifacts/index.js';
import { withTransaction } from '../lib/db/transaction.js';
import { retentionMs } from '../lib/monitoring/log-policy.js';
import { findVersion } from '../lib/registry/models.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import type { ActivityDeps } from './deps.js';

export function createPruneActivities(deps: ActivityDeps) {
  const { db, store } = deps;
  return {
    /**
     * Deletes logged predictions older than their model's retention (its package's `predictionLog.retention`, else
     * 30 days), with the feedback that refers to them. Idempotent: a retry deletes what is old by then. Versions
     * whose package could not be read are named in `unreadable`.
     */
    async prunePredictionLog(): Promise<{ versions: number; deleted: number; unreadable: string[] }> {
      const { rows } = await db.query<{ model: string; version: number }>(
        'SELECT DISTINCT model, version FROM cairn.prediction_log'
      );
      let deleted = 0;
      const unreadable: string[] = [];
      for (const { model, version } of rows) {
        const v = await findVersion(db, { model, version });
        // A package gone from the store (or a version never registered) has no policy to read: its rows get the
        // default retention rather than staying forever; a store that does not answer fails the run (retried).
        const pkg = v
          ? await store.getJson<ServablePackage>(v.packageDigest).catch((err: unknown) => {
              if (!(err instanceof ArtifactNotFoundError)) throw err;
              unreadable.push(`${model}@${version}`);
              return undefined;
            })
          : undefined;
        const keep = [model, version, retentionMs(pkg?.predictionLog)];
        deleted += await withTransaction(db, async (client) => {
          await client.query(
            `DELETE FROM cairn.feedback f USING cairn.prediction_log p
             WHERE f.prediction_id = p.id AND p.model = $1 AND p.version = $2 AND p.at < now() - $3 * interval '1 millisecond'`,
            keep
          );
          const gone = await client.query(
            `DELETE FROM cairn.prediction_log WHERE model = $1 AND version = $2 AND at < now() - $3 * interval '1 millisecond'`,
            keep
          );
          return gone.rowCount ?? 0;
        });
      }
      return { versions: rows.length, deleted, unreadable };
    },
  };
}
