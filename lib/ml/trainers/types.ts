import type { z } from 'zod';
import type { MetricName } from '../metrics.js';
import type { FeatureMatrix, Task } from '../types.js';

/** What a trainer is handed besides the data: the task, and progress and checkpoint hooks. */
export interface TrainContext<M> {
  task: Task;
  /** Classes for multiclass. */
  numClasses?: number;
  /** A model saved by an earlier attempt (a checkpoint) to continue from. */
  resumeFrom?: M;
  /** Called as training goes: rounds done of `total`, and, where a checkpoint is due, the model so far. */
  progress?: (round: number, total: number, checkpoint?: M) => void;
  /** Send a checkpoint every this many rounds. */
  checkpointEvery?: number;
}

/**
 * One trainer: its parameters (a zod object, what a pipeline's `trainer` holds besides `kind`), training, prediction
 * and the number of rounds progress is counted in. Models are plain JSON data told apart by `kind` (serialized with
 * canonicalJson, so the same data and parameters give the same bytes). A new trainer is a file exporting one of
 * these, plus one line in `TRAINERS` (lib/ml/trainers/index.ts).
 */
export interface TrainerDefinition<K extends string, P extends z.ZodObject, M extends { kind: K }> {
  kind: K;
  params: P;
  /** The tasks it can learn. */
  tasks: readonly Task[];
  /** Rounds progress is reported in (1 for a trainer that reports none). */
  rounds(params: z.output<P>): number;
  train(x: FeatureMatrix, y: Float64Array, params: z.output<P>, context: TrainContext<M>): M;
  /** Values (regression), P(class 1) (binary), or row-major class probabilities rows × k (multiclass). */
  predict(model: M, x: FeatureMatrix): Float64Array;
  /**
   * A training curve: the loss on (x, y) after each round, 1..rounds, named by its metric. For trainers that train
   * in rounds; the activity records it on the training and the held-out rows.
   */
  lossCurve?(model: M, x: FeatureMatrix, y: Float64Array): { metric: MetricName; values: number[] };
}
