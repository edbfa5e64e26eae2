// Feature views (issue 17, first slice): features of an entity computed over time windows of its events, and the
// point-in-time join that puts them on labelled rows as of each row's time, never later.
import { z } from 'zod';
import { sha256 } from '../../artifacts/digest.js';
import { DURATION_PATTERN, durationMs } from '../../config/duration.js';
import { CairnError } from '../../errors.js';
import { canonicalJson } from '../../ml/canonical-json.js';
import { sourceOf } from '../../pipeline/step.js';
import type { Column, Table } from '../../data/table.js';

const duration = z.string().regex(DURATION_PATTERN, "expected a duration like '1h' or '30d'");
const name = z.string().regex(/^[a-z][a-z0-9_]*$/, 'expected a lower-case name (letters, digits, _)');

const windowFeature = z.strictObject({
  name,
  /** count: events in the window; mean, sum, last: of `column` over them. */
  aggregate: z.enum(['count', 'mean', 'sum', 'last']),
  /** The numeric column aggregated (not for count). */
  column: z.string().min(1).optional(),
  /** The window ending at each event, that event included: '1h', '24h', '7d'… */
  window: duration,
});

const featureViewSpec = z
  .strictObject({
    name,
    description: z.string().optional(),
    /** Where the events come from: a file (`npm:` paths too), an `s3://` prefix, a `postgres://` query, a URL. */
    source: z.strictObject({
      path: z.string().min(1),
      format: z.enum(['parquet', 'csv', 'json']).optional(),
      limit: z.number().int().positive().optional(),
      query: z.string().min(1).optional(),
    }),
    /** Derives the event table from the source table (a timestamp of when each event became known, say). */
    prepare: z.custom<(source: Table) => Table>((v) => typeof v === 'function', 'expected a function').optional(),
    /** The entity key: one or more columns of the source (string or number). */
    entities: z.array(z.string().min(1)).min(1),
    /**
     * When each event became known (a timestamp column): a feature value counts from then on. For a flight's delay,
     * its actual departure, not its schedule.
     */
    timestamp: z.string().min(1),
    /** How long a value stays valid: a row further than this after the entity's last event gets no value. */
    ttl: duration,
    features: z.array(windowFeature).min(1),
    /**
     * What a row with no valid value gets: a default per feature (0 when unnamed), or the row is refused. A feature
     * without a value at a valid event (a mean over no values) gets the default either way.
     */
    missing: z.enum(['default', 'error']).default('default'),
    defaults: z.record(z.string(), z.number()).default({}),
  })
  .superRefine((spec, ctx) => {
    for (const [i, f] of spec.features.entries()) {
      if (f.aggregate !== 'count' && !f.column)
        ctx.addIssue({ code: 'custom', path: ['features', i, 'column'], message: `${f.aggregate} needs a column` });
    }
    const names = spec.features.map((f) => f.name);
    for (const dup of names.filter((n, i) => names.indexOf(n) !== i))
      ctx.addIssue({ code: 'custom', path: ['features'], message: `feature ${dup} is defined twice` });
  });

export type FeatureViewSpec = z.input<typeof featureViewSpec>;
export type FeatureView = z.output<typeof featureViewSpec> & {
  /** sha256 of the canonical definition and of `prepare`'s code: a changed window, TTL, key or code is a new version. */
  digest: string;
  ttlMs: number;
};

/** What reading a view's stored rows needs of it: its name, entity columns and feature names. */
export type ViewShape = Pick<FeatureView, 'name' | 'entities'> & { features: readonly { name: string }[] };

export class FeatureViewError extends CairnError {
  override readonly name = 'FeatureViewError';
  readonly type = 'FeatureViewError';
}

