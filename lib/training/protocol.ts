import type { Trainer, Task } from '../pipeline/tabular.js';
import type { Model } from '../ml/index.js';
import type { TrainingCurves } from './curves.js';

/** What the activity sends the training thread. Typed arrays are transferred, not copied. */
export interface TrainRequest {
  trainer: Trainer;
  task: Task;
  numClasses?: number;
  names: string[];
  columns: Float64Array[];
  y: Float64Array;
  /** The held-out rows, for the trainer's validation curve. */
  validation?: { columns: Float64Array[]; y: Float64Array };
  /** A partial model to continue from (a checkpoint). */
  resumeFrom?: Model;
  /** The module registering a project's trainer (`registerTrainer`): the thread imports it first. */
  module?: string;
  /** Send the model so far every this many rounds, for checkpoints. */
  checkpointEvery: number;
}

export type TrainMessage =
  | { type: 'round'; round: number; total: number; checkpoint?: Model }
  | { type: 'done'; model: Model; curves?: TrainingCurves }
  /**
   * `name` and `field` let the activity rebuild a trainer input error as itself; `failure` carries any other
   * CairnError's type and details, so it stays non-retryable on this side of the thread.
   */
  | {
      type: 'error';
      name: string;
      message: string;
      stack?: string;
      field?: string;
      failure?: { type: string; details?: Record<string, unknown> };
    };
