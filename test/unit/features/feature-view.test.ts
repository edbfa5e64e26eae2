import { describe, expect, it } from 'vitest';
import { tableFromRows } from '../../../lib/data/read-json.js';
import {
  computeFeatures,
  defineFeatureView,
  FeatureViewError,
  pointInTimeJoin,
} from '../../../lib/features/store/view.js';
import type { FeatureViewSpec } from '../../../lib/features/store/view.js';

const at = (hhmm: string) => `2001-01-01T${hhmm}:00Z`;
const table = (rows: Record<string, unknown>[], times: string[]) =>
  tableFromRows(rows, 'test', { expectedTypes: Object.fromEntries(times.map((t) => [t, 'timestamp'])) });

/** Flights whose delays became known at `known`: two airports, out of order on purpose. */
const EVENTS = table(
  [
    { origin: 'SFO', known: at('10:00'), delay: 10 },
    { origin: 'LAX', known: at('10:30'), delay: 100 },
    { origin: 'SFO', known: at('10:40'), delay: 20 },
    { origin: 'SFO', known: at('11:10'), delay: 60 },
    { origin: 'SFO', known: at('09:00'), delay: null },
    { origin: 'LAX', known: at('13:00'), delay: 0 },
  ],
  ['known']
);

const SPEC: FeatureViewSpec = {
  name: 'origin_delays',
  source: { path: 'events.csv' },
  entities: ['origin'],
  timestamp: 'known',
  ttl: '2h',
  features: [
    { name: 'delay_mean_1h', aggregate: 'mean', column: 'delay', window: '1h' },
    { name: 'flights_1h', aggregate: 'count', window: '1h' },
    { name: 'last_delay', aggregate: 'last', column: 'delay', window: '1h' },
  ],
  defaults: { delay_mean_1h: -1 },
};
const view = defineFeatureView(SPEC);

describe('feature views', () => {
  it('computes window features at each event from the events of (t - window, t], by hand', () => {
    const ids = new Map<string, number>();
    const rows = computeFeatures(view, EVENTS, ids);
    // In (entity, time) order: SFO 09:00, 10:00, 10:40, 11:10; LAX 10:30, 13:00.
    expect(Array.from(rows.time, (t) => new Date(t).toISOString().slice(11, 16))).toEqual([
      '09:00',
      '10:00',
      '10:40',
      '11:10',
      '10:30',
      '13:00',
    ]);
    // SFO 10:00: the window (09:00, 10:00] holds only 10:00 (09:00 is exactly an hour before: out).
    // SFO 10:40: (09:40, 10:40] → 10 and 20; SFO 11:10: (10:10, 11:10] → 20 and 60. 09:00's delay is missing.
    expect(Array.from(rows.values.delay_mean_1h!)).toEqual([NaN, 10, 15, 40, 100, 0]);
    expect(Array.from(rows.values.flights_1h!)).toEqual([1, 1, 2, 2, 1, 1]);
    expect(Array.from(rows.values.last_delay!)).toEqual([NaN, 10, 20, 60, 100, 0]);
  });

  it('joins labels as of their time: the latest event at or before it, within the TTL, never a later one', () => {
    const ids = new Map<string, number>();
    const rows = computeFeatures(view, EVENTS, ids);
    const labels = table(
      [
        { origin: 'SFO', departs: at('10:39') }, // after 10:00, before 10:40: 10:00's values
        { origin: 'SFO', departs: at('10:40') }, // exactly at an event: that event counts
        { origin: 'SFO', departs: at('08:59') }, // before any event: nothing
        { origin: 'SFO', departs: at('13:10') }, // 11:10 is exactly 2 h before: within the TTL
        { origin: 'SFO', departs: at('13:11') }, // 11:10 is older than the TTL: nothing
        { origin: 'LAX', departs: at('12:59') }, // 10:30 is 2h29 old: stale
        { origin: 'JFK', departs: at('12:00') }, // an airport with no event at all
        { origin: 'LAX', departs: at('13:00') },
      ],
      ['departs']
    );
    const joined = pointInTimeJoin(view, rows, labels, 'departs', ids);
    expect(Array.from(joined.values.delay_mean_1h!)).toEqual([10, 15, -1, 40, -1, -1, -1, 0]);
    expect(Array.from(joined.values.flights_1h!)).toEqual([1, 2, 0, 2, 0, 0, 0, 1]);
    expect(Array.from(joined.missing)).toEqual([0, 0, 1, 0, 1, 1, 1, 0]);
    // No row ever sees an event after its own time.
    for (let r = 0; r < labels.rowCount; r++) {
      const t = (labels.columns.departs as { values: Float64Array }).values[r]!;
      if (!joined.missing[r]) expect(joined.asOf[r]!).toBeLessThanOrEqual(t);
    }
  });

  it("refuses a row without a value when the view's policy is 'error', naming the row", () => {
    const strict = defineFeatureView({ ...SPEC, missing: 'error' });
    const ids = new Map<string, number>();
    const rows = computeFeatures(strict, EVENTS, ids);
    const labels = table(
      [
        { origin: 'SFO', departs: at('10:05') },
        { origin: 'JFK', departs: at('10:05') },
      ],
      ['departs']
    );
    expect(() => pointInTimeJoin(strict, rows, labels, 'departs', ids)).toThrow(
      /row 1 has no value of origin_delays within its TTL 2h/
    );
  });

  it('versions a view by its definition, and names what is wrong with one', () => {
    expect(view.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(defineFeatureView({ ...SPEC, ttl: '3h' }).digest).not.toBe(view.digest);
    expect(defineFeatureView(structuredClone(SPEC)).digest).toBe(view.digest);
    // The code that derives the events is part of the version; a description is not.
    expect(defineFeatureView({ ...SPEC, prepare: (t) => t }).digest).not.toBe(view.digest);
    expect(defineFeatureView({ ...SPEC, description: 'delays' }).digest).toBe(view.digest);
    expect(() => defineFeatureView({ ...SPEC, features: [{ name: 'bad', aggregate: 'mean', window: '1h' }] })).toThrow(
      new FeatureViewError('feature view origin_delays: features.0.column: mean needs a column')
    );
    expect(() => defineFeatureView({ ...SPEC, ttl: 'forever' })).toThrow(/ttl: expected a duration/);
  });
});
