// Aliases of versioned things that are released by alias rather than by deployment: prompts and vector indexes.
// An alias serves a version, may carry a canary (a second version for a share of requests, by sticky key), and
// remembers the version it served before its last move (the rollback target). Every move is audited.
import { recordAudit } from '../audit/log.js';
import type { Pool, Queryable } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';

/** What is aliased: its alias and release tables, the column naming it, and its audit prefix. */
export interface AliasedKind {
  kind: 'prompt' | 'index';
  aliases: 'cairn.prompt_aliases' | 'cairn.vector_index_aliases';
  releases: 'cairn.prompt_releases' | 'cairn.index_releases';
  column: 'prompt' | 'name';
  audit: 'prompt' | 'vector-index';
}

export const PROMPT_ALIASES: AliasedKind = {
  kind: 'prompt',
  aliases: 'cairn.prompt_aliases',
  releases: 'cairn.prompt_releases',
  column: 'prompt',
  audit: 'prompt',
};
export const INDEX_ALIASES: AliasedKind = {
  kind: 'index',
  aliases: 'cairn.vector_index_aliases',
  releases: 'cairn.index_releases',
  column: 'name',
  audit: 'vector-index',
};
export const ALIASED = { prompt: PROMPT_ALIASES, index: INDEX_ALIASES } as const;

/** In an alias's upsert: the version it served before, when the move changes it. */
const keepPrevious = (k: AliasedKind) => `previous_version = CASE WHEN ${k.aliases}.version <> EXCLUDED.version
  THEN ${k.aliases}.version ELSE ${k.aliases}.previous_version END`;

/** Points `alias` of `name` at `version` (checked to exist by the caller); audited with who and from what. */
export async function setAlias(
  db: Pool,
  k: AliasedKind,
  name: string,
  alias: string,
  version: number,
  by: string,
  reason?: string
): Promise<{ previous: number | null }> {
  return withTransaction(db, async (client) => {
    const previous = await client.query<{ version: number }>(
      `SELECT version FROM ${k.aliases} WHERE ${k.column} = $1 AND alias = $2 FOR UPDATE`,
      [name, alias]
    );
    await client.query(
      `INSERT INTO ${k.aliases} (${k.column}, alias, version, set_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (${k.column}, alias) DO UPDATE SET version = EXCLUDED.version, ${keepPrevious(k)},
         set_by = EXCLUDED.set_by, set_at = now()`,
      [name, alias, version, by]
    );
    const before = previous.rows[0]?.version ?? null;
    await recordAudit(client, {
      actor: by,
      action: `${k.audit}.alias.moved`,
      subject: `${name}@${alias}`,
      details: { version, previous: before, ...(reason ? { reason } : {}) },
    });
    return { previous: before };
  });
}

export interface AliasState {
  version: number;
  previous: number | null;
  canary: number | null;
  weight: number;
  releaseId: string | null;
}

/** What an alias holds: the version it serves, the one before its last move, and a canary if one runs. */
export async function aliasState(
  db: Queryable,
  k: AliasedKind,
  name: string,
  alias: string
): Promise<AliasState | undefined> {
  const { rows } = await db.query<AliasState>(
    `SELECT version, previous_version AS previous, canary_version AS canary, canary_weight AS weight,
       release_id AS "releaseId"
     FROM ${k.aliases} WHERE ${k.column} = $1 AND alias = $2`,
    [name, alias]
  );
  return rows[0];
}

/** A change of what an alias serves, made by a release. */
export type AliasMove =
  { kind: 'canary'; version: number; weight: number } | { kind: 'promote'; version: number } | { kind: 'abort-canary' };

/**
 * Moves an alias as a release says (a canary share, a promotion, the canary's end) and audits it; idempotent (a
 * retried activity moves it to the same place). A promotion ends any canary.
 */
export async function moveAlias(
  db: Pool,
  k: AliasedKind,
  name: string,
  alias: string,
  move: AliasMove,
  by: string,
  releaseId: string
): Promise<void> {
  await withTransaction(db, async (client) => {
    if (move.kind === 'promote')
      await client.query(
        `INSERT INTO ${k.aliases} (${k.column}, alias, version, set_by, release_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (${k.column}, alias) DO UPDATE SET version = EXCLUDED.version, canary_version = NULL,
           canary_weight = 0, ${keepPrevious(k)},
           set_by = EXCLUDED.set_by, release_id = EXCLUDED.release_id, set_at = now()`,
        [name, alias, move.version, by, releaseId]
      );
    else
      await client.query(
        `UPDATE ${k.aliases} SET canary_version = $3, canary_weight = $4, set_by = $5, release_id = $6,
           set_at = now() WHERE ${k.column} = $1 AND alias = $2`,
        move.kind === 'canary'
          ? [name, alias, move.version, move.weight, by, releaseId]
          : [name, alias, null, 0, by, releaseId]
      );
    await recordAudit(client, {
      actor: by,
      action: `${k.audit}.alias.${move.kind}`,
      subject: `${name}@${alias}`,
      details: { ...move, release: releaseId },
    });
  });
}
