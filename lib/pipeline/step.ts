import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ArtifactRef } from '../artifacts/index.js';
import type { Table } from '../data/table.js';
import type { Logger } from '../logging/logger.js';
import { CairnError } from '../errors.js';

/** Where a step runs: `light` on the workflow queue (`cairn`), `heavy` on the CPU queue (`cairn-train`). */
export const QUEUE_PROFILES = ['light', 'heavy'] as const;
export type QueueProfile = (typeof QUEUE_PROFILES)[number];

/** The artifact store as a step sees it: every value in and out by content digest. */
export interface StepStore {
  /** Canonical JSON (sorted keys), so equal values give equal digests. */
  putJson(value: unknown): Promise<ArtifactRef>;
  getJson<T = unknown>(ref: ArtifactRef | string): Promise<T>;
  putBytes(bytes: Uint8Array | string, mediaType?: string): Promise<ArtifactRef>;
  getBytes(ref: ArtifactRef | string): Promise<Buffer>;
  putFile(path: string): Promise<ArtifactRef>;
  /** Writes the verified object to `path`; nothing appears there unless it verifies. */
  getFile(ref: ArtifactRef | string, path: string): Promise<void>;
  /** A columnar table in Cairn's snapshot encoding (what datasets are stored as). */
  putTable(table: Table): Promise<ArtifactRef>;
  getTable(ref: ArtifactRef | string): Promise<Table>;
}

/** What a step's `run` gets besides its input. */
export interface StepContext {
  /** The run (workflow) id. */
  runId: string;
  /** The pipeline this run runs. */
  pipeline: { name: string; version: string };
  /** This node's id in the pipeline, with `[i]` for the i-th item of a `foreach`. */
  node: string;
  /** 1 on the first try; more after a crash or a retryable error. */
  attempt: number;
  /**
   * The run's whole resolved config, for steps that declare `usesConfig: true` (the config's digest then joins their
   * cache key). Other steps get their settings through wired inputs, so an unrelated config change keeps their cache.
   */
  config: Readonly<Record<string, unknown>>;
  store: StepStore;
  log: Logger;
  /** Reports progress (heartbeats it to Temporal; shown by `cairn status`). */
  progress(done: number, total?: number): void;
  /** Saves a checkpoint (stored by digest) that a later attempt of this step resumes from. */
  checkpoint(value: unknown): Promise<void>;
  /** The last checkpoint a previous attempt saved, if any. */
  resume<T = unknown>(): Promise<T | undefined>;
  /** Aborted when the run is cancelled or the worker shuts down. */
  signal: AbortSignal;
}

/**
 * A step's input or output failed its schema, or the step itself found its input unusable. Never retried: the
 * same input fails the same way.
 */
export class StepValidationError extends CairnError {
  override readonly name = 'StepValidationError';
  readonly type = 'StepValidationError';
  constructor(
    message: string,
    readonly problems: string[] = []
  ) {
    super(message);
  }
  override failureDetails() {
    return { problems: this.problems };
  }
}

export interface StepSpec<N extends string, I extends z.ZodType, O extends z.ZodType> {
  /** kebab-case, unique within a project; part of the cache key. */
  name: N;
  /** Bump when the step's code changes what it produces; part of the cache key and lineage. */
  version: string;
  description?: string;
  /** @default 'light' */
  queue?: QueueProfile;
  /** The step reads `ctx.config` (not only its input): the config's digest is part of its cache key. @default false */
  usesConfig?: boolean;
  /** The step records the project's code (Cairn's packaging): the project bundle's digest joins its cache key. */
  usesProjectCode?: boolean;
  /** The step heartbeats through Temporal's own API (Cairn's built-in training); no heartbeats are sent for it. */
  selfHeartbeat?: boolean;
  input: I;
  /** What the step returns: references (`ArtifactRef`) and small values, never data (at most 256 KiB of JSON). */
  output: O;
  run(ctx: StepContext, input: z.output<I>): Promise<z.input<O>> | z.input<O>;
  /**
   * What the step reads from outside its input (a file's content digest, a table's last change): part of the cache
   * key, so a changed source misses the cache even under the same path. Steps that read only their input need none.
   */
  fingerprint?(input: z.output<I>, ctx: StepContext): Promise<unknown> | unknown;
}

export interface Step<
  N extends string = string,
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
> extends StepSpec<N, I, O> {
  readonly kind: 'step';
  readonly queue: QueueProfile;
  /** sha256 of the step's `run` source: an edit to it misses the cache even when `version` was not bumped. */
  readonly codeDigest: string;
}

export type AnyStep = Step<string, z.ZodType, z.ZodType>;
/** What a step takes, as the wiring must supply it. */
export type StepInput<S extends AnyStep> = z.input<S['input']>;
/** What a step gives downstream steps. */
export type StepOutput<S extends AnyStep> = z.output<S['output']>;

const NAME = /^[a-z][a-z0-9-]*$/;

/** Declares a step: a typed function of its input that the pipeline runs as one durable, cached activity. */
export function defineStep<const N extends string, I extends z.ZodType, O extends z.ZodType>(
  spec: StepSpec<N, I, O>
): Step<N, I, O> {
  if (!NAME.test(spec.name)) throw new StepValidationError(`step name ${JSON.stringify(spec.name)} must be kebab-case`);
  if (!spec.version) throw new StepValidationError(`step ${spec.name}: version is required`);
  const codeDigest = `sha256:${createHash('sha256').update(sourceOf(spec.run)).digest('hex')}`;
  return { ...spec, kind: 'step', queue: spec.queue ?? 'light', codeDigest };
}

/** A function's source with whitespace runs collapsed: re-indenting or reformatting code does not change it. */
export function sourceOf(fn: (...args: never[]) => unknown): string {
  return fn.toString().replace(/\s+/g, ' ');
}

/** zod issues as `field: message` lines. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(value)'}: ${i.message}`);
}

/** The reference schema steps use for artifacts in their inputs and outputs. */
export const artifactRef = z.strictObject({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>'),
  bytes: z.number().int().nonnegative(),
  uri: z.string(),
});
