import type { Queryable } from '../lib/db/pool.js';
import type { InputProblem } from '../lib/scoring/scorer.js';
import type { FeedbackBody } from './requests.js';
import { HttpError } from './requests.js';

export interface StoredFeedback {
  /** Labels stored (a label sent again for the same prediction replaces the earlier one). */
  stored: number;
  /** Prediction ids the prediction log does not hold for this model and environment. */
  unknown: string[];
}

/**
 * Stores true labels of logged predictions. Labels are checked against what the prediction was: a number for a
 * regression, a class name for a classifier (one of `classesOf(version)` when known); any bad label refuses the whole
 * request with a 400 listing every problem, so a retry after fixing it stores everything once.
 */
export async function storeFeedback(
  db: Queryable,
  q: { model: string; environment: string },
  body: FeedbackBody,
  classesOf: (version: number) => readonly string[] | undefined
): Promise<StoredFeedback> {
  const latest = new Map<string, { label: string | number; row: number }>();
  body.feedback.forEach((f, row) => latest.set(f.predictionId, { label: f.label, row }));
  const ids = [...latest.keys()];
  const { rows } = await db.query<{ id: string; version: number; output: Record<string, unknown> }>(
    `SELECT id, version, output FROM cairn.prediction_log WHERE model = $1 AND environment = $2 AND id = ANY ($3)`,
    [q.model, q.environment, ids]
  );
  const logged = new Map(rows.map((r) => [r.id, r]));
  const problems: InputProblem[] = [];
  for (const [id, { label, row }] of latest) {
    const prediction = logged.get(id);
    if (!prediction) continue;
    if ('value' in prediction.output) {
      if (typeof label !== 'number') {
        problems.push({ field: 'label', row, message: `prediction ${id} is a regression: expected a number` });
      }
      continue;
    }
    const classes =
      classesOf(prediction.version) ??
      (typeof prediction.output.probabilities === 'object' && prediction.output.probabilities !== null
        ? Object.keys(prediction.output.probabilities)
        : undefined);
    if (typeof label !== 'string') {
      problems.push({ field: 'label', row, message: `prediction ${id} is a class: expected a class name` });
    } else if (classes && !classes.includes(label)) {
      problems.push({
        field: 'label',
        row,
        message: `unknown class ${JSON.stringify(label)} (classes: ${classes.join(', ')})`,
      });
    }
  }
  if (problems.length)
    throw new HttpError(400, 'some labels do not fit their predictions; nothing was stored', { problems });

  const known = ids.filter((id) => logged.has(id));
  if (known.length) {
    await db.query(
      `INSERT INTO cairn.feedback (prediction_id, label)
       SELECT id, label FROM jsonb_to_recordset($1::jsonb) AS x(id text, label jsonb)
       ON CONFLICT (prediction_id) DO UPDATE SET label = EXCLUDED.label, at = now()`,
      [JSON.stringify(known.map((id) => ({ id, label: latest.get(id)!.label })))]
    );
  }
  return { stored: known.length, unknown: ids.filter((id) => !logged.has(id)) };
}
