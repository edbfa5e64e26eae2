// What the console's API answers (console/api.ts), as JSON: dates are ISO strings.

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Run {
  id: string;
  pipeline: string;
  pipelineVersion: string;
  trigger: string;
  requestedBy: string | null;
  parentRunId: string | null;
  status: RunStatus;
  error: string | null;
  config: Record<string, unknown>;
  configDigest: string;
  codeCommit: string;
  codeDirty: boolean;
  datasetDigest: string | null;
  packageDigest: string | null;
  modelName: string | null;
  modelVersion: number | null;
  cacheHits: string[];
  cpuSeconds: number;
  cost: number;
  startedAt: string;
  endedAt: string | null;
  /** The run's workflow execution in the Temporal UI. */
  temporal: string;
}

export interface RunDetail extends Run {
  stages: {
    stage: string;
    status: string;
    attempt: number;
    cacheHit: boolean;
    wallMs: number | null;
    cpuMs: number | null;
    error: string | null;
    startedAt: string;
    endedAt: string | null;
  }[];
  params: Record<string, string>;
  metrics: { name: string; step: number; value: number }[];
  artifacts: { stage: string; role: string; digest: string; bytes: number }[];
}

export interface RunList {
  runs: Run[];
  choices: { pipeline: string[]; trigger: string[]; model: string[] };
}

export interface ModelSummary {
  name: string;
  pipeline: string;
  versions: number;
  aliases: Record<string, number>;
}

export interface ModelVersion {
  model: string;
  version: number;
  runId: string;
  packageDigest: string;
  datasetDigest: string;
  metrics: Record<string, number>;
  lineage: Record<string, unknown>;
  signature: { keyId?: string } | null;
  createdAt: string;
  run: { id: string; codeCommit: string; codeDirty: boolean; configDigest: string; trigger: string } | null;
  dataset: { digest: string; rowCount: number; manifestDigest: string } | null;
}

export interface ModelDetail extends Omit<ModelSummary, 'versions'> {
  versions: ModelVersion[];
  history: {
    alias: string;
    version: number;
    previousVersion: number | null;
    setBy: string;
    reason: string;
    setAt: string;
  }[];
}

export interface ChecklistItem {
  item: string;
  ok: boolean;
  detail: string;
}

export interface Release {
  id: string;
  workflowId: string;
  model: string;
  version: number;
  environment: string;
  strategy: { kind?: string; steps?: number[] } | null;
  status: string;
  checklist: ChecklistItem[] | null;
  outcome: string | null;
  startedAt: string;
  endedAt: string | null;
  decisions: { seq: number; decision: string; by: string; comment: string | null; accepted: boolean; at: string }[];
}

export interface Deployment {
  model: string;
  environment: string;
  stableVersion: number;
  canaryVersion: number | null;
  canaryWeight: number;
  previousVersion: number | null;
  releaseId: string | null;
  updatedAt: string;
}

export interface DeploymentChange {
  model: string;
  environment: string;
  revision: number;
  action: string;
  stableVersion: number;
  canaryVersion: number | null;
  canaryWeight: number;
  previousVersion: number | null;
  releaseId: string | null;
  by: string;
  reason: string;
  at: string;
}

export interface ReleaseList {
  releases: Release[];
  deployments: Deployment[];
  history: DeploymentChange[];
}

export interface ColumnDrift {
  column: string;
  kind: 'numeric' | 'categorical';
  statistics: {
    psi: number;
    jensenShannon: number;
    ks?: { statistic: number; pValue: number; adjustedPValue: number };
  };
  method: string;
  drifted: boolean;
  severity: string;
  exceeded: string[];
  histogram?:
    | { edges: number[]; reference: number[]; current: number[] }
    | { categories: string[]; reference: number[]; current: number[] };
}

export interface MonitoringReport {
  status: string;
  summary: string;
  breaches: string[];
  volume: { requests: number; predictions: number; errors: number; sampledRows: number };
  dataDrift: { columns?: ColumnDrift[]; drifted: number; share: number; severity: string; note?: string } | null;
  predictionDrift: ColumnDrift | null;
  performance: {
    metric: string;
    training: number;
    serving: number | null;
    labels: number;
    degradation: number | null;
  } | null;
  latency: { p50Ms: number | null; p99Ms: number | null; limitMs: number | null };
  cost: { training: number; inference: number; per1000: number; total: number };
}

export interface StoredReport {
  id: number;
  seq: number;
  status: string;
  version: number;
  windowStart: string;
  windowEnd: string;
  retrainId: string | null;
  report: MonitoringReport;
}

export interface MonitorSummary {
  model: string;
  environment: string;
  version: number;
  status: string;
  windowEnd: string;
  summary: string;
  reports: number;
}

export interface MonitoringDetail {
  model: string;
  environment: string;
  /** Oldest first; `report` without the columns (they are in `columns`, without histograms). */
  series: (StoredReport & { columns: ColumnDrift[] | null })[];
  report: StoredReport | null;
}

export interface DatasetVersion {
  pipeline: string;
  digest: string;
  schemaDigest: string;
  rowCount: number;
  manifestDigest: string;
  acceptedAt: string;
}

export type ColumnStatistics = { name: string; count: number; missing: number } & (
  | {
      type: 'number' | 'timestamp';
      min: number | null;
      max: number | null;
      mean: number | null;
      std: number | null;
      quantiles: Record<string, number> | null;
      histogram: { edges: number[]; counts: number[]; nonFinite: number } | null;
    }
  | { type: 'string'; distinct: number; top: { value: string; count: number }[] }
  | { type: 'boolean'; true: number; false: number }
);

export interface DatasetDetail extends DatasetVersion {
  statistics: { rowCount: number; columns: ColumnStatistics[] } | null;
  runs: { id: string; status: string; modelName: string | null; modelVersion: number | null; startedAt: string }[];
}

export interface CanarySide {
  rows: number;
  errorRate: number;
  p99Ms: number | null;
}

export interface CanaryStep {
  weight: number;
  comparisons: {
    judged: boolean;
    breaches: string[];
    stable: CanarySide;
    canary: CanarySide;
    predictionShift: number | null;
  }[];
}
