import type { z } from 'zod';
import { MlInputError } from '../types.js';
import type { Task } from '../types.js';
import type { OnnxModel } from '../onnx.js';
import { external } from './external.js';
import { gbdt } from './gbdt.js';
import { linear } from './linear.js';
import { logistic } from './logistic.js';
import type { TrainerDefinition } from './types.js';

export type { TrainContext, TrainerDefinition } from './types.js';
export type { ExternalTrainerParams } from './external.js';

/** Every trainer Cairn runs in-process, by kind: one line each. */
export const TRAINERS = { gbdt, linear, logistic } as const;

type Trainers = typeof TRAINERS;
export type TrainerKind = keyof Trainers;

/** A pipeline's trainer: a kind and that trainer's parameters. */
export type Trainer =
  | { [K in TrainerKind]: { kind: K } & z.input<Trainers[K]['params']> }[TrainerKind]
  | ({ kind: 'external' } & z.input<typeof external.params>);

/** Every model a trainer makes: plain JSON-able data told apart by `kind`; the external trainer's are ONNX graphs. */
export type Model = { [K in TrainerKind]: Parameters<Trainers[K]['predict']>[0] }[TrainerKind] | OnnxModel;

// The registry seen without its per-kind types: each entry is called with its own params and models.
type AnyTrainer = TrainerDefinition<string, z.ZodObject, { kind: string }>;

/** Trainers registered at run time by a project's code (`registerTrainer`), with the module that registers them. */
const plugins = new Map<string, { trainer: AnyTrainer; module: string }>();

const kinds = () => [...Object.keys(TRAINERS), external.kind, ...plugins.keys()];

/**
 * Registers a trainer of a project: one file that exports `registerTrainer({ kind, params, tasks, rounds, train,
 * predict }, import.meta.url)`, imported by the pipeline that uses it. `module` is that file: the training thread
 * imports it to find the trainer. `use(params)` gives the pipeline's `trainer`.
 */
export function registerTrainer<K extends string, P extends z.ZodObject, M extends { kind: K }>(
  trainer: TrainerDefinition<K, P, M>,
  module: string
): TrainerDefinition<K, P, M> & { use(params: z.input<P>): Trainer } {
  const known = plugins.get(trainer.kind);
  if (trainer.kind in TRAINERS || trainer.kind === external.kind || (known && known.module !== module))
    throw new MlInputError(`a trainer named ${trainer.kind} is registered already`, 'kind');
  plugins.set(trainer.kind, { trainer: trainer as unknown as AnyTrainer, module });
  return { ...trainer, use: (params) => ({ kind: trainer.kind, ...params }) as unknown as Trainer };
}

/** The module that registers a project's trainer (undefined for Cairn's own). */
export const trainerModule = (kind: string): string | undefined => plugins.get(kind)?.module;

/** The in-process trainer of a kind, or an MlInputError naming the kinds there are. */
export function trainerOf(kind: string): AnyTrainer {
  const trainer = (TRAINERS as unknown as Record<string, AnyTrainer | undefined>)[kind] ?? plugins.get(kind)?.trainer;
  if (!trainer) throw new MlInputError(`unknown trainer ${kind} (trainers: ${kinds().join(', ')})`, 'kind');
  return trainer;
}

/** The tasks a trainer of this kind learns. */
export function trainerTasks(kind: string): readonly Task[] {
  return kind === external.kind ? external.tasks : trainerOf(kind).tasks;
}

/** A trainer's parameters (the pipeline's `trainer` without `kind`), checked against its schema. */
export function trainerParams(trainer: Trainer): Record<string, unknown> {
  const { kind, ...rest } = trainer;
  const schema = kind === external.kind ? external.params : trainerOf(kind).params;
  const parsed = schema.safeParse(rest);
  if (!parsed.success)
    throw new MlInputError(
      `trainer ${kind}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}`,
      'trainer'
    );
  return parsed.data;
}
