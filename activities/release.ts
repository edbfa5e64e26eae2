import { recordAudit } from '../lib/audit/log.js';
import { approversOf, authorize } from '../lib/auth/tokens.js';
import type { Role } from '../lib/auth/tokens.js';
import { readFeed } from '../lib/monitoring/feed.js';
import { monitoringPolicyProblems } from '../lib/monitoring/policy.js';
import { compareCanary } from '../lib/release/canary.js';
import type { CanaryComparison, CanaryLimits } from '../lib/release/canary.js';
import { changeDeployment, getDeployment, moves } from '../lib/release/deployments.js';
import type { Deployment } from '../lib/release/deployments.js';
import { checkFleet, listReplicas, stageVersion, unstageRelease } from '../lib/release/fleet.js';
import type { FleetCheck } from '../lib/release/fleet.js';
import { findVersion } from '../lib/registry/models.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';
import type { ModelPackage } from './package.js';

export interface ChecklistItem {
  item:
    | 'version-registered'
    | 'package-signed'
    | 'dataset-identified'
    | 'metrics-validated'
    | 'rollback-ready'
    | 'monitoring-active'
    | 'approvers';
  ok: boolean;
  detail: string;
}

export interface ReleaseRequest {
  /** `<workflow id>/<run id>` of the releaseModel run. */
  releaseId: string;
  model: string;
  version: number;
  environment: string;
  strategy: unknown;
  /** The release is the model's first in this environment: no rollback target is expected. */
  first: boolean;
  /** The principal of the token the release was requested with (absent in releases from before tokens). */
  requestedBy?: string;
}

export interface ChecklistResult {
  passed: boolean;
  items: ChecklistItem[];
  /** Principals that hold the approver role now; the workflow accepts decisions from them only. */
  approvers: string[];
  /** The version that serves now, if any: the rollback target. */
  current: number | null;
}

export type ReleaseStatus =
  'checking' | 'awaiting-approval' | 'rolling-out' | 'promoted' | 'rejected' | 'rolled-back' | 'refused';

export interface Decision {
  seq: number;
  decision: 'approve' | 'reject' | 'rollback' | 'timeout';
  by: string;
  comment?: string;
  accepted: boolean;
  /** Why a decision was not accepted. */
  refusal?: string;
  /** Workflow time, ISO. */
  at: string;
}

