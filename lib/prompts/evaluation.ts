// Prompt evaluation: a prompt version rendered over the rows of an evaluation dataset, each answer asked of the
// model (through the cache) and scored by every scorer; the aggregate is the mean score per scorer. The gate compares
// a candidate with the version an alias (production) serves, on the same rows with the same scorers.
import { z } from 'zod';
import { CairnError } from '../errors.js';
import type { CachedLlm } from './llm.js';

/** What evaluation asks of a model: answers and embeddings (CachedLlm, with its cache). */
export type Llm = Pick<CachedLlm, 'chat' | 'embedding'>;
import { renderPrompt } from './prompt.js';
import type { PromptContent } from './prompt.js';
import { metricName } from './gate.js';
import type { ScorerSpec } from './gate.js';

/** One row of an evaluation dataset: the variables, and what a good answer is (for the scorers that need it). */
const rowSchema = z.strictObject({
  variables: z.record(z.string(), z.unknown()),
  reference: z.string().optional(),
});
export type EvaluationRow = z.output<typeof rowSchema>;

/** An evaluation dataset or scorer that cannot be used: names the row or scorer at fault. */
export class PromptEvaluationError extends CairnError {
  override readonly name = 'PromptEvaluationError';
  readonly type = 'PromptEvaluationError';
}

/** The rows of a dataset file: a JSON array or JSON lines of `{ "variables": {...}, "reference"?: "..." }`. */
export function parseEvaluationRows(text: string, where: string): EvaluationRow[] {
  const trimmed = text.trim();
  let items: unknown[];
  try {
    items = trimmed.startsWith('[')
      ? (JSON.parse(trimmed) as unknown[])
      : trimmed.split('\n').flatMap((line, i) => {
          if (!line.trim()) return [];
          try {
            return [JSON.parse(line) as unknown];
          } catch (err) {
            throw new PromptEvaluationError(`${where}: line ${i + 1}: ${(err as Error).message}`);
          }
        });
  } catch (err) {
    if (err instanceof PromptEvaluationError) throw err;
    throw new PromptEvaluationError(`${where}: ${(err as Error).message}`);
  }
  if (!items.length) throw new PromptEvaluationError(`${where}: no rows`);
  return items.map((item, i) => {
    const parsed = rowSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new PromptEvaluationError(`${where}: row ${i}: ${issue.path.join('.') || '(row)'}: ${issue.message}`);
    }
    return parsed.data;
  });
}

type Score = (answer: string, row: EvaluationRow, i: number) => Promise<number> | number;

/** A scorer of the project's own: an answer and its row in, a score from 0 to 1 out. */
export interface ProjectScorer {
  name: string;
  description?: string;
  score(answer: string, row: EvaluationRow): number | Promise<number>;
}

/** Declares a scorer in a project (`defineProject({ scorers: [...] })`); evaluations use it as `project:<name>`. */
export function defineScorer(spec: ProjectScorer): ProjectScorer {
  if (!/^[a-z][a-z0-9_-]*$/.test(spec.name))
    throw new PromptEvaluationError(
      `scorer name ${JSON.stringify(spec.name)}: expected lowercase letters, digits, - or _`
    );
  return spec;
}

function projectScorer(
  spec: Extract<ScorerSpec, { kind: 'project' }>,
  known: ReadonlyMap<string, ProjectScorer>
): Score {
  const scorer = known.get(spec.scorer);
  if (!scorer)
    throw new PromptEvaluationError(
      `unknown scorer ${spec.scorer} (the project defines: ${[...known.keys()].sort().join(', ') || 'none'})`
    );
  return async (answer, row, i) => {
    const value = await scorer.score(answer, row);
    if (typeof value !== 'number' || !(value >= 0 && value <= 1))
      throw new PromptEvaluationError(`row ${i}: scorer ${spec.scorer} gave ${String(value)}, not a score from 0 to 1`);
    return value;
  };
}

function scorerOf(spec: ScorerSpec, llm: Llm, known: ReadonlyMap<string, ProjectScorer>): Score {
  const reference = (row: EvaluationRow, i: number) => {
    if (row.reference === undefined)
      throw new PromptEvaluationError(`row ${i}: scorer ${metricName(spec)} needs a reference answer`);
    return row.reference;
  };
  switch (spec.kind) {
    case 'exact':
      return (answer, row, i) => (answer.trim() === reference(row, i).trim() ? 1 : 0);
    case 'regex': {
      const re = new RegExp(spec.pattern, spec.flags);
      return (answer) => (re.test(answer) ? 1 : 0);
    }
    case 'json-schema': {
      const schema = z.fromJSONSchema(spec.schema as Parameters<typeof z.fromJSONSchema>[0]);
      return (answer) => {
        try {
          return schema.safeParse(JSON.parse(answer)).success ? 1 : 0;
        } catch {
          return 0;
        }
      };
    }
    case 'project':
      return projectScorer(spec, known);
    case 'embedding-similarity':
      return async (answer, row, i) => {
        const [a, b] = await Promise.all([
          llm.embedding(spec.model, answer),
          llm.embedding(spec.model, reference(row, i)),
        ]);
        return Math.max(0, Math.min(1, cosine(a, b)));
      };
  }
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

export interface RowResult {
  row: number;
  answer: string;
  scores: Record<string, number>;
}

/**
 * Renders `version` over every row, asks the model (at most `concurrency` at once) and scores each answer; `progress`
 * after every row. A row whose variables the version refuses fails the evaluation, naming it.
 */
export async function evaluateRows(
  version: PromptContent & { prompt: string; version: number; digest: string },
  rows: EvaluationRow[],
  scorers: ScorerSpec[],
  llm: Llm,
  concurrency: number,
  progress: (done: number) => void = () => undefined,
  known: ReadonlyMap<string, ProjectScorer> = new Map()
): Promise<{ results: RowResult[]; metrics: Record<string, number> }> {
  if (!scorers.length) throw new PromptEvaluationError('no scorers: give at least one');
  const names = scorers.map(metricName);
  if (new Set(names).size !== names.length)
    throw new PromptEvaluationError(`two scorers share a metric name (${names.join(', ')}): name them`);
  const scores = scorers.map((s) => scorerOf(s, llm, known));
  const results: RowResult[] = new Array(rows.length);
  let next = 0;
  let done = 0;
  const work = async () => {
    for (let i = next++; i < rows.length; i = next++) {
      const row = rows[i]!;
      const text = renderPrompt(`${version.prompt}@${version.version} (row ${i})`, version, row.variables);
      const answer = await llm.chat(version, row.variables, text);
      const values = await Promise.all(scores.map((score) => score(answer, row, i)));
      results[i] = { row: i, answer, scores: Object.fromEntries(names.map((n, k) => [n, values[k]!])) };
      progress(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, work));
  const metrics = Object.fromEntries(
    names.map((n) => [n, results.reduce((sum, r) => sum + r.scores[n]!, 0) / results.length])
  );
  return { results, metrics };
}
