import { z } from 'zod';
import type { InputProblem } from '../lib/scoring/scorer.js';

/** An answer other than 200: its status, message and any fields the body carries besides `error`. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details: Record<string, unknown> = {},
    cause?: unknown
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/**
 * A predict request: `{ "rows": [ {...}, ... ] }`, or `{ "row": {...} }` for one row; `key` (or the `x-cairn-key`
 * header) routes every request with the same key to the same version during a canary. Rows are checked against the
 * model's contract by its scorer, not here.
 */
export const predictBodySchema = z.strictObject({
  rows: z.array(z.unknown()).min(1, 'expected at least one row').optional(),
  row: z.unknown().optional(),
  key: z.string().min(1).max(256).optional(),
  /**
   * Entity keys (`{"origin": "SFO"}`), one object per row: the server looks up the model's feature view values for
   * them and adds them, and the keys, to the row. Without rows, each row is the entity keys alone.
   */
  entities: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown())).min(1)]).optional(),
});

/** A parsed predict body: the rows, the routing key, and the entity keys of each row when features are looked up. */
export interface PredictBody {
  rows: unknown[];
  key?: string;
  entities?: Record<string, unknown>[];
}

/** Feedback: the true label of earlier predictions, by prediction id (class name, or number for regression). */
export const feedbackBodySchema = z.strictObject({
  feedback: z
    .array(
      z.strictObject({
        predictionId: z.string().min(1).max(128),
        label: z.union([z.string().min(1), z.number()], { error: 'expected a class name or a number' }),
      })
    )
    .min(1, 'expected at least one label')
    .max(10_000, 'at most 10000 labels per request'),
});

export type FeedbackBody = z.output<typeof feedbackBodySchema>;