export function createReleaseActivities(deps: ActivityDeps) {
  const { db, store } = deps;

  /** Reads and verifies a package; the reason it cannot serve otherwise. */
  async function verifiedPackage(digest: string): Promise<{ pkg?: ModelPackage; problem?: string }> {
    try {
      const pkg = await store.getJson<ModelPackage>(digest);
      return pkg.format === 'cairn.model-package/v1'
        ? { pkg }
        : { problem: `package ${digest} has format ${pkg.format}` };
    } catch (err) {
      return { problem: `package ${digest}: ${(err as Error).message}` };
    }
  }

  return {
    /** The stable version serving a model in an environment, or null before its first release. */
    async servingVersion(model: string, environment: string): Promise<number | null> {
      return (await getDeployment(db, model, environment))?.stableVersion ?? null;
    },

    /**
     * Checks the token a release request, a decision or a monitor stop presented: the principal it belongs to, if it
     * is live and holds `role` (and, with `requester`, is not the principal who requested the release, unless
     * `release.selfApproval`), else why not. `audit` writes a refusal to the audit log under `subject` (decisions are
     * audited with the release's record).
     */
    async authorizeRelease(a: {
      /** What is acted on: the release id, or the monitor id. */
      subject: string;
      token: string | undefined;
      role: Role;
      action: string;
      requester?: string;
      /** true: audit a refusal here; 'always': the accepted request too (where no table records it). */
      audit?: boolean | 'always';
    }): Promise<{ principal?: string; refusal?: string }> {
      const result = await authorize(db, a.token, a.role);
      let verdict: { principal?: string; refusal?: string };
      if ('refusal' in result) verdict = result;
      else {
        const { principal } = result.principal;
        verdict =
          a.requester === principal && !deps.selfApproval
            ? {
                principal,
                refusal: `${principal} requested this release and may not decide it (release.selfApproval is off)`,
              }
            : { principal };
      }
      if ((verdict.refusal && a.audit) || a.audit === 'always')
        await recordAudit(db, {
          actor: verdict.principal ?? 'unknown token',
          action: verdict.refusal ? `${a.action}.refused` : a.action,
          subject: a.subject,
          details: { role: a.role, ...(verdict.refusal ? { refusal: verdict.refusal } : {}) },
        });
      return verdict;
    },

    /** Records the release (idempotent by workflow id). */
    async startRelease(r: ReleaseRequest): Promise<void> {
      await db
        .query(
          `INSERT INTO cairn.releases (id, model, version, environment, strategy, status, requested_by)
           VALUES ($1, $2, $3, $4, $5, 'checking', $6) ON CONFLICT (id) DO NOTHING`,
          [r.releaseId, r.model, r.version, r.environment, JSON.stringify(r.strategy), r.requestedBy ?? null]
        )
        .catch((err: { code?: string; message: string }) => {
          // 23503: the model version is not registered; the checklist says so, the release row cannot exist.
          if (err.code !== '23503') throw err;
        });
    },

    /**
     * The pre-deploy checklist: version tagged (registered, package verifies), its package signed by a trusted key
     * that is not revoked, dataset identified (its snapshot
     * manifest exists), metrics validated (gate passed), rollback ready (the serving version verifies, or the release
     * is marked first), monitoring active (the pipeline's policy is valid for this model), and someone who may
     * approve. Every item is checked and reported, not only the first failure.
     */
    async releaseChecklist(r: ReleaseRequest): Promise<ChecklistResult> {
      return failFast(async () => {
        const items: ChecklistItem[] = [];
        const v = await findVersion(db, { model: r.model, version: r.version });
        let pkg: ModelPackage | undefined;
        if (!v) {
          items.push({ item: 'version-registered', ok: false, detail: `${r.model}@${r.version} is not registered` });
        } else {
          const verified = await verifiedPackage(v.packageDigest);
          pkg = verified.pkg;
          items.push({
            item: 'version-registered',
            ok: !!pkg,
            detail: pkg ? `${r.model}@${r.version}, package ${v.packageDigest} verifies` : verified.problem!,
          });
          const unsigned = deps.trust.problem(v);
          items.push({
            item: 'package-signed',
            ok: !unsigned,
            detail: unsigned ?? `signed by ${v.signature!.signer} (key ${v.signature!.keyId}), trusted here`,
          });
        }
        if (v) {
          const manifest = String(v.lineage.manifest ?? '');
          const found = manifest ? await store.stat(manifest).catch(() => undefined) : undefined;
          items.push({
            item: 'dataset-identified',
            ok: !!found,
            detail: found
              ? `dataset ${v.datasetDigest} (manifest ${manifest})`
              : `dataset snapshot manifest ${manifest || '(none recorded)'} is not in the store`,
          });
          const gate = v.gate as { passed?: boolean; reasons?: string[] };
          items.push({
            item: 'metrics-validated',
            ok: gate.passed === true,
            detail: gate.passed
              ? `gate passed (${Object.entries(v.metrics)
                  .map(([k, x]) => `${k} ${x.toFixed(4)}`)
                  .join(', ')})`
              : `gate failed: ${(gate.reasons ?? []).join('; ') || 'no gate result'}`,
          });
        } else {
          items.push({ item: 'dataset-identified', ok: false, detail: 'no registered version to trace' });
          items.push({ item: 'metrics-validated', ok: false, detail: 'no registered version to check' });
        }

        const current = await getDeployment(db, r.model, r.environment);
        items.push(await rollbackItem(current, r));

        const model = await db.query<{ pipeline: string }>('SELECT pipeline FROM cairn.models WHERE name = $1', [
          r.model,
        ]);
        const pipelineName = model.rows[0]?.pipeline;
        if (!pipelineName || !pkg) {
          items.push({
            item: 'monitoring-active',
            ok: false,
            detail: 'no package to check a monitoring policy against',
          });
        } else {
          const pipeline = resolvePipeline(pipelineName);
          const inputs = pkg.contract.filter((c) => c.column !== pkg.target).map((c) => c.column);
          const problems = monitoringPolicyProblems(pipeline.monitoring, inputs, Object.keys(pkg.metrics));
          items.push({
            item: 'monitoring-active',
            ok: problems.length === 0,
            detail: problems.length
              ? problems.join('; ')
              : `pipeline ${pipelineName} defines a valid monitoring policy`,
          });
        }

        const approvers = await approversOf(db, r.model);
        items.push({
          item: 'approvers',
          ok: approvers.length > 0,
          detail: approvers.length
            ? `approvers: ${approvers.join(', ')}`
            : `no principal may approve ${r.model} (cairn tokens create --principal <name> --role approver:${r.model})`,
        });

        const passed = items.every((i) => i.ok);
        await db.query(
          `UPDATE cairn.releases SET checklist = $2, status = CASE WHEN $3 THEN 'awaiting-approval' ELSE 'refused' END,
             outcome = CASE WHEN $3 THEN outcome ELSE 'checklist failed' END, ended_at = CASE WHEN $3 THEN NULL ELSE now() END
           WHERE id = $1 AND status = 'checking'`,
          [r.releaseId, JSON.stringify(items), passed]
        );
        return { passed, items, approvers, current: current?.stableVersion ?? null };
      });

      async function rollbackItem(current: Deployment | undefined, r: ReleaseRequest): Promise<ChecklistItem> {
        if (!current) {
          return r.first
            ? {
                item: 'rollback-ready',
                ok: true,
                detail: `first release of ${r.model} to ${r.environment}: nothing to roll back to`,
              }
            : {
                item: 'rollback-ready',
                ok: false,
                detail: `nothing serves ${r.model} in ${r.environment}; mark the release first (--first) if it is`,
              };
        }
        if (current.stableVersion === r.version) {
          return {
            item: 'rollback-ready',
            ok: false,
            detail: `${r.model}@${r.version} already serves in ${r.environment}`,
          };
        }
        const stable = await findVersion(db, { model: r.model, version: current.stableVersion });
        // The rollback target must be one that could be released now: registered, signed by a trusted key, intact.
        const problem = !stable
          ? 'not registered'
          : (deps.trust.problem(stable) ?? (await verifiedPackage(stable.packageDigest)).problem);
        return problem === undefined
          ? { item: 'rollback-ready', ok: true, detail: `rollback target ${r.model}@${current.stableVersion} verifies` }
          : {
              item: 'rollback-ready',
              ok: false,
              detail: `rollback target ${r.model}@${current.stableVersion}: ${problem}`,
            };
      }
    },

    /** Records decisions (idempotent by sequence number) and the release's status. */
    async recordRelease(
      releaseId: string,
      status: ReleaseStatus,
      decisions: Decision[],
      outcome?: string
    ): Promise<void> {
      for (const d of decisions) {
        await db.query(
          `INSERT INTO cairn.approvals (release_id, seq, decision, by, comment, accepted, at, refusal)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (release_id, seq) DO NOTHING`,
          [releaseId, d.seq, d.decision, d.by, d.comment ?? null, d.accepted, d.at, d.refusal ?? null]
        );
      }
      const final = ['promoted', 'rejected', 'rolled-back', 'refused'].includes(status);
      await db.query(
        `UPDATE cairn.releases SET status = $2, outcome = COALESCE($3, outcome), ended_at = CASE WHEN $4 THEN now() ELSE NULL END
         WHERE id = $1`,
        [releaseId, status, outcome ?? null, final]
      );
    },

    /**
     * Asks every replica of the environment to load the version before any traffic moves to it (`staged` true), or
     * withdraws the request once the release ends. Idempotent.
     */
    async stageRelease(r: ReleaseRequest, staged: boolean): Promise<void> {
      if (staged)
        await stageVersion(db, {
          releaseId: r.releaseId,
          model: r.model,
          environment: r.environment,
          version: r.version,
        });
      else await unstageRelease(db, r.releaseId);
    },

    /**
     * Where the live replicas of the environment (heartbeat within `liveWithinSeconds`) stand: which hold the
     * version loaded (and, with `revision`, serve that deployment revision), which are still at it, which failed.
     */
    async fleetStatus(r: ReleaseRequest, revision: number | undefined, liveWithinSeconds: number): Promise<FleetCheck> {
      const want = { model: r.model, version: r.version, ...(revision === undefined ? {} : { revision }) };
      return checkFleet(await listReplicas(db, r.environment), want, liveWithinSeconds);
    },

    /** Moves traffic: a canary share, a promotion, back to the stable version, or back to the previous one. Idempotent. */
    async deploy(
      r: ReleaseRequest,
      step: { kind: 'canary'; weight: number } | { kind: 'promote' | 'abort-canary' } | { kind: 'revert'; to: number },
      by: string,
      reason: string
    ): Promise<{ revision: number; at: string }> {
      return failFast(async () => {
        const next =
          step.kind === 'canary'
            ? moves.canary(r.version, step.weight, r.releaseId)
            : step.kind === 'promote'
              ? moves.promote(r.version, r.releaseId)
              : step.kind === 'revert'
                ? moves.revert(r.version, step.to)
                : moves.abortCanary();
        const action = step.kind === 'revert' ? 'rollback' : step.kind;
        const d = await changeDeployment(db, r.model, r.environment, next, { action, by, reason });
        return { revision: d.revision, at: d.updatedAt.toISOString() };
      });
    },

    /** Compares the canary with the stable version over the serving feed of one observation window. */
    async compareCanary(
      r: ReleaseRequest,
      stableVersion: number,
      from: string,
      to: string,
      limits: CanaryLimits
    ): Promise<CanaryComparison> {
      const q = { model: r.model, environment: r.environment, from: new Date(from), to: new Date(to) };
      const [stable, canary] = await Promise.all([
        readFeed(db, { ...q, version: stableVersion }),
        readFeed(db, { ...q, version: r.version }),
      ]);
      return compareCanary(stable, canary, limits);
    },
  };
}
