import { ConfigError } from '../lib/config/index.js';
import { registerVersion, setAlias } from '../lib/registry/models.js';
import { finishRun } from '../lib/tracking/runs.js';
import type { RunEnd } from '../lib/tracking/runs.js';
import type { ActivityDeps } from './deps.js';
import type {
  DatasetRef,
  EvaluationResult,
  PackageResult,
  RegisterResult,
  RunPlan,
} from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

export interface RegisterInput {
  plan: RunPlan;
  dataset: DatasetRef;
  packaged: PackageResult;
  evaluation: EvaluationResult;
  requestedBy?: string;
}

function championReason({ gate, metrics }: EvaluationResult): string {
  if (!gate.champion)
    return `first version to pass the gate (${Object.entries(metrics)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(', ')})`;
  const c = gate.champion;
  return `${c.metric} ${c.candidate.toFixed(4)} vs champion v${c.version} ${c.champion.toFixed(4)} on the same held-out rows`;
}

export function createRegisterActivities(deps: ActivityDeps) {
  const { db } = deps;
  return {
    /**
     * Registers the package as the next version of the model (named after the pipeline) and, if it passed its gate
     * (absolute bounds and the champion comparison), makes it the champion, in one transaction. Idempotent: a retry
     * after the commit returns the same version and moves no alias again.
     */
    async register({ plan, dataset, packaged, evaluation, requestedBy }: RegisterInput): Promise<RegisterResult> {
      return trackedStage(deps, plan, 'register', { artifacts: () => ({}), liveness: true }, async () => {
        if (!deps.signer)
          throw new ConfigError(
            'no signing key (signing.keyFile, CAIRN_SIGNING_KEY_FILE): registered packages are signed; make one with cairn keys create'
          );
        const { version, created } = await registerVersion(
          db,
          {
            model: plan.model,
            pipeline: plan.pipeline,
            runId: plan.runId,
            packageDigest: packaged.package.digest,
            datasetDigest: dataset.digest,
            // In a pipeline of steps, a run that made an already registered package (a reproduction) is that version.
            samePackageSameVersion: plan.nested === true,
            signer: deps.signer,
            metrics: evaluation.metrics,
            gate: evaluation.gate,
            lineage: {
              dataset: dataset.digest,
              manifest: dataset.manifest.digest,
              configDigest: plan.configDigest,
              code: plan.code,
              run: plan.runId,
            },
          },
          async (tx, v) => {
            if (evaluation.gate.passed)
              await setAlias(tx, plan.model, 'champion', v, requestedBy ?? 'cairn', championReason(evaluation));
          }
        );
        const champion = evaluation.gate.passed && (created || (await isChampion(version)));
        return { model: plan.model, version, champion };
      });
      async function isChampion(version: number): Promise<boolean> {
        const { rows } = await db.query(
          'SELECT 1 FROM cairn.model_aliases WHERE model = $1 AND alias = $2 AND version = $3',
          [plan.model, 'champion', version]
        );
        return rows.length > 0;
      }
    },

    /** Ends the run record in a terminal status (succeeded, failed or cancelled) with its error. */
    async finishRun(runId: string, end: RunEnd): Promise<void> {
      await finishRun(db, runId, end);
    },
  };
}
