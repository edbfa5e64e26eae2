import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';
import type { DatasetManifest } from '../lib/data/snapshot.js';
import { readFeed } from '../lib/monitoring/feed.js';
import { monitoringPolicySchema } from '../lib/monitoring/policy.js';
import type { ResolvedMonitoringPolicy } from '../lib/monitoring/policy.js';
import { reservoirSample } from '../lib/drift/reservoir.js';
import { buildReport, predictionReference, referenceColumns } from '../lib/monitoring/report.js';
import type { MonitoringReport, ReferenceColumn, ReportInputs, ReportStatus } from '../lib/monitoring/report.js';
import { checkViewSkew } from '../lib/features/store/skew.js';
import { redisOf } from './features.js';
import { getDeployment } from '../lib/release/deployments.js';
import { resolveVersion } from '../lib/registry/models.js';
import { LOWER_IS_BETTER } from '../lib/pipeline/tabular.js';
import { resolvePipeline } from '../pipelines/index.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import { loadDataset } from './dataset.js';
import type { ActivityDeps } from './deps.js';
import type { ModelPackage } from './package.js';
import { requestRetrain } from './request-retrain.js';

export interface MonitorCheckInput {
  monitorId: string;
  seq: number;
  model: string;
  environment: string;
  from: string;
  to: string;
}

/** What the workflow keeps of a report (the report itself is in PostgreSQL). */
export interface ReportSummary {
  /** False when the model no longer serves in the environment: the monitor ends. */
  deployed: boolean;
  reportId?: number;
  version?: number;
  status?: ReportStatus;
  reason: string;
}

const SAMPLE_LIMIT = 20_000;
const PREDICTION_SAMPLE = 10_000;

/** The policy of the pipeline a model comes from, defaults applied. */
async function policyOf(
  deps: ActivityDeps,
  model: string
): Promise<{ pipeline: string; policy: ResolvedMonitoringPolicy }> {
  const { rows } = await deps.db.query<{ pipeline: string }>('SELECT pipeline FROM cairn.models WHERE name = $1', [
    model,
  ]);
  const pipeline = rows[0]?.pipeline;
  if (!pipeline) throw ApplicationFailure.nonRetryable(`unknown model ${model}`, 'UnknownModel');
  const parsed = monitoringPolicySchema.safeParse(resolvePipeline(pipeline).monitoring);
  if (!parsed.success || resolvePipeline(pipeline).monitoring === undefined) {
    throw ApplicationFailure.nonRetryable(
      `pipeline ${pipeline} has no valid monitoring policy`,
      'InvalidMonitoringPolicy'
    );
  }
  return { pipeline, policy: parsed.data };
}

