import type { Task } from './tabular.js';
import type { ArtifactRef } from '../artifacts/index.js';
import type { CodeVersion } from '../lineage/code-version.js';

/** Everything a run is: the resolved pipeline, full config and the code that runs it. JSON, small. */
export interface RunPlan {
  /** The run (workflow) id. */
  runId: string;
  pipeline: string;
  /** The registry model this run's package becomes a version of. @default the pipeline name */
  model: string;
  pipelineVersion: string;
  task: Task;
  config: Record<string, unknown>;
  configDigest: string;
  code: CodeVersion;
  /** Recompute every stage, ignoring the step cache. */
  noCache: boolean;
  /** The stage runs inside a `runPipeline` step, which tracks and caches it: no tracking or caching of its own. */
  nested?: boolean;
}

export interface DatasetRef {
  /** The dataset version: sha256 of the canonical encoding of the data. */
  digest: string;
  rowCount: number;
  schemaDigest: string;
  data: ArtifactRef;
  manifest: ArtifactRef;
}

/** Set on every tracked stage's result: whether it came from the step cache. */
export interface Cached {
  cacheHit?: boolean;
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
  /** An external trainer's Python environment: the lock digest of its pinned requirements. */
  environment?: string;
  /**
   * How far an external trainer's ONNX model is from its own predictions on the held-out rows (largest relative
   * deviation), and those predictions (a JSON array in the store).
   */
  agreement?: { rows: number; maxDeviation: number; predictions: string };
  /** Training curves (lib/training/curves.ts), JSON in the store: loss per round on the training and held-out rows. */
  curves?: ArtifactRef;
}

export interface ChampionComparison {
  version: number;
  metric: string;
  candidate: number;
  champion: number;
  passed: boolean;
}

export interface GateResult {
  passed: boolean;
  reasons: string[];
  /** The comparison with the registered champion, evaluated on the same held-out rows, when there is one. */
  champion?: ChampionComparison;
  /** Why a check could not be made (e.g. the champion's package is no longer in the store). */
  notes?: string[];
}

export interface EvaluationResult {
  metrics: Record<string, number>;
  /** The whole gate: the pipeline's absolute bounds and the champion comparison. */
  gate: GateResult;
  /** The absolute bounds alone: what the package records, since it must not depend on the registry's state. */
  thresholds: GateResult;
}

export interface PackageResult {
  package: ArtifactRef;
}

export interface RegisterResult {
  model: string;
  version: number;
  /** Whether this registration made the version the champion. */
  champion: boolean;
}

/** Heartbeat details of the train activity: progress, and the checkpoint to resume from. */
export interface TrainHeartbeat {
  round: number;
  total: number;
  checkpoint?: string;
  checkpointRound?: number;
}
