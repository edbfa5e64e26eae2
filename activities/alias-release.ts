import { approversOf } from '../lib/auth/tokens.js';
import { resolveVectorIndex, VectorIndexError } from '../lib/embeddings/registry.js';
import { listEvaluations, resolvePrompt, UnknownPromptError } from '../lib/prompts/registry.js';
import { ALIASED, aliasState, moveAlias } from '../lib/release/aliases.js';
import type { AliasMove } from '../lib/release/aliases.js';
import type { ActivityDeps } from './deps.js';
import type { Decision } from './release.js';

/** A release of a prompt or index version to an alias (releasePrompt, releaseIndex). */
export interface AliasReleaseRequest {
  kind: 'prompt' | 'index';
  releaseId: string;
  name: string;
  version: number;
  alias: string;
  strategy: unknown;
  requestedBy?: string;
}

export interface AliasChecklistItem {
  item: 'version-registered' | 'evaluation-passed' | 'gate-passed' | 'rollback-ready' | 'approvers';
  ok: boolean;
  detail: string;
}

export interface AliasChecklist {
  passed: boolean;
  items: AliasChecklistItem[];
  approvers: string[];
  /** The version the alias serves now: the rollback target (null: the alias's first release). */
  current: number | null;
}

/** The version's own checks: a prompt's evaluation gated against what the alias serves; an index's recall gate. */
async function qualityItems(deps: ActivityDeps, r: AliasReleaseRequest, current: number | null) {
  if (r.kind === 'index') {
    const v = await resolveVectorIndex(deps.db, `${r.name}@${r.version}`);
    const gate = Object.entries(v.metrics)
      .map(([m, x]) => `${m} ${m.startsWith('recall') ? x.toFixed(4) : `${x.toFixed(2)} ms`}`)
      .join(', ');
    return [
      { item: 'version-registered', ok: true, detail: `${r.name}@${r.version} ${v.digest} (run ${v.runId})` },
      { item: 'gate-passed', ok: v.passed, detail: `${v.passed ? 'passed' : 'FAILED'}: ${gate}` },
    ] satisfies AliasChecklistItem[];
  }
  const version = await resolvePrompt(deps.db, { prompt: r.name, version: r.version });
  const evaluation = (await listEvaluations(deps.db, r.name)).find(
    (e) => e.version === r.version && e.gate?.passed && (e.gate.baselineVersion ?? null) === current
  );
  const against = current === null ? 'no baseline (the alias serves nothing yet)' : `${r.alias} v${current}`;
  return [
    { item: 'version-registered', ok: true, detail: `${r.name}@${r.version} ${version.digest} by ${version.author}` },
    {
      item: 'evaluation-passed',
      ok: evaluation !== undefined,
      detail: evaluation
        ? `evaluation ${evaluation.id}: ${evaluation.gate!.metric} ${evaluation.gate!.candidate.toFixed(4)} against ${against}`
        : `no passing evaluation of v${r.version} against ${against}: cairn prompts evaluate ${r.name}@${r.version} --against ${r.alias}`,
    },
  ] satisfies AliasChecklistItem[];
}

export function createAliasReleaseActivities(deps: ActivityDeps) {
  const { db } = deps;
  return {
    /** Records a release (idempotent by its id). */
    async startAliasRelease(r: AliasReleaseRequest): Promise<void> {
      const k = ALIASED[r.kind];
      await db.query(
        `INSERT INTO ${k.releases} (id, ${k.column}, version, alias, strategy, status, requested_by)
         VALUES ($1, $2, $3, $4, $5, 'checking', $6) ON CONFLICT (id) DO NOTHING`,
        [r.releaseId, r.name, r.version, r.alias, JSON.stringify(r.strategy), r.requestedBy ?? null]
      );
    },

    /**
     * Before a version may serve an alias: it is registered, it passed its quality gate (a prompt: an evaluation
     * gated against the version the alias serves now; an index: recall@k against exact search), the version the alias
     * serves stays the rollback target, and someone other than the requester may approve it.
     */
    async aliasReleaseChecklist(r: AliasReleaseRequest): Promise<AliasChecklist> {
      const k = ALIASED[r.kind];
      const current = (await aliasState(db, k, r.name, r.alias))?.version ?? null;
      let quality: AliasChecklistItem[];
      try {
        quality = await qualityItems(deps, r, current);
      } catch (err) {
        if (!(err instanceof UnknownPromptError || err instanceof VectorIndexError)) throw err;
        quality = [{ item: 'version-registered', ok: false, detail: err.message }];
      }
      const approvers = (await approversOf(db, r.name)).filter((p) => deps.selfApproval || p !== r.requestedBy);
      const items: AliasChecklistItem[] = [
        ...quality,
        {
          item: 'rollback-ready',
          ok: current !== r.version,
          detail:
            current === r.version
              ? `${r.alias} serves v${r.version} already`
              : current === null
                ? `first release of ${r.alias}: nothing serves it before`
                : `v${current} stays the rollback target`,
        },
        {
          item: 'approvers',
          ok: approvers.length > 0,
          detail: approvers.length
            ? `can approve: ${approvers.join(', ')}`
            : `nobody but the requester holds approver:${r.name}`,
        },
      ];
      const passed = items.every((i) => i.ok);
      await db.query(`UPDATE ${k.releases} SET checklist = $2, updated_at = now() WHERE id = $1`, [
        r.releaseId,
        JSON.stringify(items),
      ]);
      return { passed, items, approvers, current };
    },

    async recordAliasRelease(
      kind: AliasReleaseRequest['kind'],
      id: string,
      status: string,
      decisions: Decision[],
      outcome?: string
    ): Promise<void> {
      await db.query(
        `UPDATE ${ALIASED[kind].releases} SET status = $2, decisions = $3, outcome = COALESCE($4, outcome),
           updated_at = now() WHERE id = $1`,
        [id, status, JSON.stringify(decisions), outcome ?? null]
      );
    },

    /** Moves the release's alias (a canary share, the promotion, the canary's end). */
    async moveAliasRelease(r: AliasReleaseRequest, move: AliasMove, by: string): Promise<void> {
      await moveAlias(db, ALIASED[r.kind], r.name, r.alias, move, by, r.releaseId);
    },
  };
}
