import { createHash } from 'node:crypto';
import { durationMs } from '../config/duration.js';

/**
 * What a model's prediction log may keep, declared by its pipeline (`predictionLog`) and carried in its package:
 * columns dropped before a sampled row is logged, columns replaced by a hash (rows can still be grouped and joined,
 * not read back), and how long logged rows live (`cairn.prediction_log` and their feedback; pruned by the
 * `prune-prediction-log` schedule).
 */
export interface PredictionLogPolicy {
  drop?: string[];
  hash?: string[];
  /** e.g. '30d'. @default DEFAULT_LOG_RETENTION */
  retention?: string;
}

export const DEFAULT_LOG_RETENTION = '30d';

/** What is wrong with a policy for a model with these input columns. */
export function logPolicyProblems(policy: PredictionLogPolicy, columns: readonly string[]): string[] {
  const problems: string[] = [];
  for (const c of [...(policy.drop ?? []), ...(policy.hash ?? [])])
    if (!columns.includes(c)) problems.push(`predictionLog: ${c} is not a contract column`);
  if (policy.retention !== undefined) {
    try {
      durationMs(policy.retention);
    } catch {
      problems.push(`predictionLog.retention: expected a duration like '30d', got ${JSON.stringify(policy.retention)}`);
    }
  }
  return problems;
}

const hashValue = (value: unknown) =>
  `sha256:${createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32)}`;

/** The row as the log may keep it: a new object, the dropped columns gone and the hashed ones hashed. */
export function applyLogPolicy(row: unknown, policy: PredictionLogPolicy | undefined): unknown {
  if (!policy || !row || typeof row !== 'object') return row;
  const out: Record<string, unknown> = { ...(row as Record<string, unknown>) };
  for (const c of policy.drop ?? []) delete out[c];
  for (const c of policy.hash ?? []) if (c in out && out[c] !== null) out[c] = hashValue(out[c]);
  return out;
}

/** Milliseconds a model's logged rows live. */
export const retentionMs = (policy: PredictionLogPolicy | undefined) =>
  durationMs(policy?.retention ?? DEFAULT_LOG_RETENTION);
