import type { FeatureSkew } from '../features/store/skew.js';
import type { Column } from '../data/table.js';
import { detectDrift, numericReference } from '../drift/detect.js';
import type { ColumnDrift, ColumnDriftInput, DatasetDrift, NumericReference } from '../drift/detect.js';
import type { FeedSummary } from './feed.js';
import type { ResolvedMonitoringPolicy } from './policy.js';

/** What a training column looks like, for comparison with served rows. */
export type ReferenceColumn =
  | { column: string; kind: 'numeric'; reference: NumericReference }
  | { column: string; kind: 'categorical'; counts: Record<string, number> };

/** The reference profile of training columns: numeric histograms, reservoir samples and stds; category counts. */
export function referenceColumns(columns: Record<string, Column>, names: readonly string[]): ReferenceColumn[] {
  return names.map((name) => {
    const col = columns[name];
    if (!col) throw new Error(`training data has no column ${name}`);
    if (col.type === 'string') {
      const byCode = new Float64Array(col.dictionary.length);
      for (const code of col.codes) if (code >= 0) byCode[code]! += 1;
      return {
        column: name,
        kind: 'categorical',
        counts: Object.fromEntries(col.dictionary.map((v, i) => [v, byCode[i]!])),
      };
    }
    if (col.type === 'boolean') {
      const counts = { true: 0, false: 0 };
      for (let i = 0; i < col.values.length; i++) if (!col.missing[i]) counts[col.values[i] ? 'true' : 'false'] += 1;
      return { column: name, kind: 'categorical', counts };
    }
    const values = Float64Array.from(col.values, (v, i) => (col.missing[i] ? Number.NaN : v));
    return { column: name, kind: 'numeric', reference: numericReference(values) };
  });
}

/**
 * The reference of a model's outputs: its predictions on training rows, as served predictions are reported (the value
 * or P(class 1) for regression and binary models, the predicted class for multiclass ones).
 */
export function predictionReference(
  outputs: readonly { value?: number; probability?: number; label?: string }[],
  multiclass: boolean
): ReferenceColumn {
  if (multiclass) {
    const counts: Record<string, number> = {};
    for (const o of outputs) counts[o.label!] = (counts[o.label!] ?? 0) + 1;
    return { column: 'prediction', kind: 'categorical', counts };
  }
  const values = Float64Array.from(outputs, (o) => o.value ?? o.probability ?? Number.NaN);
  return { column: 'prediction', kind: 'numeric', reference: numericReference(values) };
}

/** Served values of one column from sampled rows (JSON): numbers for numeric columns, counts for categorical ones. */
function currentInput(ref: ReferenceColumn, rows: readonly Record<string, unknown>[]): ColumnDriftInput {
  if (ref.kind === 'numeric') {
    const current = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i]![ref.column];
      current[i] = typeof v === 'number' ? v : Number.NaN;
    }
    return { column: ref.column, kind: 'numeric', reference: ref.reference, current };
  }
  const counts: Record<string, number> = {};
  for (const row of rows) {
    const v = row[ref.column];
    if (v !== null && v !== undefined) counts[String(v)] = (counts[String(v)] ?? 0) + 1;
  }
  return { column: ref.column, kind: 'categorical', reference: ref.counts, current: counts };
}

export interface LabelledPrediction {
  output: { value?: number; label?: string; probability?: number };
  label: unknown;
}

export interface ReportInputs {
  model: string;
  environment: string;
  version: number;
  window: { from: string; to: string };
  policy: ResolvedMonitoringPolicy;
  feed: FeedSummary;
  /** Sampled served rows of the window: inputs and the predictions they got. */
  samples: { input: Record<string, unknown>; output: { value?: number; label?: string; probability?: number } }[];
  features: ReferenceColumn[];
  /** The model's predictions on a sample of its training rows: what served predictions are compared with. */
  predictions: ReferenceColumn;
  /** Metrics measured at training, on held-out rows. */
  trainingMetrics: Record<string, number>;
  lowerIsBetter: boolean;
  feedback: LabelledPrediction[];
  trainingCost: number;
  /** The consistency check of the model's feature views (online values against the offline store), if it has any. */
  featureSkew?: FeatureSkew[];
  /** Why the feature views could not be checked (the online store unreachable, say). */
  featureSkewError?: string;
}

export type ReportStatus = 'ok' | 'warn' | 'alert' | 'no-traffic';

export interface MonitoringReport {
  model: string;
  environment: string;
  version: number;
  window: { from: string; to: string };
  status: ReportStatus;
  /** Why the status is what it is, in one line. */
  summary: string;
  breaches: string[];
  volume: { requests: number; predictions: number; errors: number; sampledRows: number };
  dataDrift: (DatasetDrift & { note?: string }) | null;
  predictionDrift: ColumnDrift | null;
  performance: {
    metric: string;
    training: number;
    serving: number | null;
    labels: number;
    degradation: number | null;
    limit: number;
  } | null;
  latency: { p50Ms: number | null; p99Ms: number | null; limitMs: number | null };
  cost: { training: number; inference: number; per1000: number; total: number };
  /** Online/offline consistency of the model's feature views, when it has any. */
  featureSkew?: FeatureSkew[];
}

