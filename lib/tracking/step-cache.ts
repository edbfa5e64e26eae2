import { sha256 } from '../artifacts/digest.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { ArtifactIntegrityError, ArtifactNotFoundError } from '../artifacts/index.js';
import type { Pool } from '../db/pool.js';
import { canonicalJson } from '../ml/canonical-json.js';

/**
 * The cache key of a stage: the digest of the stage, its implementation version (bump it when the stage's code
 * changes what it produces), the digests of its inputs and the config it reads. Never names or paths.
 */
export function stepKey(stage: string, implementation: string, inputs: unknown): string {
  return sha256(canonicalJson({ stage, implementation, inputs }));
}

async function verifies(store: ArtifactStore, digest: string): Promise<boolean> {
  try {
    for await (const _ of await store.get(digest));
    return true;
  } catch (err) {
    if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError) return false;
    throw err;
  }
}

/**
 * A cached stage result, if one exists and every artifact it names is still in the store and verifies; a stale
 * entry (an artifact deleted or corrupted) is dropped so the stage recomputes.
 */
export async function lookupStep<T>(db: Pool, store: ArtifactStore, key: string): Promise<T | undefined> {
  const { rows } = await db.query<{ result: T; artifacts: string[] }>(
    'SELECT result, artifacts FROM cairn.step_cache WHERE key = $1',
    [key]
  );
  const hit = rows[0];
  if (!hit) return undefined;
  for (const digest of hit.artifacts) {
    if (!(await verifies(store, digest))) {
      await db.query('DELETE FROM cairn.step_cache WHERE key = $1', [key]);
      return undefined;
    }
  }
  return hit.result;
}

export async function saveStep(
  db: Pool,
  key: string,
  stage: string,
  result: unknown,
  artifacts: string[],
  runId: string
): Promise<void> {
  await db.query(
    `INSERT INTO cairn.step_cache (key, stage, result, artifacts, run_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result, artifacts = EXCLUDED.artifacts, run_id = EXCLUDED.run_id, created_at = now()`,
    [key, stage, JSON.stringify(result), artifacts, runId]
  );
}
