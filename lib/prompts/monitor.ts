// Monitoring of prompts in service: the online server logs each render of a registered prompt (rendered, or refused
// because the variables did not fit); a check over a window gives the refused share (the render error rate).
import type { Queryable } from '../db/pool.js';

export interface RenderRecord {
  name: string;
  version: number;
  outcome: 'rendered' | 'refused';
}

/** The statement that writes a batch of renders (BatchedInsert). */
export const insertRenders = (rows: RenderRecord[]) => ({
  text: `INSERT INTO cairn.prompt_renders (name, version, outcome)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[])`,
  values: [rows.map((r) => r.name), rows.map((r) => r.version), rows.map((r) => r.outcome)],
});

export interface PromptPolicy {
  /** Fewer renders than this in the window: the check reports no traffic. @default 20 */
  minRenders: number;
  /** @default 0.05 */
  maxRefusedRate: number;
}

export const DEFAULT_PROMPT_POLICY: PromptPolicy = { minRenders: 20, maxRefusedRate: 0.05 };

export interface PromptReport {
  name: string;
  version: number;
  window: { from: string; to: string };
  renders: number;
  refusedRate: number | null;
  status: 'ok' | 'alert' | 'no-traffic';
  breaches: string[];
  policy: PromptPolicy;
}

/** A check of the renders of prompt `name` at `version` in [from, to). */
export async function checkPrompt(
  db: Queryable,
  name: string,
  version: number,
  window: { from: string; to: string },
  policy: PromptPolicy = DEFAULT_PROMPT_POLICY
): Promise<PromptReport> {
  const { rows } = await db.query<{ renders: number; refused: number }>(
    `SELECT count(*)::int AS renders, count(*) FILTER (WHERE outcome = 'refused')::int AS refused
     FROM cairn.prompt_renders WHERE name = $1 AND version = $2 AND at >= $3 AND at < $4`,
    [name, version, window.from, window.to]
  );
  const { renders, refused } = rows[0]!;
  const base = { name, version, window, renders, policy };
  if (renders < policy.minRenders) return { ...base, refusedRate: null, status: 'no-traffic', breaches: [] };
  const refusedRate = refused / renders;
  const breaches =
    refusedRate > policy.maxRefusedRate
      ? [
          `renders refused (variables that do not fit) ${(refusedRate * 100).toFixed(1)}% > ${(policy.maxRefusedRate * 100).toFixed(0)}%`,
        ]
      : [];
  return { ...base, refusedRate, status: breaches.length ? 'alert' : 'ok', breaches };
}
