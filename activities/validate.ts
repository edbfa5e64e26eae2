import { ApplicationFailure } from '@temporalio/activity';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { findAnomalies, profileTable } from '../lib/validate/anomalies.js';
import type { Profile } from '../lib/validate/anomalies.js';
import { checkContract } from '../lib/validate/check.js';
import { compileContract } from '../lib/validate/contract.js';
import { formatReport } from '../lib/validate/report.js';
import type { ValidationReport } from '../lib/validate/report.js';
import { resolvePipeline } from '../pipelines/index.js';
import { loadDataset } from './dataset.js';
import type { ActivityDeps } from './deps.js';
import type { Cached, DatasetRef, RunPlan, ValidationResult } from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

export function createValidateActivities(deps: ActivityDeps) {
  const { db, store } = deps;
  return {
    /**
     * Checks the snapshot against the pipeline's data contract, column by column, and compares it with the last
     * snapshot the pipeline accepted. A broken rule fails the run once, non-retryably, with the report; a passing
     * snapshot is recorded as an accepted dataset version (identical data reuses its version).
     */
    async validate(plan: RunPlan, dataset: DatasetRef): Promise<ValidationResult & Cached> {
      const pipeline = resolvePipeline(plan.pipeline);
      const rules = compileContract(pipeline.contract);
      const { rows } = await db.query<{ digest: string; profile: Profile }>(
        `SELECT digest, profile FROM cairn.dataset_versions WHERE pipeline = $1 AND digest <> $2 ORDER BY accepted_at DESC LIMIT 1`,
        [plan.pipeline, dataset.digest]
      );
      const reference = rows[0];
      return trackedStage(
        deps,
        plan,
        'validate',
        {
          cache: {
            implementation: 'validate/1',
            inputs: { dataset: dataset.digest, rules, reference: reference?.digest ?? null },
          },
          artifacts: (r: ValidationResult) => ({ report: r.report }),
          liveness: true,
        },
        async () => {
          const table = await loadDataset(store, dataset.digest, dataset.data.digest);
          const violations = checkContract(table, rules);
          const profile = profileTable(table);
          const report: ValidationReport = {
            dataset: dataset.digest,
            rowCount: table.rowCount,
            passed: violations.length === 0,
            violations,
            anomalies: reference ? findAnomalies(table, profile, reference.profile) : [],
            ...(reference ? { reference: reference.digest } : {}),
          };
          const reportRef = await store.putBytes(canonicalJson(report), { mediaType: 'application/json' });
          if (!report.passed) {
            throw ApplicationFailure.nonRetryable(
              `data contract of pipeline ${plan.pipeline} violated:\n${formatReport(report)}`,
              'DataContractViolation',
              { report: reportRef, violations }
            );
          }
          const manifest = JSON.parse((await store.getBytes(dataset.manifest.digest)).toString('utf8')) as {
            statistics: unknown;
          };
          await db.query(
            `INSERT INTO cairn.dataset_versions (pipeline, digest, schema_digest, row_count, manifest_digest, profile, statistics)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pipeline, digest) DO NOTHING`,
            [
              plan.pipeline,
              dataset.digest,
              dataset.schemaDigest,
              dataset.rowCount,
              dataset.manifest.digest,
              profile,
              manifest.statistics,
            ]
          );
          return {
            report: reportRef,
            anomalies: report.anomalies.length,
            ...(reference ? { reference: reference.digest } : {}),
          };
        }
      );
    },
  };
}
