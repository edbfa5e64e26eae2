import type { z } from 'zod';
import { MlInputError } from '../types.js';
import { gbdt } from './gbdt.js';
import { linear } from './linear.js';
import { logistic } from './logistic.js';
import type { TrainerDefinition } from './types.js';

export type { TrainContext, TrainerDefinition } from './types.js';

/** Every trainer Cairn knows, by kind: one line each. */
export const TRAINERS = { gbdt, linear, logistic } as const;

type Trainers = typeof TRAINERS;
export type TrainerKind = keyof Trainers;

/** A pipeline's trainer: a kind and that trainer's parameters. */
export type Trainer = {
  [K in TrainerKind]: { kind: K } & z.input<Trainers[K]['params']>;
}[TrainerKind];

/** Every model a trainer makes: plain JSON-able data told apart by `kind`. */
export type Model = { [K in TrainerKind]: Parameters<Trainers[K]['predict']>[0] }[TrainerKind];

// The registry seen without its per-kind types: each entry is called with its own params and models.
type AnyTrainer = TrainerDefinition<string, z.ZodObject, { kind: string }>;

/** The trainer of a kind, or an MlInputError naming the kinds there are. */
export function trainerOf(kind: string): AnyTrainer {
  const trainer = (TRAINERS as unknown as Record<string, AnyTrainer | undefined>)[kind];
  if (!trainer)
    throw new MlInputError(`unknown trainer ${kind} (trainers: ${Object.keys(TRAINERS).join(', ')})`, 'kind');
  return trainer;
}

/** A trainer's parameters (the pipeline's `trainer` without `kind`), checked against its schema. */
export function trainerParams(trainer: Trainer): Record<string, unknown> {
  const { kind, ...rest } = trainer;
  const parsed = trainerOf(kind).params.safeParse(rest);
  if (!parsed.success)
    throw new MlInputError(
      `trainer ${kind}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}`,
      'trainer'
    );
  return parsed.data;
}
