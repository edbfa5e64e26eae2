import type { ArtifactRef, ArtifactStore } from '../artifacts/index.js';
import { decodeTable, encodeTable } from '../data/snapshot.js';
import { canonicalJson } from '../ml/canonical-json.js';
import type { AnyStep, StepContext, StepStore } from './step.js';
import { describeIssues, StepValidationError } from './step.js';

/** Largest step output: outputs travel through Temporal's history, so they carry references, not data. */
export const MAX_OUTPUT_BYTES = 256 * 1024;

const digestOf = (ref: ArtifactRef | string) => (typeof ref === 'string' ? ref : ref.digest);

/** The artifact store as steps see it. */
export function stepStore(store: ArtifactStore): StepStore {
  return {
    putJson: (value) => store.putBytes(canonicalJson(value), { mediaType: 'application/json' }),
    getJson: (ref) => store.getJson(digestOf(ref)),
    putBytes: (bytes, mediaType) => store.putBytes(bytes, mediaType ? { mediaType } : {}),
    getBytes: (ref) => store.getBytes(digestOf(ref)),
    putFile: (path) => store.putFile(path),
    getFile: (ref, path) => store.getFile(digestOf(ref), path),
    putTable: (table) => store.putBytes(encodeTable(table), { mediaType: 'application/vnd.cairn.table' }),
    getTable: async (ref) => decodeTable(await store.getBytes(digestOf(ref))),
  };
}

/**
 * The config a step sees: the run's, if the step declares it reads it; else a guard that names the mistake, so a
 * step can never read config its cache key does not cover.
 */
export function configFor(step: AnyStep, config: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  if (step.usesConfig) return config;
  return new Proxy(
    {},
    {
      get(_, key) {
        if (typeof key === 'symbol') return undefined;
        throw new StepValidationError(
          `step ${step.name} reads ctx.config.${key} but does not declare usesConfig: true (wire the value as an input, or declare it)`
        );
      },
    }
  );
}

/** A step's input checked against its schema (defaults applied); StepValidationError names every problem. */
export function parseStepInput(step: AnyStep, node: string, input: unknown): unknown {
  const parsed = step.input.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error);
  throw new StepValidationError(`step ${node} (${step.name}): invalid input: ${problems.join('; ')}`, problems);
}

/** Runs a step on a parsed input; its output is checked against its schema and kept small. */
export async function invokeStep(step: AnyStep, context: StepContext, input: unknown): Promise<unknown> {
  const raw = await step.run(context, input);
  const output = step.output.safeParse(raw);
  if (!output.success) {
    const problems = describeIssues(output.error);
    throw new StepValidationError(
      `step ${context.node} (${step.name}): invalid output: ${problems.join('; ')}`,
      problems
    );
  }
  const value = output.data ?? null;
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_OUTPUT_BYTES)
    throw new StepValidationError(
      `step ${context.node} (${step.name}): output is ${bytes} bytes of JSON (limit ${MAX_OUTPUT_BYTES}); put data in ctx.store and return its reference`
    );
  return value;
}
