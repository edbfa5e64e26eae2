// The prompt registry in PostgreSQL: immutable, content-addressed versions numbered per prompt, with a message and
// an author, and aliases (production, staging) that move between them. Every change is in the audit log.
import { recordAudit } from '../audit/log.js';
import type { Pool, Queryable } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { ArtifactIntegrityError } from '../artifacts/types.js';
import { CairnError } from '../errors.js';
import { canonicalJson } from '../ml/canonical-json.js';
import { aliasState, PROMPT_ALIASES, setAlias } from '../release/aliases.js';
import { promptDigest } from './prompt.js';
import type { PromptGate } from './gate.js';
import type { PromptContent } from './prompt.js';

export interface PromptVersion extends PromptContent {
  prompt: string;
  version: number;
  digest: string;
  message: string;
  author: string;
  createdAt: Date;
}

/** A prompt, version or alias that is not registered; names what is. */
export class UnknownPromptError extends CairnError {
  override readonly name = 'UnknownPromptError';
  readonly type = 'UnknownPrompt';
  constructor(
    message: string,
    /** The prompt exists; the version or alias asked for does not. */
    readonly promptExists = false
  ) {
    super(message);
  }
}

/** `name`, `name@3` or `name@production`. */
export interface PromptRef {
  prompt: string;
  version?: number;
  alias?: string;
}

export function parsePromptRef(text: string): PromptRef {
  const [prompt, at] = text.split('@', 2) as [string, string | undefined];
  if (at === undefined || at === '') return { prompt };
  return /^\d+$/.test(at) ? { prompt, version: Number(at) } : { prompt, alias: at };
}

export const formatPromptRef = (ref: PromptRef) =>
  ref.version !== undefined ? `${ref.prompt}@${ref.version}` : ref.alias ? `${ref.prompt}@${ref.alias}` : ref.prompt;

const COLUMNS = `prompt, version, digest, content, message, author, created_at AS "createdAt"`;

type Row = Omit<PromptVersion, keyof PromptContent> & { content: PromptContent };

/** A stored row as a version, its content checked against its digest (a read verifies, as artifact reads do). */
function versionOf(row: Row): PromptVersion {
  const { content, ...rest } = row;
  const digest = promptDigest(content);
  if (digest !== row.digest)
    throw new ArtifactIntegrityError(row.digest, { digest, bytes: canonicalJson(content).length });
  return { ...rest, ...content };
}

/**
 * Registers `content` as a version of `prompt` (made on first use). The same content as an existing version is that
 * version (`created: false`): a version is its content. Numbers are handed out under the prompt row's lock, 1, 2,
 * 3… with no gap.
 */