/** zod issues as problems: `rows.3.x` becomes field `x` of row 3; `key` of the body stays `key`. */
export function problemsOf(error: z.ZodError): InputProblem[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    const listed = path.length >= 2 && /^\d+$/.test(path[1]!);
    const base = listed ? path.slice(2) : path;
    const row = listed ? Number(path[1]) : undefined;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => ({
      field: key ?? (base.join('.') || (listed ? path[0]! : '(body)')),
      ...(row === undefined ? {} : { row }),
      message: key === undefined ? issue.message : 'unknown field',
    }));
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A predict body `predictBodySchema` and `entityBody` accept as it is, checked by hand (a zod parse per request was
 * a measurable part of a small request's cost): an object with `rows` (a non-empty list) or `row`, not both, and/or
 * `entities` (an object, or a non-empty list of objects, one per row, rows then objects too), an optional `key` of
 * 1 to 256 characters, and nothing else. Undefined for anything else, which zod then explains.
 */
function plainPredictBody(body: unknown): PredictBody | undefined {
  if (!isObject(body)) return undefined;
  const { rows, row, key, entities } = body;
  let known = 0;
  let given: unknown[] | undefined;
  if (rows !== undefined) {
    if (!Array.isArray(rows) || rows.length === 0 || row !== undefined) return undefined;
    given = rows;
    known++;
  } else if (row !== undefined) {
    given = [row];
    known++;
  } else if (entities === undefined) return undefined;
  let list: Record<string, unknown>[] | undefined;
  if (entities !== undefined) {
    list = Array.isArray(entities) ? (entities as Record<string, unknown>[]) : [entities as Record<string, unknown>];
    if (list.length === 0 || !list.every(isObject)) return undefined;
    if (given && (given.length !== list.length || !given.every(isObject))) return undefined;
    known++;
  }
  if (key !== undefined) {
    if (typeof key !== 'string' || key.length < 1 || key.length > 256) return undefined;
    known++;
  }
  let keys = 0;
  for (const name in body) if (Object.hasOwn(body, name) && ++keys > known) return undefined;
  if (keys !== known) return undefined;
  const out: PredictBody = { rows: given ?? list!.map(() => ({})) };
  if (list) out.entities = list;
  if (key !== undefined) out.key = key as string;
  return out;
}

/** The rows of a predict body, its routing key and entity keys; throws HttpError 400 naming what is wrong. */
export function parsePredictBody(body: unknown): PredictBody {
  const plain = plainPredictBody(body);
  if (plain) return plain;
  if (typeof body === 'object' && body !== null && 'entities' in body) return entityBody(body);
  const parsed = predictBodySchema.safeParse(body);
  if (!parsed.success) {
    throw new HttpError(
      400,
      'the request body is not a predict request: expected {"rows": [{...}, ...]} or {"row": {...}}',
      {
        problems: problemsOf(parsed.error),
      }
    );
  }
  const { rows, row, key } = parsed.data;
  if (rows !== undefined && row !== undefined) {
    throw new HttpError(400, 'send either "rows" (a list) or "row" (one object), not both', {
      problems: [{ field: 'row', message: 'not allowed beside rows' }],
    });
  }
  if (rows === undefined && row === undefined) {
    throw new HttpError(400, 'the request has no rows: expected {"rows": [{...}, ...]} or {"row": {...}}', {
      problems: [{ field: 'rows', message: 'missing' }],
    });
  }
  return { rows: rows ?? [row], ...(key === undefined ? {} : { key }) };
}

/** A body with `entities`: rows (if any) and entity objects, one each. */
function entityBody(body: object): PredictBody {
  const parsed = predictBodySchema.safeParse(body);
  if (!parsed.success)
    throw new HttpError(400, 'the request body is not a predict request: expected {"entities": {...}, "row": {...}}', {
      problems: problemsOf(parsed.error),
    });
  const { rows, row, key, entities } = parsed.data;
  const list = Array.isArray(entities) ? entities : [entities!];
  const given = rows ?? (row === undefined ? undefined : [row]);
  if (rows !== undefined && row !== undefined)
    throw new HttpError(400, 'send either "rows" (a list) or "row" (one object), not both', {
      problems: [{ field: 'row', message: 'not allowed beside rows' }],
    });
  if (given && given.length !== list.length)
    throw new HttpError(400, `${given.length} rows and ${list.length} entities: send one entity object per row`, {
      problems: [{ field: 'entities', message: `expected ${given.length} objects` }],
    });
  const bad = given?.findIndex((r) => !isObject(r)) ?? -1;
  if (bad >= 0)
    throw new HttpError(400, `row ${bad} is not an object`, {
      problems: [{ field: 'rows', row: bad, message: 'expected an object' }],
    });
  return { rows: given ?? list.map(() => ({})), entities: list, ...(key === undefined ? {} : { key }) };
}

export function parseFeedbackBody(body: unknown): FeedbackBody {
  const parsed = feedbackBodySchema.safeParse(body);
  if (!parsed.success) {
    throw new HttpError(
      400,
      'the request body is not feedback: expected {"feedback": [{"predictionId": "...", "label": ...}, ...]}',
      { problems: problemsOf(parsed.error) }
    );
  }
  return parsed.data;
}

/** A client's JSON that parses but must go no further. */
export class RefusedJsonError extends Error {
  override readonly name = 'RefusedJsonError';
}

/** A NUL character, or a surrogate without its pair: valid in a JS string, refused by PostgreSQL and by UTF-8. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Parses a client's JSON (HTTP body or stream message), refusing a `__proto__` key (it would become an object's
 * prototype further in) and strings with a NUL character or a lone surrogate (no database or log can store them;
 * only \u escapes can carry either, so plain bodies skip the check). JSON syntax errors throw SyntaxError.
 */
export function parseClientJson(text: string): unknown {
  if (!text.includes('__proto__') && !text.includes('\\u')) return JSON.parse(text);
  return JSON.parse(text, (key, v: unknown) => {
    if (key === '__proto__') throw new RefusedJsonError('the key "__proto__" is not allowed');
    if (UNSTORABLE.test(key) || (typeof v === 'string' && UNSTORABLE.test(v)))
      throw new RefusedJsonError(
        `${JSON.stringify(key)} holds a NUL character or a lone surrogate (\\u0000, \\ud800…): not allowed`
      );
    return v;
  });
}

const MAX_LISTED = 100;
const MAX_MESSAGE = 4096;
const MAX_STRING = 512;

/** A string cut to `max` characters, saying how much was left out. */
const cut = (s: string, max: number) =>
  s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
const shorten = (v: unknown): unknown =>
  typeof v === 'string'
    ? cut(v, MAX_STRING)
    : Array.isArray(v)
      ? v.map(shorten)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shorten(x)]))
        : v;

/**
 * An error answer kept small whatever the request held (a body of thousands of unknown fields would otherwise echo
 * back as megabytes): the message cut to 4 KiB, lists to their first 100 entries (with `<list>Omitted` counting the
 * rest), echoed values to 512 characters. Stays under 64 KiB.
 */
export function boundedError(body: { error: string } & Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { error: cut(body.error, MAX_MESSAGE) };
  for (const [key, value] of Object.entries(body)) {
    if (key === 'error') continue;
    if (Array.isArray(value) && value.length > MAX_LISTED) {
      out[key] = value.slice(0, MAX_LISTED).map(shorten);
      out[`${key}Omitted`] = value.length - MAX_LISTED;
    } else out[key] = shorten(value);
  }
  return out;
}
