import type { Task } from '../pipelines/define.js';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import type { CodeVersion } from '../lib/lineage/code-version.js';

/** Everything a run is: the resolved pipeline, full config and the code that runs it. JSON, small. */
export interface RunPlan {
  pipeline: string;
  pipelineVersion: string;
  task: Task;
  config: Record<string, unknown>;
  configDigest: string;
  code: CodeVersion;
}

export interface DatasetRef {
  /** The dataset version: sha256 of the canonical encoding of the data. */
  digest: string;
  rowCount: number;
  schemaDigest: string;
  data: ArtifactRef;
  manifest: ArtifactRef;
}

export interface ValidationResult {
  report: ArtifactRef;
  anomalies: number;
  /** The accepted snapshot anomalies were checked against. */
  reference?: string;
}

export interface TransformResult {
  train: ArtifactRef;
  test: ArtifactRef;
  /** The fitted feature specs (JSON). */
  features: ArtifactRef;
  rows: { train: number; test: number; dropped: number };
  classes?: string[];
}

export interface TrainResult {
  model: ArtifactRef;
  rounds?: number;
  /** The checkpoint round training continued from after a restart (0 = from scratch). */
  resumedFromRound: number;
}

export interface GateResult {
  passed: boolean;
  reasons: string[];
}

export interface EvaluationResult {
  metrics: Record<string, number>;
  gate: GateResult;
}

export interface PackageResult {
  package: ArtifactRef;
}

/** Heartbeat details of the train activity: progress, and the checkpoint to resume from. */
export interface TrainHeartbeat {
  round: number;
  total: number;
  checkpoint?: string;
  checkpointRound?: number;
}
