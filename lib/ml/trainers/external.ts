import { z } from 'zod';
import type { Task } from '../types.js';

const params = z.strictObject({
  /** The program and its arguments (`['python', 'train.py']`), run in the project's directory. */
  command: z.array(z.string().min(1)).min(1),
  /**
   * A requirements file of the project pinning every package `name==version`: the Python environment the command runs
   * in (a virtualenv under `pythonEnvs`, its `bin` first on PATH). Without one the command runs as it is.
   */
  requirements: z.string().min(1).optional(),
  /** Handed to the command in its spec as they are (hyperparameters). */
  params: z.record(z.string(), z.unknown()).default({}),
  seed: z.number().int().default(0),
});

/**
 * A trainer that is a program: it runs as a subprocess on the heavy queue (lib/training/external.ts), reads the feature
 * matrices as Parquet and a JSON spec, reports progress and checkpoints on stdout, and writes an ONNX model.
 */
export const external = {
  kind: 'external',
  params,
  tasks: ['regression', 'binary', 'multiclass'] as readonly Task[],
} as const;

export type ExternalTrainerParams = z.output<typeof params>;