export function createMonitorActivities(deps: ActivityDeps) {
  const { db, store } = deps;
  // Training references by package digest: a monitor checks the same version many times.
  const references = new Map<string, { features: ReferenceColumn[]; predictions: ReferenceColumn }>();

  async function referenceOf(pkg: ModelPackage, digest: string, watched: string[]) {
    const key = `${digest}:${watched.join(',')}`;
    let ref = references.get(key);
    if (!ref) {
      const manifest = await store.getJson<DatasetManifest>(pkg.lineage.manifest);
      const table = await loadDataset(store, manifest.digest, manifest.digest);
      heartbeat();
      const features = referenceColumns(table.columns, watched);
      // The model's own outputs on a seeded sample of its training rows are the reference of its served outputs.
      const indices = reservoirSample(
        Float64Array.from({ length: table.rowCount }, (_, i) => i),
        PREDICTION_SAMPLE,
        0
      );
      const rows = Int32Array.from(indices).sort();
      const scorer = await scorerFor(pkg);
      const raw = await scorer.score(table, rows);
      const outputs = Array.from(rows, (_, i) => scorer.prediction(raw, i) as { value?: number; label?: string });
      ref = { features, predictions: predictionReference(outputs, pkg.task === 'multiclass') };
      references.clear();
      references.set(key, ref);
    }
    return ref;
  }

  /** The consistency check of the model's feature views: online values against the offline store, sampled. */
  async function featureSkewOf(pkg: ModelPackage): Promise<Pick<ReportInputs, 'featureSkew' | 'featureSkewError'>> {
    if (!pkg.featureViews?.length) return {};
    try {
      const redis = await redisOf(deps);
      const checked = [];
      for (const view of pkg.featureViews) {
        const skew = await checkViewSkew({ db, store, redis, online: deps.onlineStore }, view);
        if (skew) checked.push(skew);
        heartbeat();
      }
      return { featureSkew: checked };
    } catch (err) {
      deps.logger.warn({ err }, 'feature skew check failed');
      return { featureSkewError: (err as Error).message };
    }
  }

  return {
    async monitorSetup(model: string, _environment: string) {
      const { pipeline, policy } = await policyOf(deps, model);
      return { pipeline, interval: policy.interval, retrain: policy.retrain };
    },

    /**
     * One check of a deployment over (from, to]: builds the report and stores it under (monitor, seq), so a retried
     * check returns the stored report instead of writing a second one.
     */
    async monitorCheck(c: MonitorCheckInput): Promise<ReportSummary> {
      const existing = await db.query<{ id: number; version: number; status: ReportStatus; summary: string }>(
        `SELECT id, version, status, report->>'summary' AS summary FROM cairn.monitoring_reports WHERE monitor_id = $1 AND seq = $2`,
        [c.monitorId, c.seq]
      );
      const found = existing.rows[0];
      if (found)
        return {
          deployed: true,
          reportId: found.id,
          version: found.version,
          status: found.status,
          reason: found.summary,
        };

      const deployment = await getDeployment(db, c.model, c.environment);
      if (!deployment) return { deployed: false, reason: `${c.model} does not serve in ${c.environment}` };
      const { policy } = await policyOf(deps, c.model);
      const version = await resolveVersion(db, { model: c.model, version: deployment.stableVersion });
      const pkg = await store.getJson<ModelPackage>(version.packageDigest);
      const inputs = pkg.contract.filter((r) => r.column !== pkg.target);
      const watched = policy.features ?? inputs.filter((r) => r.type !== 'timestamp').map((r) => r.column);
      const range = [c.model, c.environment, deployment.stableVersion, c.from, c.to];
      const [feed, samples, feedback, cost, reference] = await Promise.all([
        readFeed(db, {
          model: c.model,
          environment: c.environment,
          version: deployment.stableVersion,
          from: new Date(c.from),
          to: new Date(c.to),
        }),
        db.query<{ input: Record<string, unknown>; output: { value?: number; label?: string } }>(
          `SELECT input, output FROM cairn.prediction_log WHERE model = $1 AND environment = $2 AND version = $3
             AND at > $4 AND at <= $5 ORDER BY at DESC LIMIT ${SAMPLE_LIMIT}`,
          range
        ),
        db.query<{ output: { value?: number; label?: string }; label: unknown }>(
          `SELECT p.output, f.label FROM cairn.feedback f JOIN cairn.prediction_log p ON p.id = f.prediction_id
           WHERE p.model = $1 AND p.environment = $2 AND p.version = $3 AND f.at > $4 AND f.at <= $5`,
          range
        ),
        // A run that reused cached stages cost little: count what training this config on this data cost when it
        // was done, the most any run of it spent.
        db.query<{ cost: number }>(
          `SELECT max(r.cost) AS cost FROM cairn.runs r JOIN cairn.runs v ON v.id = $1
           WHERE r.pipeline = v.pipeline AND r.dataset_digest = v.dataset_digest AND r.config_digest = v.config_digest`,
          [version.runId]
        ),
        referenceOf(pkg, version.packageDigest, watched),
      ]);
      heartbeat();
      const skew = await featureSkewOf(pkg);
      heartbeat();
      const metric = policy.performance?.metric ?? '';
      const report: MonitoringReport = buildReport({
        model: c.model,
        environment: c.environment,
        version: deployment.stableVersion,
        window: { from: c.from, to: c.to },
        policy,
        feed,
        samples: samples.rows,
        features: reference.features,
        predictions: reference.predictions,
        trainingMetrics: version.metrics,
        lowerIsBetter: LOWER_IS_BETTER.has(metric),
        feedback: feedback.rows,
        trainingCost: cost.rows[0]?.cost ?? 0,
        ...skew,
      });
      const { rows } = await db.query<{ id: number }>(
        `INSERT INTO cairn.monitoring_reports (monitor_id, seq, model, environment, version, window_start, window_end, status, breaches, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         -- Only a concurrent attempt of this very check can collide (the key is unique per execution): keep the first.
         ON CONFLICT (monitor_id, seq) DO UPDATE SET seq = EXCLUDED.seq RETURNING id`,
        [
          c.monitorId,
          c.seq,
          c.model,
          c.environment,
          deployment.stableVersion,
          c.from,
          c.to,
          report.status,
          JSON.stringify(report.breaches),
          JSON.stringify(report),
        ]
      );
      if (report.status === 'alert') {
        deps.logger.warn({ model: c.model, report: rows[0]!.id, breaches: report.breaches }, 'monitoring alert');
      }
      // Exported on the worker's Prometheus endpoint with the Temporal Runtime's metrics.
      Context.current()
        .metricMeter.createCounter('cairn_monitoring_reports', 'reports', 'monitoring reports by status')
        .add(1, { model: c.model, environment: c.environment, status: report.status });
      return {
        deployed: true,
        reportId: rows[0]!.id,
        version: deployment.stableVersion,
        status: report.status,
        reason: report.summary,
      };
    },

    /** Starts the deployment's monitor unless it runs already (one per model and environment). */
    async ensureMonitor(model: string, environment: string): Promise<{ workflowId: string }> {
      const workflowId = `monitor-${model}-${environment}`;
      await Context.current().client.workflow.start('monitorModel', {
        workflowId,
        taskQueue: Context.current().info.taskQueue,
        args: [{ model, environment }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      return { workflowId };
    },

    /** Starts (or joins) the model's retraining and links it to the report that asked for it. */
    async requestRetraining(r: {
      monitorId: string;
      seq: number;
      pipeline: string;
      model: string;
      environment: string;
      reason: string;
    }) {
      const { taskQueue } = Context.current().info;
      // The model as it was made (its config: its source, its hyperparameters), retrained on the newest data.
      const deployment = await getDeployment(db, r.model, r.environment);
      const config = deployment
        ? await resolveVersion(db, { model: r.model, version: deployment.stableVersion })
            .then((v) => store.getJson<ModelPackage>(v.packageDigest))
            .then((pkg) => pkg.lineage.config)
            .catch(() => undefined)
        : undefined;
      const started = await requestRetrain(Context.current().client, {
        pipeline: r.pipeline,
        model: r.model,
        environment: r.environment,
        reason: r.reason,
        taskQueue,
        ...(config ? { config } : {}),
      });
      await db.query('UPDATE cairn.monitoring_reports SET retrain_id = $3 WHERE monitor_id = $1 AND seq = $2', [
        r.monitorId,
        r.seq,
        started.workflowId,
      ]);
      return started;
    },
  };
}