/** A feature view, checked: the errors name the view and the field. */
export function defineFeatureView(spec: FeatureViewSpec): FeatureView {
  const parsed = featureViewSpec.safeParse(spec);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'view'}: ${i.message}`);
    throw new FeatureViewError(`feature view ${spec.name ?? '?'}: ${problems.join('; ')}`);
  }
  const view = parsed.data;
  const { prepare, description: _description, ...definition } = view;
  const digest = sha256(canonicalJson({ ...definition, prepare: prepare ? sourceOf(prepare) : null }));
  return { ...view, ttlMs: durationMs(view.ttl), digest };
}

const KEY_SEPARATOR = '\u0000';

/** A column's values as codes per row (-1 missing) and the key text of each code. */
function codesOf(column: Column): { codes: Int32Array; text: string[] } {
  if (column.type === 'string') return { codes: column.codes, text: column.dictionary };
  const codes = new Int32Array(column.values.length);
  const byValue = new Map<number, number>();
  const text: string[] = [];
  for (let i = 0; i < codes.length; i++) {
    if (column.missing[i]) {
      codes[i] = -1;
      continue;
    }
    const v = column.values[i]!;
    let code = byValue.get(v);
    if (code === undefined) {
      byValue.set(v, (code = text.length));
      text.push(String(v));
    }
    codes[i] = code;
  }
  return { codes, text };
}

/**
 * Entity keys as dense integer ids, the same id for the same key in any table (through the shared map). The key
 * text is made once per distinct combination of the columns' codes, not once per row.
 */
function entityIds(table: Table, columns: string[], ids: Map<string, number>, what: string): Int32Array {
  const coded = columns.map((c) => {
    const column = table.columns[c];
    if (!column) throw new FeatureViewError(`${what} has no entity column ${c}`);
    return codesOf(column);
  });
  const n = table.rowCount;
  const out = new Int32Array(n);
  // Each row's codes combined into one number (mixed radix), exact while the product of the sizes stays an integer.
  const radix = coded.map((c) => c.text.length + 1);
  const exact = radix.reduce((a, b) => a * b, 1) <= Number.MAX_SAFE_INTEGER;
  const seen = new Map<number | string, number>();
  for (let row = 0; row < n; row++) {
    let combined: number | string = 0;
    let missing = false;
    for (let k = 0; k < coded.length; k++) {
      const code = coded[k]!.codes[row]!;
      if (code < 0) missing = true;
      combined = exact ? (combined as number) * radix[k]! + code : `${combined as string}${KEY_SEPARATOR}${code}`;
    }
    if (missing) {
      out[row] = -1;
      continue;
    }
    let id = seen.get(combined);
    if (id === undefined) {
      const key = coded.map((c) => c.text[c.codes[row]!]!).join(KEY_SEPARATOR);
      id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      seen.set(combined, id);
    }
    out[row] = id;
  }
  return out;
}

function timestamps(table: Table, column: string, what: string): Float64Array {
  const c = table.columns[column];
  if (!c || c.type !== 'timestamp') throw new FeatureViewError(`${what}: ${column} is not a timestamp column`);
  const out = Float64Array.from(c.values);
  for (let i = 0; i < out.length; i++) if (c.missing[i]) out[i] = NaN;
  return out;
}

/**
 * Row indices ordered by (entity, time, row); rows without a key or a time are left out. A counting sort by entity
 * (ids are dense), then each entity's rows by time where they are not in time order already.
 */
function order(ids: Int32Array, times: Float64Array): Uint32Array {
  let entities = 0;
  let kept = 0;
  for (let i = 0; i < ids.length; i++)
    if (ids[i]! >= 0 && !Number.isNaN(times[i]!)) {
      entities = Math.max(entities, ids[i]! + 1);
      kept++;
    }
  const start = new Int32Array(entities + 1);
  for (let i = 0; i < ids.length; i++) if (ids[i]! >= 0 && !Number.isNaN(times[i]!)) start[ids[i]! + 1]!++;
  for (let e = 0; e < entities; e++) start[e + 1]! += start[e]!;
  const next = start.slice(0, entities);
  const rows = new Uint32Array(kept);
  for (let i = 0; i < ids.length; i++) if (ids[i]! >= 0 && !Number.isNaN(times[i]!)) rows[next[ids[i]!]!++] = i;
  for (let e = 0; e < entities; e++) {
    const from = start[e]!;
    const to = start[e + 1]!;
    let sorted = true;
    for (let i = from + 1; i < to && sorted; i++) sorted = times[rows[i - 1]!]! <= times[rows[i]!]!;
    if (!sorted) rows.subarray(from, to).sort((a, b) => times[a]! - times[b]! || a - b);
  }
  return rows;
}

/** `values[rows[i]]` for each i, NaN where `missing` marks the row. */
function gather(values: Float64Array, rows: Uint32Array, missing?: Uint8Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = missing?.[rows[i]!] ? NaN : values[rows[i]!]!;
  return out;
}

function gatherIds(ids: Int32Array, rows: Uint32Array): Int32Array {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = ids[rows[i]!]!;
  return out;
}

/** The view's features at each event: entity ids, event times and one Float64Array per feature, by (entity, time). */
export interface FeatureRows {
  entity: Int32Array;
  time: Float64Array;
  values: Record<string, Float64Array>;
}

/**
 * Computes the view's window features at every event of `source`: for an event of entity k at time t, each
 * feature aggregates k's events in (t - window, t]. Sliding windows over the events in (entity, time) order.
 */
export function computeFeatures(view: FeatureView, source: Table, ids = new Map<string, number>()): FeatureRows {
  const what = `feature view ${view.name}`;
  const entity = entityIds(source, view.entities, ids, what);
  const time = timestamps(source, view.timestamp, what);
  const rows = order(entity, time);
  const n = rows.length;
  const out: FeatureRows = { entity: gatherIds(entity, rows), time: gather(time, rows), values: {} };
  for (const f of view.features) {
    const column = f.column === undefined ? undefined : source.columns[f.column];
    if (f.column !== undefined && column?.type !== 'number')
      throw new FeatureViewError(`${what}: feature ${f.name} needs the number column ${f.column}`);
    const value = (r: number) => (column && column.type === 'number' && !column.missing[r] ? column.values[r]! : NaN);
    const windowMs = durationMs(f.window);
    const values = new Float64Array(n);
    // The window's start moves forward with the event; count and sum of present values go in and out with it.
    let start = 0;
    let count = 0;
    let present = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0 && out.entity[i] !== out.entity[i - 1]) {
        start = i;
        count = present = sum = 0;
      }
      const v = value(rows[i]!);
      count++;
      if (!Number.isNaN(v)) {
        present++;
        sum += v;
      }
      while (out.time[start]! <= out.time[i]! - windowMs) {
        const old = value(rows[start]!);
        count--;
        if (!Number.isNaN(old)) {
          present--;
          sum -= old;
        }
        start++;
      }
      values[i] =
        f.aggregate === 'count'
          ? count
          : f.aggregate === 'sum'
            ? sum
            : f.aggregate === 'mean'
              ? present
                ? sum / present
                : NaN
              : v;
    }
    out.values[f.name] = values;
  }
  return out;
}

/** The column of a snapshot part that holds each row's event time. */
export const EVENT_TIME = 'event_time';

/**
 * Feature rows read back from stored parts (entity columns as strings, `event_time`, one number column per
 * feature), in (entity, time) order, with entity ids from the shared map.
 */
export function featureRowsOf(view: ViewShape, table: Table, ids: Map<string, number>): FeatureRows {
  const what = `feature view ${view.name} snapshot`;
  const entity = entityIds(table, view.entities, ids, what);
  const time = timestamps(table, EVENT_TIME, what);
  const rows = order(entity, time);
  const values: Record<string, Float64Array> = {};
  for (const f of view.features) {
    const column = table.columns[f.name];
    if (column?.type !== 'number') throw new FeatureViewError(`${what} has no number column ${f.name}`);
    values[f.name] = gather(column.values, rows, column.missing);
  }
  return { entity: gatherIds(entity, rows), time: gather(time, rows), values };
}

/** The entity key's parts (one per entity column) of each id in the map, by id. */
export function entityKeys(ids: Map<string, number>): string[][] {
  const keys: string[][] = new Array(ids.size);
  for (const [key, id] of ids) keys[id] = key.split(KEY_SEPARATOR);
  return keys;
}

/** The label rows' features: per feature a column, and which rows had no valid value (filled by the view's policy). */
export interface JoinedFeatures {
  values: Record<string, Float64Array>;
  /** 1 where the row's entity had no event at or before its time within the TTL. */
  missing: Uint8Array;
  /** The event time each row's values come from (NaN when missing): never after the row's own time. */
  asOf: Float64Array;
}

/**
 * The point-in-time join: for each label row (entity, time t), the features of its entity's latest event at or
 * before t, if that event is no older than the TTL; never a later one. A sort-merge over both sides in (entity,
 * time) order: memory is the two tables' typed arrays and one index per row.
 */
export function pointInTimeJoin(
  view: FeatureView,
  features: FeatureRows,
  labels: Table,
  labelTime: string,
  ids: Map<string, number>
): JoinedFeatures {
  const what = `labels for feature view ${view.name}`;
  const entity = entityIds(labels, view.entities, ids, what);
  const time = timestamps(labels, labelTime, what);
  const rows = order(entity, time);
  const n = labels.rowCount;
  const source = new Int32Array(n).fill(-1);
  let f = 0;
  for (const r of rows) {
    const k = entity[r]!;
    const t = time[r]!;
    // Features are in (entity, time) order: move to the last event of k at or before t.
    while (
      f < features.entity.length &&
      (features.entity[f]! < k || (features.entity[f] === k && features.time[f]! <= t))
    )
      f++;
    const candidate = f - 1;
    if (candidate >= 0 && features.entity[candidate] === k && t - features.time[candidate]! <= view.ttlMs)
      source[r] = candidate;
  }
  const missing = new Uint8Array(n);
  const asOf = new Float64Array(n).fill(NaN);
  const values: Record<string, Float64Array> = {};
  for (const feature of view.features) {
    const from = features.values[feature.name]!;
    const fill = view.defaults[feature.name] ?? 0;
    const column = new Float64Array(n);
    // A value that is not a number (the mean of a window without values) is filled like a missing one.
    for (let r = 0; r < n; r++) {
      const v = source[r]! >= 0 ? from[source[r]!]! : NaN;
      column[r] = Number.isNaN(v) ? fill : v;
    }
    values[feature.name] = column;
  }
  for (let r = 0; r < n; r++) {
    if (source[r]! < 0) missing[r] = 1;
    else asOf[r] = features.time[source[r]!]!;
  }
  if (view.missing === 'error') {
    const first = missing.indexOf(1);
    if (first >= 0)
      throw new FeatureViewError(
        `${what}: row ${first} has no value of ${view.name} within its TTL ${view.ttl} (missing: 'error')`
      );
  }
  return { values, missing, asOf };
}