function servingMetric(metric: string, pairs: LabelledPrediction[]): number | null {
  if (!pairs.length) return null;
  if (metric === 'accuracy') return pairs.filter((p) => p.output.label === p.label).length / pairs.length;
  const errors = pairs.map((p) => Number(p.output.value) - Number(p.label)).filter(Number.isFinite);
  if (!errors.length) return null;
  if (metric === 'rmse') return Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length);
  if (metric === 'mae') return errors.reduce((s, e) => s + Math.abs(e), 0) / errors.length;
  return null;
}

/** Labels needed before a serving metric counts: fewer is noise, not decay. */
export const MIN_LABELS = 20;

/**
 * One monitoring report from what a window served: data drift per watched feature and prediction drift (on the
 * sampled rows, against the training data), decay of the policy's metric on feedback labels, latency, volume and
 * cost. A window without traffic is a report that says so.
 */
export function buildReport(r: ReportInputs): MonitoringReport {
  const breaches: string[] = [];
  const warnings: string[] = [];
  const sampledRows = r.samples.length;
  const volume = { requests: r.feed.requests, predictions: r.feed.predictions, errors: r.feed.errors, sampledRows };
  const per1000 = r.policy.inferencePricePer1000;
  const inference = (r.feed.predictions / 1000) * per1000;
  const cost = { training: r.trainingCost, inference, per1000, total: r.trainingCost + inference };
  const latency = {
    p50Ms: r.feed.latencyMs.p50,
    p99Ms: r.feed.latencyMs.p99,
    limitMs: r.policy.latency?.p99Ms ?? null,
  };
  const base = {
    model: r.model,
    environment: r.environment,
    version: r.version,
    window: r.window,
    volume,
    latency,
    cost,
    ...(r.featureSkew ? { featureSkew: r.featureSkew } : {}),
  };
  // Skew is a property of the stores, not of the traffic: judged with or without requests.
  for (const s of r.featureSkew ?? []) {
    if (s.skewed)
      breaches.push(
        `feature skew in ${s.view}: ${s.skewed} of ${s.compared} sampled entities are served other values than the offline store holds`
      );
    if (s.missingOnline) warnings.push(`${s.missingOnline} sampled entities of ${s.view} are missing online`);
  }
  if (r.featureSkewError) warnings.push(`feature views not checked: ${r.featureSkewError}`);

  if (r.feed.requests === 0 && sampledRows === 0 && !breaches.length) {
    return {
      ...base,
      status: 'no-traffic',
      summary: `no traffic between ${r.window.from} and ${r.window.to}: nothing to judge`,
      breaches,
      dataDrift: null,
      predictionDrift: null,
      performance: null,
    };
  }

  let dataDrift: MonitoringReport['dataDrift'] = null;
  let predictionDrift: ColumnDrift | null = null;
  const options = r.policy.drift ? { thresholds: r.policy.drift } : {};
  if (sampledRows < r.policy.minRows) {
    dataDrift = {
      columns: [],
      drifted: 0,
      share: 0,
      severity: 'ok',
      note: `${sampledRows} sampled rows, fewer than minRows ${r.policy.minRows}: no drift verdict`,
    };
  } else {
    dataDrift = detectDrift(
      r.features.map((f) =>
        currentInput(
          f,
          r.samples.map((s) => s.input)
        )
      ),
      options
    );
    const drifted = dataDrift.columns.filter((c) => c.drifted).map((c) => c.column);
    if (drifted.length) breaches.push(`data drift in ${drifted.join(', ')}`);
    else if (dataDrift.severity === 'warn') warnings.push('data drift warning');
    const p = r.predictions;
    const outputs = r.samples.map((s) => ({
      [p.column]: p.kind === 'numeric' ? (s.output.value ?? s.output.probability) : s.output.label,
    }));
    predictionDrift = detectDrift([currentInput(p, outputs)], options).columns[0]!;
    if (predictionDrift.drifted) breaches.push('prediction drift against the predictions on training rows');
  }

  let performance: MonitoringReport['performance'] = null;
  if (r.policy.performance) {
    const { metric, maxDegradation } = r.policy.performance;
    const training = r.trainingMetrics[metric]!;
    const serving = r.feedback.length >= MIN_LABELS ? servingMetric(metric, r.feedback) : null;
    const degradation = serving === null ? null : r.lowerIsBetter ? serving - training : training - serving;
    performance = { metric, training, serving, labels: r.feedback.length, degradation, limit: maxDegradation };
    if (degradation !== null && degradation > maxDegradation) {
      breaches.push(
        `${metric} ${serving!.toFixed(4)} on ${r.feedback.length} labels vs ${training.toFixed(4)} at training (worse by ${degradation.toFixed(4)}, limit ${maxDegradation})`
      );
    }
  }
  if (latency.limitMs !== null && latency.p99Ms !== null && latency.p99Ms > latency.limitMs) {
    breaches.push(`p99 latency ${latency.p99Ms.toFixed(1)} ms over ${latency.limitMs} ms`);
  }
  const status: ReportStatus = breaches.length ? 'alert' : warnings.length ? 'warn' : 'ok';
  const summary = breaches.length ? breaches.join('; ') : warnings.length ? warnings.join('; ') : 'no breach';
  return { ...base, status, summary, breaches, dataDrift, predictionDrift, performance };
}
