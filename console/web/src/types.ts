// What the console's API answers (console/api.ts), as the JSON the page gets: the server's own types, with dates as
// ISO strings (`Json<T>`), plus the shapes of the API's own queries.
import type { ColumnDrift as ServerColumnDrift } from '../../../lib/drift/detect.js';
import type { ColumnStatistics as ServerColumnStatistics } from '../../../lib/data/statistics.js';
import type { MonitoringReport as ServerMonitoringReport } from '../../../lib/monitoring/report.js';
import type { AliasMove, ModelSummary, ModelVersion as ServerModelVersion } from '../../../lib/registry/models.js';
import type { CanaryComparison } from '../../../lib/release/canary.js';
import type { Deployment as ServerDeployment } from '../../../lib/release/deployments.js';
import type {
  DatasetVersion as ServerDatasetVersion,
  RunDetail as ServerRunDetail,
  RunRecord,
} from '../../../lib/tracking/queries.js';

/** A value as JSON.stringify then JSON.parse give it back: dates become strings. */
type Json<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

export type { ModelSummary };

/** A run, with its workflow execution in the Temporal UI. */
export type Run = Json<RunRecord> & { temporal: string };
export type RunDetail = Json<ServerRunDetail> & { temporal: string };

export interface RunList {
  runs: Run[];
  choices: { pipeline: string[]; trigger: string[]; model: string[] };
}

export type ModelVersion = Json<ServerModelVersion> & {
  run: { id: string; codeCommit: string; codeDirty: boolean; configDigest: string; trigger: string } | null;
  dataset: { digest: string; rowCount: number; manifestDigest: string } | null;
};

export interface ModelDetail extends Omit<ModelSummary, 'versions'> {
  versions: ModelVersion[];
  history: Json<AliasMove>[];
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

export type Deployment = Json<ServerDeployment>;

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

export type ColumnDrift = Json<ServerColumnDrift>;
export type MonitoringReport = Json<Omit<ServerMonitoringReport, 'dataDrift'>> & {
  /** Without `columns` in the series (they come apart, without histograms). */
  dataDrift:
    (Omit<Json<NonNullable<ServerMonitoringReport['dataDrift']>>, 'columns'> & { columns?: ColumnDrift[] }) | null;
};

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

export type DatasetVersion = Json<ServerDatasetVersion>;
export type ColumnStatistics = { name: string } & ServerColumnStatistics;

export interface DatasetDetail extends DatasetVersion {
  statistics: { rowCount: number; columns: ColumnStatistics[] } | null;
  runs: { id: string; status: string; modelName: string | null; modelVersion: number | null; startedAt: string }[];
}

export interface CanaryStep {
  weight: number;
  comparisons: CanaryComparison[];
}