export async function createPromptVersion(
  db: Pool,
  prompt: string,
  content: PromptContent,
  by: { author: string; message: string }
): Promise<{ version: PromptVersion; created: boolean }> {
  const digest = promptDigest(content);
  return withTransaction(db, async (client) => {
    await client.query('INSERT INTO cairn.prompts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [prompt]);
    await client.query('SELECT 1 FROM cairn.prompts WHERE name = $1 FOR UPDATE', [prompt]);
    const existing = await client.query<Row>(
      `SELECT ${COLUMNS} FROM cairn.prompt_versions WHERE prompt = $1 AND digest = $2`,
      [prompt, digest]
    );
    if (existing.rows[0]) return { version: versionOf(existing.rows[0]), created: false };
    const { rows } = await client.query<{ version: number }>(
      'UPDATE cairn.prompts SET next_version = next_version + 1 WHERE name = $1 RETURNING next_version - 1 AS version',
      [prompt]
    );
    const inserted = await client.query<Row>(
      `INSERT INTO cairn.prompt_versions (prompt, version, digest, content, message, author)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [prompt, rows[0]!.version, digest, JSON.stringify(content), by.message, by.author]
    );
    await recordAudit(client, {
      actor: by.author,
      action: 'prompt.version',
      subject: `${prompt}@${rows[0]!.version}`,
      details: { digest, message: by.message },
    });
    return { version: versionOf(inserted.rows[0]!), created: true };
  });
}

/** Every prompt with its latest version and aliases. */
export async function listPrompts(
  db: Queryable
): Promise<{ prompt: string; versions: number; latest: PromptVersion; aliases: Record<string, number> }[]> {
  const { rows } = await db.query<Row & { versions: number; aliases: Record<string, number> | null }>(
    `SELECT ${COLUMNS.replace('prompt,', 'v.prompt,')},
       (SELECT count(*)::int FROM cairn.prompt_versions c WHERE c.prompt = v.prompt) AS versions,
       (SELECT jsonb_object_agg(alias, version) FROM cairn.prompt_aliases a WHERE a.prompt = v.prompt) AS aliases
     FROM cairn.prompt_versions v
     WHERE version = (SELECT max(version) FROM cairn.prompt_versions m WHERE m.prompt = v.prompt)
     ORDER BY v.prompt`
  );
  return rows.map(({ versions, aliases, ...row }) => ({
    prompt: row.prompt,
    versions,
    latest: versionOf(row),
    aliases: aliases ?? {},
  }));
}

/** A prompt's versions, newest first, with the aliases pointing at each. */
export async function listPromptVersions(
  db: Queryable,
  prompt: string
): Promise<(PromptVersion & { aliases: string[] })[]> {
  await requirePrompt(db, prompt);
  const { rows } = await db.query<Row & { aliases: string[] }>(
    `SELECT ${COLUMNS.replace('prompt,', 'v.prompt,')},
       COALESCE((SELECT array_agg(alias ORDER BY alias) FROM cairn.prompt_aliases a
                 WHERE a.prompt = v.prompt AND a.version = v.version), '{}') AS aliases
     FROM cairn.prompt_versions v WHERE v.prompt = $1 ORDER BY version DESC`,
    [prompt]
  );
  return rows.map(({ aliases, ...row }) => ({ ...versionOf(row), aliases }));
}

async function requirePrompt(db: Queryable, prompt: string): Promise<void> {
  const found = await db.query('SELECT 1 FROM cairn.prompts WHERE name = $1', [prompt]);
  if (found.rowCount) return;
  const known = await db.query<{ name: string }>('SELECT name FROM cairn.prompts ORDER BY name');
  throw new UnknownPromptError(
    `unknown prompt ${prompt} (registered: ${known.rows.map((r) => r.name).join(', ') || 'none'})`
  );
}

/** The version a reference names (no version or alias: the latest); UnknownPromptError naming what is missing. */
export async function resolvePrompt(db: Queryable, ref: PromptRef): Promise<PromptVersion> {
  await requirePrompt(db, ref.prompt);
  const { rows } =
    ref.alias !== undefined
      ? await db.query<Row>(
          `SELECT ${COLUMNS} FROM cairn.prompt_versions WHERE prompt = $1
           AND version = (SELECT version FROM cairn.prompt_aliases WHERE prompt = $1 AND alias = $2)`,
          [ref.prompt, ref.alias]
        )
      : await db.query<Row>(
          `SELECT ${COLUMNS} FROM cairn.prompt_versions WHERE prompt = $1
           AND version = COALESCE($2, (SELECT max(version) FROM cairn.prompt_versions WHERE prompt = $1))`,
          [ref.prompt, ref.version ?? null]
        );
  if (!rows[0])
    throw new UnknownPromptError(
      ref.alias !== undefined
        ? `prompt ${ref.prompt} has no alias ${ref.alias}`
        : `prompt ${ref.prompt} has no version ${ref.version}`,
      true
    );
  return versionOf(rows[0]);
}

/** Points `alias` of a prompt at a version (which must exist); the move is in the audit log with who and from what. */
export async function setPromptAlias(
  db: Pool,
  prompt: string,
  alias: string,
  version: number,
  by: string
): Promise<{ previous: number | null }> {
  await resolvePrompt(db, { prompt, version });
  return setAlias(db, PROMPT_ALIASES, prompt, alias, version, by);
}

/** A recorded evaluation of a prompt version: aggregate metrics, with its rows' answers and scores kept beside it. */
export interface PromptEvaluation {
  id: number;
  prompt: string;
  version: number;
  digest: string;
  /** The evaluation dataset's digest in the object store. */
  dataset: string;
  scorers: unknown[];
  metrics: Record<string, number>;
  rows: number;
  /** Answers asked of the provider, and answers read from the cache. */
  calls: number;
  cached: number;
  requestedBy: string;
  /** A candidate's gate against its baseline; null for a baseline's evaluation. */
  gate: PromptGate | null;
  createdAt: Date;
}

const EVALUATION_COLUMNS = `id::int, prompt, version, digest, dataset, scorers, metrics, rows, calls, cached,
  requested_by AS "requestedBy", gate, created_at AS "createdAt"`;

/** The evaluation recorded for `execution` (a workflow execution and a role), if any: a retry records none again. */
export async function findEvaluation(db: Queryable, execution: string): Promise<PromptEvaluation | undefined> {
  const { rows } = await db.query<PromptEvaluation>(
    `SELECT ${EVALUATION_COLUMNS} FROM cairn.prompt_evaluations WHERE execution = $1`,
    [execution]
  );
  return rows[0];
}

/** Records an evaluation and its rows in one transaction, once per `execution`. */
export async function recordEvaluation(
  db: Pool,
  execution: string,
  evaluation: Omit<PromptEvaluation, 'id' | 'createdAt'>,
  results: { row: number; answer: string; scores: Record<string, number> }[]
): Promise<PromptEvaluation> {
  return withTransaction(db, async (client) => {
    const inserted = await client.query<PromptEvaluation>(
      `INSERT INTO cairn.prompt_evaluations
         (execution, prompt, version, digest, dataset, scorers, metrics, rows, calls, cached, requested_by, gate)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (execution) DO NOTHING
       RETURNING ${EVALUATION_COLUMNS}`,
      [
        execution,
        evaluation.prompt,
        evaluation.version,
        evaluation.digest,
        evaluation.dataset,
        JSON.stringify(evaluation.scorers),
        JSON.stringify(evaluation.metrics),
        evaluation.rows,
        evaluation.calls,
        evaluation.cached,
        evaluation.requestedBy,
        evaluation.gate === null ? null : JSON.stringify(evaluation.gate),
      ]
    );
    const row = inserted.rows[0];
    if (!row) return (await findEvaluation(client, execution))!;
    await client.query(
      `INSERT INTO cairn.prompt_evaluation_rows (evaluation_id, row, answer, scores)
       SELECT $1, r.row, r.answer, r.scores FROM jsonb_to_recordset($2::jsonb) AS r(row int, answer text, scores jsonb)`,
      [row.id, JSON.stringify(results)]
    );
    return row;
  });
}

/** A prompt's evaluations, newest first. */
export async function listEvaluations(db: Queryable, prompt: string): Promise<PromptEvaluation[]> {
  const { rows } = await db.query<PromptEvaluation>(
    `SELECT ${EVALUATION_COLUMNS} FROM cairn.prompt_evaluations WHERE prompt = $1 ORDER BY id DESC`,
    [prompt]
  );
  return rows;
}

/** What an alias serves: its stable version, and a canary taking `weight` of the requests (by sticky key). */
export interface PromptRoute {
  stable: PromptVersion;
  canary?: PromptVersion;
  weight: number;
}

/** The route of an alias; UnknownPromptError when the prompt or the alias does not exist. */
export async function resolvePromptRoute(db: Queryable, prompt: string, alias: string): Promise<PromptRoute> {
  const stable = await resolvePrompt(db, { prompt, alias });
  const state = await aliasState(db, PROMPT_ALIASES, prompt, alias);
  if (!state || state.canary === null || state.weight <= 0) return { stable, weight: 0 };
  return { stable, canary: await resolvePrompt(db, { prompt, version: state.canary }), weight: state.weight };
}
